//! Where requests come from: Poisson processes with a rate function, MMPP, trace replay, and
//! mixtures of them (a workload *distribution*: each episode draws one component and its scale).
//!
//! A [`WorkloadConfig`] is what a scenario says; [`LoadedWorkload`] holds parsed traces (shared by
//! every environment); [`ArrivalSource`] generates one episode's arrivals in time order, lazily, so a
//! 6-million-request trace never sits in the event queue at once.

mod poisson;
mod trace;

pub use poisson::{BurstConfig, RateFn};
pub use trace::{TraceData, TraceFormat, parse_counts, parse_csv};

use crate::engine::SimTime;
use crate::error::{Checker, ScenarioError};
use crate::rng::SimRng;
use poisson::{MmppSource, PoissonSource};
use serde::{Deserialize, Serialize};
use std::path::Path;
use trace::TraceSource;

/// A workload as written in a scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum WorkloadConfig {
    /// Non-homogeneous Poisson arrivals with rate `rate(t)` req/s, optionally multiplied during bursts.
    Poisson {
        /// The rate function.
        rate: RateFn,
        /// Random bursts on top of it.
        #[serde(default)]
        bursts: Option<BurstConfig>,
    },
    /// Markov-modulated Poisson process: state i has rate `rates[i]` and lasts
    /// Exp(`mean_sojourn_s[i]`); on leaving, the next state is drawn uniformly among the others.
    Mmpp {
        /// Arrival rate per state, req/s.
        rates: Vec<f64>,
        /// Mean time in each state, seconds.
        mean_sojourn_s: Vec<f64>,
    },
    /// Replay of a trace file.
    Trace {
        /// Path, relative to the scenario file (for built-ins: to the trace directories of
        /// [`crate::scenario::trace_dirs`]).
        path: String,
        /// How the file is laid out.
        format: TraceFormat,
        /// Multiplies the arrival rate (counts are scaled with random rounding; timestamped requests
        /// are thinned, or replicated with the copies spread uniformly over the gap to the next
        /// request, never stacked on one instant).
        #[serde(default = "one")]
        rate_scale: f64,
        /// Stretches trace time: trace second n covers simulated `[n, n+1) x time_scale`.
        #[serde(default = "one")]
        time_scale: f64,
        /// Trace time (seconds) where episodes start.
        #[serde(default)]
        start_s: f64,
        /// Start each episode at a random whole second between `start_s` and the last start that still
        /// fits the horizon, drawn from the episode seed (for training on varied windows).
        #[serde(default)]
        random_offset: bool,
        /// Rescale the trace to this mean arrival rate (req/s of simulated time, averaged over the
        /// whole file) instead of giving `rate_scale`: any trace then runs at the scenario's scale.
        #[serde(default)]
        mean_rate: Option<f64>,
    },
    /// A workload distribution: every episode draws one component (by weight), a rate multiplier
    /// and a time multiplier, all from the episode's seed. Traces start at a random offset and
    /// diurnal curves at a random phase. Components cannot be mixtures themselves.
    Mixture {
        /// The workloads an episode may replay.
        components: Vec<MixtureComponent>,
        /// Per-episode multiplier of the arrival rate, uniform in `(low, high)`.
        #[serde(default = "unit_range")]
        rate_scale: (f64, f64),
        /// Per-episode multiplier of time, uniform in `(low, high)`: a trace's `time_scale`
        /// (keeping its mean rate), a diurnal period, MMPP sojourns.
        #[serde(default = "unit_range")]
        time_scale: (f64, f64),
    },
}

/// One workload of a [`WorkloadConfig::Mixture`] and how often episodes draw it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Component")]
pub struct MixtureComponent {
    /// Relative probability (need not sum to 1).
    pub weight: f64,
    /// The workload.
    pub workload: WorkloadConfig,
}

fn unit_range() -> (f64, f64) {
    (1.0, 1.0)
}

fn one() -> f64 {
    1.0
}

