//! Command-line interface. Clap types here are the low-level arguments (parsed and range-checked
//! only); each subcommand turns them into a plan (scenario loaded and validated, paths resolved,
//! seeds fixed) with one fallible function, then runs it.
//!
//! The doc comments of the argument types are the `--help` text, where `<NAME>` is a placeholder
//! for the user to fill, as clap writes its own, not an HTML tag.
#![allow(rustdoc::invalid_html_tags)]

mod compare;
mod eval;
mod export;
pub mod fit_planner;
mod plot;
mod simulate;
mod train;
mod tune;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use serflow_env::registry::PolicyRegistry;
use serflow_env::{Scenario, ScenarioOptions};
use std::sync::Arc;

/// serflow: learn and ship autoscaling policies for early-exit ML inference on VMs and FaaS.
#[derive(Parser, Debug)]
#[command(name = "serflow", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one policy through one episode of a scenario and report cost, latency and SLO.
    Simulate(simulate::SimulateArgs),
    /// Run several policies over the same seeds and compare cost, SLO and the hindsight floor.
    Compare(compare::CompareArgs),
    /// Train a PPO policy (TensorBoard curves, resumable checkpoints).
    Train(train::TrainArgs),
    /// Fit a learned-forecast planner's forecaster and write the planner file.
    FitPlanner(fit_planner::FitPlannerArgs),
    /// Write a checkpoint's policy as a backend-free policy file.
    Export(export::ExportArgs),
    /// Evaluate one policy over several episodes, with per-interval timelines (TensorBoard, CSV).
    Eval(eval::EvalArgs),
    /// Calibrate static-best, tuned-hpa, predictive-hpa and serflow-tuned on training seeds.
    Tune(tune::TuneArgs),
}

/// Which scenario and workload to simulate; shared by every subcommand that simulates.
#[derive(Args, Debug, Clone)]
pub struct ScenarioArgs {
    /// A built-in scenario (default, production, libra-wits) or a scenario file (.ron).
    #[arg(long, default_value = "default")]
    pub scenario: String,
    /// Replay this trace instead of the scenario's workload: per-second counts (one integer per
    /// line) or a CSV with a TIMESTAMP column (.csv; a ContextTokens column, if any, is the
    /// size). Repeat (or separate by commas) for several. On a scenario with a nominal mean rate
    /// (production) the trace is rescaled to that mean.
    #[arg(long, value_name = "FILE", value_delimiter = ',')]
    pub trace: Vec<String>,
    /// Multiply the trace's arrival rate by X (instead of rescaling it to the nominal mean).
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub trace_scale: Option<f64>,
    /// Stretch trace time by X (0.1 replays ten trace seconds per simulated second); the mean rate
    /// is kept when the trace is rescaled to the nominal mean.
    #[arg(long, value_name = "X", default_value_t = 1.0, allow_negative_numbers = true)]
    pub time_scale: f64,
    /// Episode length in simulated seconds (default: the scenario's horizon, or the whole trace).
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    pub duration: Option<f64>,
    /// The calibration static-best, tuned-hpa, predictive-hpa and serflow-tuned use (written by
    /// `serflow tune`; default: the one shipped for the scenario, if any).
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<std::path::PathBuf>,
}

impl ScenarioArgs {
    /// The flags that chose the scenario, as a command line spells them (`--scenario default
    /// --duration 1200`): what a written file says it was made from.
    pub fn flags(&self) -> String {
        let mut flags = format!("--scenario {}", self.scenario);
        if !self.trace.is_empty() {
            flags += &format!(" --trace {}", self.trace.join(","));
        }
        if let Some(x) = self.trace_scale {
            flags += &format!(" --trace-scale {x}");
        }
        if self.time_scale != 1.0 {
            flags += &format!(" --time-scale {}", self.time_scale);
        }
        if let Some(s) = self.duration {
            flags += &format!(" --duration {s}");
        }
        flags
    }

    /// Loads the scenario with the overrides applied and validates it; several traces make one
    /// workload that draws a trace per episode.
    pub fn load(&self) -> Result<Arc<Scenario>> {
        let scenario = self.options().load(&flag)?;
        note_scenario(&scenario);
        Ok(scenario)
    }

