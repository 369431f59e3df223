//! A scenario as a user asks for it: a built-in or file, optionally replaying traces, rescaled,
//! stretched or cut short. One loader for every front end (the `serflow` flags, the Python keyword
//! arguments), so both accept and reject the same things with the same message.

use super::{Horizon, Scenario, load_config};
use crate::ScenarioError;
use crate::workload::WorkloadConfig;
use std::sync::Arc;

/// Scenarios labelled with the trace each replays (`None`: the scenario's own workload).
pub type PerTrace = Vec<(Option<String>, Arc<Scenario>)>;

/// What to simulate, before it is loaded.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioOptions {
    /// A built-in scenario (`default`, `production`, `libra-wits`) or a scenario file (.ron).
    pub scenario: String,
    /// Traces to replay instead of the scenario's workload (paths relative to the working
    /// directory); several make one workload that draws a trace per episode.
    pub traces: Vec<String>,
    /// Multiplies a trace's rate (instead of rescaling it to the scenario's nominal mean).
    pub trace_scale: Option<f64>,
    /// Stretches trace time.
    pub time_scale: f64,
    /// Episode length in simulated seconds (default: the scenario's horizon, or the whole trace).
    pub duration: Option<f64>,
}

impl Default for ScenarioOptions {
    fn default() -> Self {
        Self {
            scenario: "default".into(),
            traces: Vec::new(),
            trace_scale: None,
            time_scale: 1.0,
            duration: None,
        }
    }
}

impl ScenarioOptions {
    /// The scenario named `scenario`, as configured.
    pub fn named(scenario: &str) -> Self {
        Self { scenario: scenario.into(), ..Self::default() }
    }

    /// Loads the scenario with the options applied and validates it. An error about a field an
    /// option set names that option as `option_name` spells it (`duration`, `trace_scale`,
    /// `time_scale`): `--duration` on the command line, `duration=` in Python.
    pub fn load(&self, option_name: &dyn Fn(&str) -> String) -> Result<Arc<Scenario>, ScenarioError> {
        self.load_with(&self.traces, option_name)
    }

    /// One scenario per trace (labelled with the trace), or the scenario alone when no trace is
    /// given: what reports per trace run.
    pub fn load_each(&self, option_name: &dyn Fn(&str) -> String) -> Result<PerTrace, ScenarioError> {
        if self.traces.is_empty() {
            return Ok(vec![(None, self.load(option_name)?)]);
        }
        self.traces
            .iter()
            .map(|t| Ok((Some(t.clone()), self.load_with(std::slice::from_ref(t), option_name)?)))
            .collect()
    }

    fn load_with(
        &self,
        traces: &[String],
        option_name: &dyn Fn(&str) -> String,
    ) -> Result<Arc<Scenario>, ScenarioError> {
        let (mut config, source, mut base) = load_config(&self.scenario).map_err(|mut e| {
            if e.field == "--scenario" {
                e.field = option_name("scenario"); // an unknown name
            }
            e
        })?;
        if !traces.is_empty() {
            // A trace given by the user is relative to the working directory.
            config.use_traces(traces, self.trace_scale, self.time_scale, false);
            base = ".".into();
        } else if self.trace_scale.is_some() || self.time_scale != 1.0 {
            match &mut config.workload {
                WorkloadConfig::Trace { rate_scale, time_scale, .. } => {
                    *rate_scale = self.trace_scale.unwrap_or(*rate_scale);
                    *time_scale *= self.time_scale;
                }
                _ => {
                    let options = format!("{}/{}", option_name("trace_scale"), option_name("time_scale"));
                    return Err(ScenarioError::new(
                        &source,
                        "workload",
                        format!("{options}: the scenario's workload is not one trace (give a trace)"),
                    ));
                }
            }
        }
        let horizon = match (self.duration, traces.is_empty()) {
            (Some(d), _) => {
                config.horizon_s = d;
                Horizon::AsConfigured
            }
            (None, false) => Horizon::WholeTrace,
            (None, true) => Horizon::AsConfigured,
        };
        let scenario = Scenario::from_config(config, &source, &base, horizon).map_err(|mut e| {
            // Name the option that set the field, when one did.
            let option = match e.field.as_str() {
                "horizon_s" if self.duration.is_some() => Some("duration"),
                "workload.rate_scale" if self.trace_scale.is_some() => Some("trace_scale"),
                "workload.time_scale" if self.time_scale != 1.0 => Some("time_scale"),
                _ => None,
            };
            if let Some(option) = option {
                e.field = format!("{} (set by {})", e.field, option_name(option));
            }
            e
        })?;
        Ok(Arc::new(scenario))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn python(name: &str) -> String {
        name.to_string()
    }

    #[test]
    fn an_error_names_the_option_that_set_the_field() {
        let options = ScenarioOptions { duration: Some(-5.0), ..ScenarioOptions::named("default") };
        let e = options.load(&python).unwrap_err();
        assert_eq!(e.field, "horizon_s (set by duration)");
        let flag = |name: &str| format!("--{}", name.replace('_', "-"));
        let e = ScenarioOptions { trace_scale: Some(2.0), ..ScenarioOptions::named("default") }
            .load(&flag)
            .unwrap_err();
        assert!(e.reason.starts_with("--trace-scale/--time-scale:"), "{e}");
        let e = ScenarioOptions::named("nope").load(&python).unwrap_err();
        assert_eq!((e.field.as_str(), e.reason.starts_with("unknown scenario `nope`")), ("scenario", true));
    }

    #[test]
    fn a_trace_too_short_for_the_episode_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("serflow-short-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("three-seconds.txt");
        std::fs::write(&path, "5\n6\n7\n").unwrap();
        let trace = path.display().to_string();
        let options = ScenarioOptions { traces: vec![trace.clone()], ..ScenarioOptions::named("default") };
        let e = options.load(&python).unwrap_err();
        assert_eq!(e.field, "workload");
        assert!(e.reason.starts_with(&format!("trace {trace} covers 3 s")), "{e}");
        assert!(e.reason.contains("less than one control interval (10 s)"), "{e}");
        // A duration longer than the trace names it too.
        let e = ScenarioOptions { duration: Some(20.0), ..options }.load(&python).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(e.field, "horizon_s (set by duration)");
        assert!(e.reason.starts_with(&format!("20 s exceeds the 3 s trace {trace} covers")), "{e}");
    }

    #[test]
    fn a_duration_cuts_the_episode() {
        let options = ScenarioOptions { duration: Some(600.0), ..ScenarioOptions::named("default") };
        let scenario = options.load(&python).unwrap();
        assert_eq!(scenario.config.horizon_s, 600.0);
        assert_eq!(options.load_each(&python).unwrap().len(), 1);
    }
}