impl WorkloadConfig {
    /// A trace workload for `path`, its format guessed from the extension (`.csv`: timestamped
    /// requests, sized by a `ContextTokens` column when there is one; anything else: per-second
    /// counts), replayed at `rate_scale` times its rate, or rescaled to `mean_rate` when given.
    pub fn trace(path: &str, rate_scale: f64, mean_rate: Option<f64>, time_scale: f64) -> Self {
        let format = if path.ends_with(".csv") {
            TraceFormat::Csv { size_column: Some("ContextTokens".into()), size_column_optional: true }
        } else {
            TraceFormat::Counts
        };
        Self::Trace {
            path: path.into(),
            format,
            rate_scale,
            time_scale,
            start_s: 0.0,
            random_offset: false,
            mean_rate,
        }
    }

    /// A short name for reports: a trace file's stem, else the shape (`constant`, `diurnal`,
    /// `steps`, `mmpp`, `mixture`).
    pub fn kind(&self) -> String {
        match self {
            Self::Trace { path, .. } => {
                Path::new(path).file_stem().map_or_else(|| path.clone(), |s| s.to_string_lossy().into_owned())
            }
            Self::Poisson { rate, .. } => rate.kind().to_string(),
            Self::Mmpp { .. } => "mmpp".into(),
            Self::Mixture { .. } => "mixture".into(),
        }
    }

    /// The trace files this workload replays (relative as written).
    pub fn trace_paths(&self) -> Vec<&str> {
        match self {
            Self::Trace { path, .. } => vec![path.as_str()],
            Self::Mixture { components, .. } => {
                components.iter().flat_map(|c| c.workload.trace_paths()).collect()
            }
            _ => Vec::new(),
        }
    }

    pub(crate) fn validate(&self, c: &Checker<'_>) -> Result<(), ScenarioError> {
        match self {
            Self::Poisson { rate, bursts } => {
                rate.validate(c, "workload.rate")?;
                if let Some(b) = bursts {
                    b.validate(c, "workload.bursts")?;
                }
                Ok(())
            }
            Self::Mmpp { rates, mean_sojourn_s } => {
                c.ensure(!rates.is_empty(), "workload.rates", || "must list at least one state".into())?;
                c.ensure(rates.len() == mean_sojourn_s.len(), "workload.mean_sojourn_s", || {
                    format!("has {} entries, workload.rates has {}", mean_sojourn_s.len(), rates.len())
                })?;
                for (i, (r, s)) in rates.iter().zip(mean_sojourn_s).enumerate() {
                    c.non_negative(&format!("workload.rates[{i}]"), *r)?;
                    c.positive(&format!("workload.mean_sojourn_s[{i}]"), *s)?;
                }
                Ok(())
            }
            Self::Trace { rate_scale, time_scale, start_s, mean_rate, .. } => {
                c.non_negative("workload.rate_scale", *rate_scale)?;
                c.positive("workload.time_scale", *time_scale)?;
                c.non_negative("workload.start_s", *start_s)?;
                if let Some(mean) = mean_rate {
                    c.non_negative("workload.mean_rate", *mean)?;
                    c.ensure(*rate_scale == 1.0, "workload.mean_rate", || {
                        format!("give mean_rate or rate_scale, not both (rate_scale is {rate_scale})")
                    })?;
                }
                Ok(())
            }
            Self::Mixture { components, rate_scale, time_scale } => {
                c.ensure(!components.is_empty(), "workload.components", || {
                    "must list at least one component".into()
                })?;
                for (field, (low, high)) in
                    [("workload.rate_scale", rate_scale), ("workload.time_scale", time_scale)]
                {
                    c.positive(field, *low)?;
                    c.finite(field, *high)?;
                    c.ensure(low <= high, field, || format!("low {low} is above high {high}"))?;
                }
                for (i, component) in components.iter().enumerate() {
                    let field = format!("workload.components[{i}]");
                    c.positive(&format!("{field}.weight"), component.weight)?;
                    c.ensure(!matches!(component.workload, Self::Mixture { .. }), &field, || {
                        "a mixture cannot contain a mixture".into()
                    })?;
                    component.workload.validate(c).map_err(|mut e| {
                        e.field = e.field.replacen("workload.", &format!("{field}.workload."), 1);
                        e
                    })?;
                }
                Ok(())
            }
        }
    }
}