    /// One scenario per trace (labelled with the trace), or the scenario alone without `--trace`:
    /// what commands that report per trace run.
    pub fn load_each(&self) -> Result<Vec<(Option<String>, Arc<Scenario>)>> {
        let scenarios = self.options().load_each(&flag)?;
        scenarios.iter().for_each(|(_, scenario)| note_scenario(scenario));
        Ok(scenarios)
    }

    /// The policies of `scenario`, with `--calibration` when given.
    pub fn registry<'a>(&self, scenario: &'a Arc<Scenario>) -> Result<PolicyRegistry<'a>> {
        let registry = PolicyRegistry::new(scenario);
        Ok(match &self.calibration {
            Some(path) => registry.with_calibration(path)?,
            None => registry,
        })
    }

    fn options(&self) -> ScenarioOptions {
        ScenarioOptions {
            scenario: self.scenario.clone(),
            traces: self.trace.clone(),
            trace_scale: self.trace_scale,
            time_scale: self.time_scale,
            duration: self.duration,
        }
    }
}

/// Rejects any of `names` that cannot be built on the registry's scenario before any work, and says
/// once per run what a user should know before trusting one (`learned` trained elsewhere).
fn check_policies<'a>(
    registry: &PolicyRegistry<'_>,
    names: impl IntoIterator<Item = &'a String>,
) -> Result<()> {
    let names: Vec<&str> = names.into_iter().map(String::as_str).collect();
    registry.check_all(names.iter().copied())?;
    names.iter().filter_map(|name| registry.caveat(name)).for_each(say_once);
    Ok(())
}

/// Says on stderr what a user should know about `scenario`'s system, once per run.
pub fn note_scenario(scenario: &Scenario) {
    if let Some(note) = scenario.note() {
        say_once(note);
    }
}

/// Prints `note` on stderr unless this run has already said it.
fn say_once(note: String) {
    static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut said = SAID.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !said.contains(&note) {
        eprintln!("{note}");
        said.push(note);
    }
}

/// The command-line flag of a [`ScenarioOptions`] field (`trace_scale` -> `--trace-scale`).
fn flag(option: &str) -> String {
    format!("--{}", option.replace('_', "-"))
}

/// Parses arguments and runs; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            let rendered = e.to_string();
            let first = rendered.lines().next().unwrap_or("error: invalid arguments");
            eprintln!("{first} (see --help)");
            return 2;
        }
    };
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Simulate(args) => simulate::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Train(args) => train::run(args),
        Command::FitPlanner(args) => fit_planner::run(args),
        Command::Export(args) => export::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Tune(args) => tune::run(args),
    }
}

/// Seeds `first..first + count` for a command's `--first-seed` and `count_flag`.
pub fn seed_range(first: u64, count: u64, count_flag: &str) -> anyhow::Result<Vec<u64>> {
    serflow_env::seeds::seed_range(first, count, "--first-seed", count_flag).map_err(anyhow::Error::msg)
}

/// A progress bar on stderr drawn with `template` (hidden when stderr is not a terminal).
pub fn progress_bar(template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template(template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// A progress bar on stderr over `len` simulated intervals (hidden when stderr is not a terminal).
pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = progress_bar("{msg} [{bar:30}] {pos}/{len} intervals ({per_sec}, eta {eta})");
    bar.set_length(len);
    bar.set_message(what.to_string());
    bar
}

/// A file-system-safe name from a policy or scenario given by name or path: the file stem, with
/// anything but ASCII letters, digits and `-` replaced by `_`.
pub fn file_safe_name(name_or_path: &str) -> String {
    let stem =
        std::path::Path::new(name_or_path).file_stem().and_then(|s| s.to_str()).unwrap_or(name_or_path);
    stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::file_safe_name;

    #[test]
    fn names_from_paths_are_file_system_safe() {
        assert_eq!(file_safe_name("default"), "default");
        assert_eq!(file_safe_name("vm-only"), "vm-only");
        assert_eq!(file_safe_name("/tmp/my scenario.ron"), "my_scenario");
    }
}
