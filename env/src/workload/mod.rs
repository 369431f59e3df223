//! Where requests come from: Poisson processes with a rate function, MMPP, and trace replay.
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
    },
}

fn one() -> f64 {
    1.0
}

impl WorkloadConfig {
    /// A trace workload for `path`, its format guessed from the extension (`.csv`: timestamped
    /// requests, size from `ContextTokens`; anything else: per-second counts).
    pub fn trace(path: &str, rate_scale: f64) -> Self {
        let format = if path.ends_with(".csv") {
            TraceFormat::Csv { size_column: Some("ContextTokens".into()) }
        } else {
            TraceFormat::Counts
        };
        Self::Trace {
            path: path.into(),
            format,
            rate_scale,
            time_scale: 1.0,
            start_s: 0.0,
            random_offset: false,
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
            Self::Trace { rate_scale, time_scale, start_s, .. } => {
                c.non_negative("workload.rate_scale", *rate_scale)?;
                c.positive("workload.time_scale", *time_scale)?;
                c.non_negative("workload.start_s", *start_s)
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
            WorkloadConfig::Trace { path, format, rate_scale, time_scale, start_s, random_offset } => {
                Self::Trace(TracePlan {
                    data: TraceData::read(&base.join(path), format)?,
                    rate_scale: *rate_scale,
                    time_scale: *time_scale,
                    start_s: *start_s,
                    random_offset: *random_offset,
                })
            }
        };
        if let Self::Trace(plan) = &loaded {
            c.ensure(plan.start_s < plan.data.duration_s(), "workload.start_s", || {
                format!("{} s is past the trace's end ({} s)", plan.start_s, plan.data.duration_s())
            })?;
        }
        Ok(loaded)
    }

    /// Simulated seconds the trace covers after `start_s` (None for synthetic workloads).
    pub fn available_s(&self) -> Option<f64> {
        match self {
            Self::Trace(p) => Some(((p.data.duration_s() - p.start_s) * p.time_scale).max(0.0)),
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
        }
    }

    /// Arrivals (or, for thinned Poisson processes, candidates and state switches) the generator
    /// draws per simulated second on average: the work one episode second costs.
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
        }
    }

    /// Median request size when the workload carries sizes (drives size-dependent exits).
    pub fn median_size(&self) -> Option<f64> {
        match self {
            Self::Trace(p) => p.data.median_size(),
            _ => None,
        }
    }

    /// The arrival generator for one episode of `horizon` simulated time.
    pub fn source(&self, rng: SimRng, horizon: SimTime) -> ArrivalSource {
        let kind = match self {
            Self::Poisson { rate, bursts } => {
                SourceKind::Poisson(PoissonSource::new(rate.clone(), bursts.clone(), rng))
            }
            Self::Mmpp { rates, mean_sojourn_s } => {
                SourceKind::Mmpp(MmppSource::new(rates.clone(), mean_sojourn_s.clone(), rng))
            }
            Self::Trace(plan) => SourceKind::Trace(TraceSource::new(plan.clone(), horizon, rng)),
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