/// A workload ready to generate episodes: traces parsed once and shared.
#[derive(Clone, Debug)]
pub enum LoadedWorkload {
    /// Poisson arrivals with a rate function.
    Poisson {
        /// The rate function.
        rate: RateFn,
        /// Optional bursts.
        bursts: Option<BurstConfig>,
    },
    /// Markov-modulated Poisson arrivals.
    Mmpp {
        /// Rate per state.
        rates: Vec<f64>,
        /// Mean sojourn per state.
        mean_sojourn_s: Vec<f64>,
    },
    /// Trace replay.
    Trace(TracePlan),
    /// A workload distribution.
    Mixture(Mixture),
}

/// A loaded [`WorkloadConfig::Mixture`].
#[derive(Clone, Debug)]
pub struct Mixture {
    /// `(weight, workload)` per component.
    pub components: Vec<(f64, LoadedWorkload)>,
    /// Range of the per-episode rate multiplier.
    pub rate_scale: (f64, f64),
    /// Range of the per-episode time multiplier.
    pub time_scale: (f64, f64),
}

impl Mixture {
    /// Draws one episode's workload: a component by weight, then its rate and time multipliers
    /// and its offset or phase.
    fn draw(&self, rng: &mut SimRng) -> LoadedWorkload {
        let total: f64 = self.components.iter().map(|c| c.0).sum();
        let mut pick = rng.uniform() * total;
        let mut chosen = &self.components[self.components.len() - 1].1;
        for (weight, workload) in &self.components {
            if pick < *weight {
                chosen = workload;
                break;
            }
            pick -= weight;
        }
        let within = |(low, high): (f64, f64), rng: &mut SimRng| low + (high - low) * rng.uniform();
        let rate = within(self.rate_scale, rng);
        let time = within(self.time_scale, rng);
        chosen.scaled(rate, time, Some(rng))
    }

    /// Every component at the extreme multipliers that generate the most arrivals per second.
    fn busiest(&self) -> impl Iterator<Item = LoadedWorkload> + '_ {
        self.components.iter().map(|(_, w)| w.scaled(self.rate_scale.1, self.time_scale.0, None))
    }
}

impl LoadedWorkload {
    /// Reads the trace a workload names, if any.
    pub(crate) fn load(config: &WorkloadConfig, c: &Checker<'_>, base: &Path) -> Result<Self, ScenarioError> {
        let loaded = match config {
            WorkloadConfig::Poisson { rate, bursts } => {
                Self::Poisson { rate: rate.clone(), bursts: bursts.clone() }
            }
            WorkloadConfig::Mmpp { rates, mean_sojourn_s } => {
                Self::Mmpp { rates: rates.clone(), mean_sojourn_s: mean_sojourn_s.clone() }
            }
            WorkloadConfig::Trace {
                path,
                format,
                rate_scale,
                time_scale,
                start_s,
                random_offset,
                mean_rate,
            } => {
                let data = TraceData::read(&base.join(path), format)?;
                let rate_scale = match mean_rate {
                    // Mean rate in simulated time is (requests / duration) x rate_scale / time_scale.
                    Some(mean) => {
                        c.ensure(data.total_requests() > 0, "workload.mean_rate", || {
                            format!("trace {path} holds no requests: it cannot be rescaled to {mean} req/s")
                        })?;
                        mean * time_scale * data.duration_s() / data.total_requests() as f64
                    }
                    None => *rate_scale,
                };
                Self::Trace(TracePlan {
                    data,
                    rate_scale,
                    time_scale: *time_scale,
                    start_s: *start_s,
                    random_offset: *random_offset,
                })
            }
            WorkloadConfig::Mixture { components, rate_scale, time_scale } => {
                let components = components
                    .iter()
                    .enumerate()
                    .map(|(i, component)| {
                        let loaded = Self::load(&component.workload, c, base).map_err(|mut e| {
                            e.field = e.field.replacen(
                                "workload.",
                                &format!("workload.components[{i}].workload."),
                                1,
                            );
                            e
                        })?;
                        Ok((component.weight, loaded))
                    })
                    .collect::<Result<_, ScenarioError>>()?;
                Self::Mixture(Mixture { components, rate_scale: *rate_scale, time_scale: *time_scale })
            }
        };
        if let Self::Trace(plan) = &loaded {
            c.ensure(plan.start_s < plan.data.duration_s(), "workload.start_s", || {
                format!("{} s is past the trace's end ({} s)", plan.start_s, plan.data.duration_s())
            })?;
        }
        Ok(loaded)
    }

