//! Synthetic arrivals: non-homogeneous Poisson by thinning (Lewis-Shedler), bursts, and MMPP.

use super::Arrival;
use crate::engine::{SimDuration, SimTime};
use crate::error::{Checker, ScenarioError};
use crate::rng::SimRng;
use serde::{Deserialize, Serialize};

/// An arrival rate in req/s as a function of simulated time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum RateFn {
    /// A fixed rate.
    Constant(f64),
    /// `mean * (1 + amplitude * sin(2 pi (t + phase_s) / period_s))`.
    Diurnal {
        /// Mean rate.
        mean: f64,
        /// Relative amplitude in [0, 1].
        amplitude: f64,
        /// Period in seconds (86,400 for a day).
        period_s: f64,
        /// Phase shift in seconds.
        #[serde(default)]
        phase_s: f64,
    },
    /// Piecewise constant: `(from_s, rate)` pairs in increasing time; rate 0 before the first.
    Steps(Vec<(f64, f64)>),
}

impl RateFn {
    /// The shape's name, for reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Constant(_) => "constant",
            Self::Diurnal { .. } => "diurnal",
            Self::Steps(_) => "steps",
        }
    }

    /// The rate at `t` seconds.
    pub fn at(&self, t: f64) -> f64 {
        match self {
            Self::Constant(r) => *r,
            Self::Diurnal { mean, amplitude, period_s, phase_s } => {
                mean * (1.0 + amplitude * (std::f64::consts::TAU * (t + phase_s) / period_s).sin())
            }
            Self::Steps(points) => {
                points.iter().take_while(|(from, _)| *from <= t).last().map_or(0.0, |p| p.1)
            }
        }
    }

    /// This rate function with rates multiplied by `rate` and time stretched by `time`; a diurnal
    /// curve starts at `phase` (a fraction of its period) when given.
    pub fn scaled(&self, rate: f64, time: f64, phase: Option<f64>) -> Self {
        match self {
            Self::Constant(r) => Self::Constant(r * rate),
            Self::Diurnal { mean, amplitude, period_s, phase_s } => Self::Diurnal {
                mean: mean * rate,
                amplitude: *amplitude,
                period_s: period_s * time,
                phase_s: phase.map_or(phase_s * time, |u| u * period_s * time),
            },
            Self::Steps(points) => Self::Steps(points.iter().map(|(t, r)| (t * time, r * rate)).collect()),
        }
    }

    /// The lowest and highest values `at` can return, when cheaper to know than `at` itself (a
    /// diurnal curve: its sine at -1 and +1; floating-point rounding is monotone, so `at` never
    /// leaves them).
    fn bounds(&self) -> Option<(f64, f64)> {
        match self {
            Self::Diurnal { mean, amplitude, .. } => {
                let ends = [mean * (1.0 - amplitude), mean * (1.0 + amplitude)];
                Some((ends[0].min(ends[1]), ends[0].max(ends[1])))
            }
            _ => None,
        }
    }

    /// An upper bound of the rate over all time.
    pub fn max(&self) -> f64 {
        match self {
            Self::Constant(r) => *r,
            Self::Diurnal { mean, amplitude, .. } => mean * (1.0 + amplitude),
            Self::Steps(points) => points.iter().map(|p| p.1).fold(0.0, f64::max),
        }
    }

    pub(crate) fn validate(&self, c: &Checker<'_>, field: &str) -> Result<(), ScenarioError> {
        match self {
            Self::Constant(r) => c.non_negative(field, *r),
            Self::Diurnal { mean, amplitude, period_s, phase_s } => {
                c.non_negative(&format!("{field}.mean"), *mean)?;
                c.fraction(&format!("{field}.amplitude"), *amplitude)?;
                c.positive(&format!("{field}.period_s"), *period_s)?;
                c.finite(&format!("{field}.phase_s"), *phase_s)
            }
            Self::Steps(points) => {
                c.ensure(!points.is_empty(), field, || "must list at least one (from_s, rate) step".into())?;
                for (i, (from, rate)) in points.iter().enumerate() {
                    c.non_negative(&format!("{field}[{i}].0"), *from)?;
                    c.non_negative(&format!("{field}[{i}].1"), *rate)?;
                    if i > 0 {
                        c.ensure(*from > points[i - 1].0, &format!("{field}[{i}].0"), || {
                            "step times must increase".into()
                        })?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// Random bursts: quiet periods of mean `mean_gap_s` alternate with bursts of mean `mean_duration_s`
/// (both exponential) during which the rate is multiplied by `multiplier`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Bursts")]
pub struct BurstConfig {
    /// Rate multiplier during a burst (>= 1).
    pub multiplier: f64,
    /// Mean time between bursts, seconds.
    pub mean_gap_s: f64,
    /// Mean burst length, seconds.
    pub mean_duration_s: f64,
}

impl BurstConfig {
    pub(crate) fn validate(&self, c: &Checker<'_>, field: &str) -> Result<(), ScenarioError> {
        c.finite(&format!("{field}.multiplier"), self.multiplier)?;
        c.ensure(self.multiplier >= 1.0, &format!("{field}.multiplier"), || {
            format!("must be >= 1, got {}", self.multiplier)
        })?;
        c.positive(&format!("{field}.mean_gap_s"), self.mean_gap_s)?;
        c.positive(&format!("{field}.mean_duration_s"), self.mean_duration_s)
    }
}

/// The on/off burst state, advanced lazily as time moves forward.
struct BurstState {
    config: BurstConfig,
    in_burst: bool,
    next_switch: f64,
}

impl BurstState {
    fn multiplier_at(&mut self, t: f64, rng: &mut SimRng) -> f64 {
        while t >= self.next_switch {
            self.in_burst = !self.in_burst;
            let mean = if self.in_burst { self.config.mean_duration_s } else { self.config.mean_gap_s };
            self.next_switch += rng.exponential(mean);
        }
        if self.in_burst { self.config.multiplier } else { 1.0 }
    }
}

pub(super) struct PoissonSource {
    rate: RateFn,
    bounds: Option<(f64, f64)>,
    bursts: Option<BurstState>,
    max_rate: f64,
    t: f64,
    rng: SimRng,
}

impl PoissonSource {
    pub fn new(rate: RateFn, bursts: Option<BurstConfig>, mut rng: SimRng) -> Self {
        let max_rate = rate.max() * bursts.as_ref().map_or(1.0, |b| b.multiplier);
        let bursts = bursts.map(|config| {
            let first = rng.exponential(config.mean_gap_s);
            BurstState { config, in_burst: false, next_switch: first }
        });
        Self { bounds: rate.bounds(), rate, bursts, max_rate, t: 0.0, rng }
    }

    pub fn next_arrival(&mut self, horizon: SimTime) -> Option<Arrival> {
        if self.max_rate <= 0.0 {
            return None;
        }
        let end = horizon.as_secs_f64();
        while self.t < end {
            self.t += self.rng.exponential(1.0 / self.max_rate);
            if self.t >= end {
                // Past the horizon nothing is drawn: the burst state is never advanced beyond it.
                return None;
            }
            let multiplier = self.bursts.as_mut().map(|b| b.multiplier_at(self.t, &mut self.rng));
            let with_bursts = |rate: f64| multiplier.map_or(rate, |m| rate * m);
            let threshold = self.rng.uniform() * self.max_rate;
            // Accept below the rate. Where the draw alone decides (under the lowest rate, or over
            // the highest), skip evaluating the rate function: same draws, same arrivals.
            let accept = match self.bounds {
                Some((low, _)) if threshold < with_bursts(low) => true,
                Some((_, high)) if threshold >= with_bursts(high) => false,
                _ => threshold < with_bursts(self.rate.at(self.t)),
            };
            if accept {
                return Some(Arrival { time: SimTime::ZERO + SimDuration::from_secs_f64(self.t), size: 0.0 });
            }
        }
        None
    }
}

pub(super) struct MmppSource {
    rates: Vec<f64>,
    sojourn: Vec<f64>,
    state: usize,
    state_end: f64,
    t: f64,
    rng: SimRng,
}

impl MmppSource {
    pub fn new(rates: Vec<f64>, sojourn: Vec<f64>, mut rng: SimRng) -> Self {
        let state_end = rng.exponential(sojourn[0]);
        Self { rates, sojourn, state: 0, state_end, t: 0.0, rng }
    }

    pub fn next_arrival(&mut self, horizon: SimTime) -> Option<Arrival> {
        let end = horizon.as_secs_f64();
        while self.t < end {
            let rate = self.rates[self.state];
            let candidate =
                if rate > 0.0 { self.t + self.rng.exponential(1.0 / rate) } else { f64::INFINITY };
            if candidate < self.state_end {
                self.t = candidate;
                return Some(Arrival { time: SimTime::ZERO + SimDuration::from_secs_f64(self.t), size: 0.0 });
            }
            // Memoryless: restart the clock at the switch in the new state.
            self.t = self.state_end;
            if self.rates.len() > 1 {
                let others = self.rates.len() as u64 - 1;
                let pick = self.rng.below(others) as usize;
                self.state = if pick >= self.state { pick + 1 } else { pick };
            }
            self.state_end = self.t + self.rng.exponential(self.sojourn[self.state]);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    fn count(next: impl FnMut() -> Option<Arrival>) -> usize {
        std::iter::from_fn(next).count()
    }

    #[test]
    fn poisson_count_matches_integrated_rate() {
        let horizon = SimTime::from_secs(2_000);
        let rate = RateFn::Diurnal { mean: 50.0, amplitude: 0.8, period_s: 1000.0, phase_s: 0.0 };
        let mut src = PoissonSource::new(rate, None, SimRng::new(1, Stream::Arrivals));
        let n = count(|| src.next_arrival(horizon)) as f64;
        assert!((n / 100_000.0 - 1.0).abs() < 0.02, "{n}");
    }

    #[test]
    fn steps_switch_at_their_times() {
        let r = RateFn::Steps(vec![(10.0, 5.0), (20.0, 7.0)]);
        assert_eq!((r.at(0.0), r.at(10.0), r.at(25.0), r.max()), (0.0, 5.0, 7.0, 7.0));
    }

    #[test]
    fn mmpp_long_run_rate_is_time_weighted_mean() {
        let horizon = SimTime::from_secs(200_000);
        let mut src = MmppSource::new(vec![10.0, 100.0], vec![90.0, 10.0], SimRng::new(2, Stream::Arrivals));
        let rate = count(|| src.next_arrival(horizon)) as f64 / 200_000.0;
        assert!((rate / 19.0 - 1.0).abs() < 0.05, "{rate}");
    }

    #[test]
    fn bursts_raise_the_mean_rate_by_their_duty_cycle() {
        let horizon = SimTime::from_secs(100_000);
        let bursts = BurstConfig { multiplier: 3.0, mean_gap_s: 90.0, mean_duration_s: 10.0 };
        let mut src =
            PoissonSource::new(RateFn::Constant(10.0), Some(bursts), SimRng::new(4, Stream::Arrivals));
        let rate = count(|| src.next_arrival(horizon)) as f64 / 100_000.0;
        assert!((rate / 12.0 - 1.0).abs() < 0.05, "{rate}");
    }
}