    /// This workload with its rate multiplied by `rate` and its time stretched by `time`; with an
    /// `rng`, a trace also starts at a random offset and a diurnal curve at a random phase.
    fn scaled(&self, rate: f64, time: f64, rng: Option<&mut SimRng>) -> Self {
        match self {
            Self::Poisson { rate: f, bursts } => {
                let phase = rng.map(|r| r.uniform());
                Self::Poisson { rate: f.scaled(rate, time, phase), bursts: bursts.clone() }
            }
            Self::Mmpp { rates, mean_sojourn_s } => Self::Mmpp {
                rates: rates.iter().map(|r| r * rate).collect(),
                mean_sojourn_s: mean_sojourn_s.iter().map(|s| s * time).collect(),
            },
            Self::Trace(plan) => Self::Trace(TracePlan {
                // Stretching time by `time` divides the rate by it: compensate, then scale.
                rate_scale: plan.rate_scale * rate * time,
                time_scale: plan.time_scale * time,
                random_offset: plan.random_offset || rng.is_some(),
                ..plan.clone()
            }),
            Self::Mixture(m) => Self::Mixture(Mixture {
                components: m.components.iter().map(|(w, c)| (*w, c.scaled(rate, time, None))).collect(),
                ..m.clone()
            }),
        }
    }

    /// Simulated seconds the trace covers after `start_s` (for a mixture, the shortest any of its
    /// traces covers at the smallest time multiplier); None for synthetic workloads.
    pub fn available_s(&self) -> Option<f64> {
        match self {
            Self::Trace(p) => Some(((p.data.duration_s() - p.start_s) * p.time_scale).max(0.0)),
            Self::Mixture(m) => m
                .components
                .iter()
                .filter_map(|(_, w)| w.available_s())
                .map(|s| s * m.time_scale.0)
                .reduce(f64::min),
            _ => None,
        }
    }

    /// The highest arrival rate, per simulated second (for a trace, per second of trace time when
    /// that is higher: a trace second's arrivals are generated at once).
    pub fn peak_rate(&self) -> f64 {
        match self {
            Self::Poisson { rate, bursts } => rate.max() * bursts.as_ref().map_or(1.0, |b| b.multiplier),
            Self::Mmpp { rates, .. } => rates.iter().copied().fold(0.0, f64::max),
            Self::Trace(p) => p.data.peak_per_second() as f64 * p.rate_scale / p.time_scale.min(1.0),
            Self::Mixture(m) => m.busiest().map(|w| w.peak_rate()).fold(0.0, f64::max),
        }
    }

    /// Arrivals (or, for thinned Poisson processes, candidates and state switches) the generator
    /// draws per simulated second on average: the work one episode second costs (for a mixture,
    /// its busiest component).
    pub fn generated_per_second(&self) -> f64 {
        match self {
            Self::Poisson { bursts, .. } => {
                let switches = bursts.as_ref().map_or(0.0, |b| 2.0 / (b.mean_gap_s + b.mean_duration_s));
                self.peak_rate() + switches
            }
            Self::Mmpp { rates, mean_sojourn_s } => {
                let total_s: f64 = mean_sojourn_s.iter().sum();
                let weighted: f64 = rates.iter().zip(mean_sojourn_s).map(|(r, s)| r * s).sum();
                (weighted + rates.len() as f64) / total_s
            }
            Self::Trace(p) => {
                p.data.total_requests() as f64 / p.data.duration_s() * p.rate_scale / p.time_scale
            }
            Self::Mixture(m) => m.busiest().map(|w| w.generated_per_second()).fold(0.0, f64::max),
        }
    }

    /// Mean front-end arrival rate over an episode of `horizon_s`, req/s (for a mixture, the
    /// weighted mean of its components at the middle multipliers).
    pub fn mean_rate(&self, horizon_s: f64) -> f64 {
        match self {
            Self::Poisson { rate, bursts } => {
                let steps = 1000;
                let base = (0..steps)
                    .map(|i| rate.at((f64::from(i) + 0.5) * horizon_s / f64::from(steps)))
                    .sum::<f64>()
                    / f64::from(steps);
                let burst_factor = bursts.as_ref().map_or(1.0, |b| {
                    1.0 + (b.multiplier - 1.0) * b.mean_duration_s / (b.mean_duration_s + b.mean_gap_s)
                });
                base * burst_factor
            }
            Self::Mmpp { rates, mean_sojourn_s } => {
                rates.iter().zip(mean_sojourn_s).map(|(r, s)| r * s).sum::<f64>()
                    / mean_sojourn_s.iter().sum::<f64>()
            }
            Self::Trace(p) => {
                p.data.total_requests() as f64 * p.rate_scale / (p.data.duration_s() * p.time_scale)
            }
            Self::Mixture(m) => {
                let total: f64 = m.components.iter().map(|c| c.0).sum();
                let weighted: f64 = m.components.iter().map(|(w, c)| w * c.mean_rate(horizon_s)).sum();
                weighted / total * 0.5 * (m.rate_scale.0 + m.rate_scale.1)
            }
        }
    }

    /// Median request size when the workload carries sizes (drives size-dependent exits); a
    /// mixture has none (its episodes replay different traces).
    pub fn median_size(&self) -> Option<f64> {
        match self {
            Self::Trace(p) => p.data.median_size(),
            _ => None,
        }
    }

    /// The arrival generator for one episode of `horizon` simulated time.
    pub fn source(&self, mut rng: SimRng, horizon: SimTime) -> ArrivalSource {
        let kind = match self {
            Self::Poisson { rate, bursts } => {
                SourceKind::Poisson(PoissonSource::new(rate.clone(), bursts.clone(), rng))
            }
            Self::Mmpp { rates, mean_sojourn_s } => {
                SourceKind::Mmpp(MmppSource::new(rates.clone(), mean_sojourn_s.clone(), rng))
            }
            Self::Trace(plan) => SourceKind::Trace(TraceSource::new(plan.clone(), horizon, rng)),
            Self::Mixture(m) => return m.draw(&mut rng).source(rng, horizon),
        };
        ArrivalSource { kind, horizon }
    }
}

/// A parsed trace and how to replay it.
#[derive(Clone, Debug)]
pub struct TracePlan {
    /// The parsed file, shared.
    pub data: TraceData,
    /// Rate multiplier.
    pub rate_scale: f64,
    /// Time stretch.
    pub time_scale: f64,
    /// Trace second where episodes start.
    pub start_s: f64,
    /// Random episode offsets.
    pub random_offset: bool,
}

/// One request entering the system.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arrival {
    /// When it arrives.
    pub time: SimTime,
    /// Its size (e.g. prompt tokens) when the workload has one, else 0.
    pub size: f32,
}

enum SourceKind {
    Poisson(PoissonSource),
    Mmpp(MmppSource),
    Trace(TraceSource),
}

/// Generates one episode's arrivals in non-decreasing time order, ending at the horizon.
pub struct ArrivalSource {
    kind: SourceKind,
    horizon: SimTime,
}

impl ArrivalSource {
    /// The next arrival before the horizon, if any.
    pub fn next_arrival(&mut self) -> Option<Arrival> {
        let a = match &mut self.kind {
            SourceKind::Poisson(s) => s.next_arrival(self.horizon),
            SourceKind::Mmpp(s) => s.next_arrival(self.horizon),
            SourceKind::Trace(s) => s.next_arrival(),
        }?;
        (a.time < self.horizon).then_some(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    fn count_until(workload: &LoadedWorkload, seed: u64, horizon_s: u64) -> usize {
        let mut source = workload.source(SimRng::new(seed, Stream::Arrivals), SimTime::from_secs(horizon_s));
        std::iter::from_fn(|| source.next_arrival()).count()
    }

    fn constant(rate: f64) -> LoadedWorkload {
        LoadedWorkload::Poisson { rate: RateFn::Constant(rate), bursts: None }
    }

    #[test]
    fn a_mixture_draws_its_components_by_weight_and_scales_them_per_episode() {
        let mixture = LoadedWorkload::Mixture(Mixture {
            components: vec![(3.0, constant(10.0)), (1.0, constant(1000.0))],
            rate_scale: (0.5, 1.5),
            time_scale: (1.0, 1.0),
        });
        let counts: Vec<usize> = (0..200).map(|seed| count_until(&mixture, seed, 100)).collect();
        let busy = counts.iter().filter(|&&n| n > 20_000).count();
        assert!((30..70).contains(&busy), "{busy} of 200 episodes drew the weight-1 component");
        // Rates vary with the multiplier: quiet episodes between 500 and 1,500 arrivals.
        let quiet: Vec<usize> = counts.iter().copied().filter(|&n| n < 20_000).collect();
        let (low, high) = (quiet.iter().min().unwrap(), quiet.iter().max().unwrap());
        assert!(*low < 700 && *high > 1300 && *low > 400 && *high < 1650, "{low}..{high}");
        assert_eq!(counts[7], count_until(&mixture, 7, 100), "the same seed replays the same episode");
        assert_eq!(mixture.mean_rate(100.0), (3.0 * 10.0 + 1000.0) / 4.0);
        assert_eq!(mixture.peak_rate(), 1500.0);
    }

    #[test]
    fn a_trace_rescaled_to_a_mean_rate_runs_at_that_mean_whatever_its_time_scale() {
        let dir = std::env::temp_dir().join(format!("serflow-mean-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("t.txt"), (0..400).map(|i| format!("{}\n", i % 7)).collect::<String>())
            .unwrap();
        let checker = Checker { source: "t" };
        for time_scale in [0.5, 1.0, 2.0] {
            let config = WorkloadConfig::trace("t.txt", 1.0, Some(250.0), time_scale);
            let loaded = LoadedWorkload::load(&config, &checker, &dir).unwrap();
            assert!((loaded.mean_rate(100.0) - 250.0).abs() < 1e-9);
            let n = count_until(&loaded, 1, 190);
            assert!((n as f64 / 190.0 / 250.0 - 1.0).abs() < 0.05, "{n} arrivals in 190 s at x{time_scale}");
        }
        let both = WorkloadConfig::trace("t.txt", 2.0, Some(250.0), 1.0);
        assert_eq!(both.validate(&checker).unwrap_err().field, "workload.mean_rate");
        // A trace without a single request has no rate to rescale: refused, not replayed silent.
        std::fs::write(dir.join("quiet.txt"), "0\n".repeat(50)).unwrap();
        let quiet = WorkloadConfig::trace("quiet.txt", 1.0, Some(250.0), 1.0);
        let error = LoadedWorkload::load(&quiet, &checker, &dir).unwrap_err();
        assert_eq!(error.field, "workload.mean_rate");
        assert!(error.to_string().contains("quiet.txt holds no requests"), "{error}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
