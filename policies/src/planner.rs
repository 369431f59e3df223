//! The learned-forecast planner: the forecast oracle's dynamic programme, fed each stage's next
//! rates as a trained MLP forecasts them from its last measured rates, instead of the future.
//!
//! Every interval, for every stage, it forecasts the next `lookahead` interval rates, scales them
//! by `margin`, re-plans the cheapest ready-VM counts over them from the VMs committed now
//! ([`PlanMemory`]), and asks for the most VMs the plan needs within one boot; VMs are offered every
//! request and FaaS takes what they cannot. The forecaster reads a stage's last rates over their
//! mean and forecasts its next ones over that mean; while its history is short, or the stage
//! averages under 1 req/s or has just gone under it, the measured rate stands in (Holt's trend
//! did, and extrapolated a few rates of an episode's opening into fleets for ramps that level
//! off; the network, reading a silence after a load, booted for a rise that did not come).
//! Where a stage's rates repeat within the last hour (a [`period`] of their own past), the next
//! ones are its last periods replayed instead (their mean, each older period read where it lines
//! up: [`ReplayedLags`]): a load that repeats says when its next edge comes, which no forecast
//! of five minutes can. Where stage 1's rates repeat, every later stage replays stage 1's periods
//! scaled by its share of stage 1's load now: a deeper stage sees the front end's load thinned by
//! exits whose rates drift, so its own past repeats less faithfully than its share of stage 1's.
//! No forecast goes below the measured rate.
//!
//! A noise gate hands an interval to a calibrated target-tracking rule ([`Hpa`]) while stage 1's
//! recent rates jitter rather than move (`1 - |net change| / total variation` above a threshold):
//! planning on a forecast of noise launches VMs for bursts that do not come back. Never while
//! stage 1 replays a period: a repeating load's flat stretches jitter too, and the rule would
//! not boot ahead of the next edge. The rule acts every interval, so its state is current when
//! it takes over.
//!
//! The file is self-contained (prices, pool capacities, boot time, the network, the rule), so a
//! controller needs nothing else; acting allocates nothing once the plan buffers have grown.

use crate::baselines::{Hpa, HpaConfig, PlanCosts, PlanMemory};
use crate::learned::{Learned, LoadError};
use crate::mlp::Mlp;
use crate::policy::Policy;
use crate::profile::SystemProfile;
use crate::schema::{Action, Observation, StageAction, StageFeature};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Version of the planner file layout; bumped on any incompatible change.
pub const PLANNER_FORMAT_VERSION: u32 = 1;

/// Mean rate (req/s) under which a window is too quiet for the forecaster: its ratios are noise
/// the size of the burst that ends the silence.
pub const QUIET_RATE: f64 = 1.0;

/// The most VMs per stage a planner file may plan for (the simulator's own limit).
const MAX_VMS: u32 = 10_000;

/// The most arrival steps one decision plans over (each stage's plan is O(steps x VM counts)).
const MAX_PLANNED_STEPS: usize = 20_000;

/// The longest period the seasonal forecast may look for, in intervals (a day at 10 s).
const MAX_PERIOD: usize = 8_640;

/// The longest boot a planner file may plan around, in intervals.
const MAX_INTERVALS: f64 = 1e7;

/// When the gate hands intervals to the rule (never while stage 1 replays a period).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// Stage 1's last rates the noise is measured on.
    pub window: usize,
    /// Noise above which the rule decides.
    pub threshold: f64,
    /// Consecutive intervals the noise must call for the other side before the gate switches.
    pub hold: usize,
    /// The rule that decides noisy intervals (`tuned-hpa`'s calibration).
    pub fallback: HpaConfig,
}

/// When a stage's load counts as repeating, for the seasonal forecast ([`period`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeasonalConfig {
    /// The last rates whose correlation with the rates one lag before is measured.
    pub window: usize,
    /// Shortest period looked for, in intervals.
    pub min_lag: usize,
    /// Longest period looked for, in intervals (the stage keeps twice this many rates).
    pub max_lag: usize,
    /// Smallest correlation at which a lag counts as the load's period.
    pub correlation: f64,
    /// How many of its last periods the replay averages (files without the field: 1), each
    /// re-aligned to its own correlation peak ([`ReplayedLags::of`]).
    #[serde(default = "one_period")]
    pub periods: usize,
    /// The fewest of the last rates a lag's correlation is measured on: a lag is tried once the
    /// stage holds this many rates past it, so a period is found one period and this many rates
    /// in. Files without the field: as many rates as the lag, so a period is found after two.
    #[serde(default)]
    pub min_window: Option<usize>,
}

fn one_period() -> usize {
    1
}

/// The most periods a replay may average.
pub const MAX_REPLAYED_PERIODS: usize = 8;

impl Default for SeasonalConfig {
    /// Periods of one to thirty minutes at 10-s intervals, measured over the last 15 minutes
    /// (5 minutes, the network's history, at the least), correlating 0.9 or more; the last three
    /// averaged.
    fn default() -> Self {
        Self { window: 90, min_lag: 6, max_lag: 180, correlation: 0.9, periods: 3, min_window: Some(30) }
    }
}

impl SeasonalConfig {
    /// The rates a stage keeps: twice the longest period to find one, and enough behind the
    /// last `periods` of the longest for each to be re-aligned.
    pub fn history(&self) -> usize {
        match self.periods {
            0 | 1 => 2 * self.max_lag,
            p => (p + 1) * self.max_lag + p,
        }
    }
}

/// The lag (in intervals) at which the rates (oldest first) repeat, if they repeat well enough:
/// over the last `window` rates (fewer while the history is short, down to `min_window`, or to
/// as many as the lag without it), the lag of `min_lag` to `max_lag` whose correlation with the
/// rates that lag before is at least `correlation`, once some shorter lag has shown none (a
/// smooth load correlates with itself a few intervals back without repeating). A longer lag
/// replaces a shorter one only by correlating clearly (0.02) better, so a multiple of the period
/// does not. Allocates nothing.
pub fn period(rates: &[f64], config: &SeasonalConfig) -> Option<usize> {
    let n = rates.len();
    let mut best: Option<(usize, f64)> = None;
    let mut decorrelated = false;
    let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
    // The last `m` rates' mean and squared deviation: the same for every lag that compares `m`.
    let mut recent = (0, 0.0, 0.0);
    let longest = match config.min_window {
        Some(least) => n.saturating_sub(least),
        None => n / 2,
    };
    for lag in 1..=longest.min(config.max_lag) {
        let m = (n - lag).min(config.window);
        let (now, then) = (&rates[n - m..], &rates[n - m - lag..n - lag]);
        if recent.0 != m {
            let mean_now = mean(now);
            recent =
                (m, mean_now, now.iter().map(|a| (a - mean_now) * (a - mean_now)).fold(0.0, |s, x| s + x));
        }
        let (_, mean_now, var_now) = recent;
        let Some(correlation) = correlation(now, mean_now, var_now, then) else {
            continue;
        };
        decorrelated |= correlation < 0.0;
        if decorrelated
            && lag >= config.min_lag
            && correlation >= config.correlation
            && best.is_none_or(|(_, c)| correlation > c + 0.02)
        {
            best = Some((lag, correlation));
        }
    }
    best.map(|(lag, _)| lag)
}

/// The correlation of `now` (its mean and squared deviation given) with `then`, if neither is flat.
fn correlation(now: &[f64], mean_now: f64, var_now: f64, then: &[f64]) -> Option<f64> {
    if var_now <= 0.0 {
        return None;
    }
    let mean_then = then.iter().sum::<f64>() / then.len() as f64;
    let (mut cross, mut var_then) = (0.0, 0.0);
    for (a, b) in now.iter().zip(then) {
        let (x, y) = (a - mean_now, b - mean_then);
        cross += x * y;
        var_then += y * y;
    }
    (var_then > 0.0).then(|| cross / (var_now * var_then).sqrt())
}

/// The lags at which a replay reads a stage's last periods: the period, then for the p-th period
/// back the lag within p intervals of `p x period` whose last rates correlate best with the rates
/// that lag before. A period that is not a whole number of intervals drifts by its fraction each
/// period back; read at `p x period`, older periods would blur the edges they are averaged to
/// sharpen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayedLags {
    lags: [usize; MAX_REPLAYED_PERIODS],
    count: usize,
}

impl ReplayedLags {
    /// The lags of up to `config.periods` periods of `rates` (oldest first), the first being
    /// `period`: as many as the rates hold with a period's worth of rates behind the latest
    /// lag to correlate. Allocates nothing.
    pub fn of(rates: &[f64], period: usize, config: &SeasonalConfig) -> Self {
        let mut replayed = Self { lags: [0; MAX_REPLAYED_PERIODS], count: 1 };
        replayed.lags[0] = period;
        let n = rates.len();
        for p in 2..=config.periods.min(MAX_REPLAYED_PERIODS) {
            let (lowest, highest) = ((p * period - p).max(period), p * period + p);
            if n < highest + period {
                break;
            }
            let m = (n - highest).min(config.window);
            let now = &rates[n - m..];
            let mean_now = now.iter().sum::<f64>() / m as f64;
            let var_now = now.iter().map(|a| (a - mean_now) * (a - mean_now)).fold(0.0, |s, x| s + x);
            let mut best = (p * period, f64::NEG_INFINITY);
            for lag in lowest..=highest {
                let then = &rates[n - m - lag..n - lag];
                if let Some(c) = correlation(now, mean_now, var_now, then).filter(|&c| c > best.1) {
                    best = (lag, c);
                }
            }
            replayed.lags[p - 1] = best.0;
            replayed.count = p;
        }
        replayed
    }

    /// The lag of the last period.
    pub fn period(&self) -> usize {
        self.lags[0]
    }

    /// The lags, the last period's first.
    pub fn lags(&self) -> &[usize] {
        &self.lags[..self.count]
    }
}

/// The lags a stage's replay reads (`config.periods` of them, re-aligned), if its `rates`
/// repeat ([`period`]).
pub fn replayed_lags(rates: &[f64], config: &SeasonalConfig) -> Option<ReplayedLags> {
    period(rates, config).map(|lag| ReplayedLags::of(rates, lag, config))
}

/// The planner file as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "ForecastPlannerPolicy")]
pub struct ForecastPlannerFile {
    /// [`PLANNER_FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// The system planned for: prices, boot time, billing minimum, per-stage quotas.
    pub profile: SystemProfile,
    /// Per stage, the requests per second `n` ready VMs serve within the SLO (index `n`).
    pub pool_rps: Vec<Vec<f64>>,
    /// Whether VMs are offered only what the pool serves at the ready count (`pool_rps`), FaaS
    /// taking the rest: for a balancer that does not spill what would wait too long in a VM queue.
    #[serde(default)]
    pub cap_vm_offers: bool,
    /// Steps per interval the plan counts arrivals in (bursts inside an interval spill per step).
    pub plan_steps: usize,
    /// Intervals planned ahead.
    pub lookahead: usize,
    /// Forecasts are multiplied by this before planning.
    pub margin: f64,
    /// `history` rates over their mean -> the next rates over that mean (the last held beyond).
    pub forecaster: Mlp,
    /// The noise gate, if any.
    pub gate: Option<GateConfig>,
    /// The seasonal forecast, if any: a stage whose rates repeat has its last period replayed
    /// (stage 1's, scaled by the stage's share of its load, where stage 1's repeat).
    #[serde(default)]
    pub seasonal: Option<SeasonalConfig>,
    /// Free-form provenance (scenario, data, fit).
    #[serde(default)]
    pub notes: String,
}

impl ForecastPlannerFile {
    /// The file's text.
    pub fn to_ron(&self) -> String {
        // Named (`ForecastPlannerPolicy(...)`), so that a reader tells it from an exported actor.
        let config = ron::ser::PrettyConfig::default().depth_limit(3).struct_names(true);
        ron::ser::to_string_pretty(self, config).expect("a planner file serialises")
    }

    /// Checks the file loads as a policy, then writes it to `path` atomically; `Err` is one line
    /// naming the path.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        ForecastPlanner::new(self.clone())
            .map_err(|e| format!("{}: the policy is invalid: {e}", path.display()))?;
        crate::files::write_atomic(path, &self.to_ron())
    }

    fn check(&self) -> Result<(), String> {
        if self.format_version != PLANNER_FORMAT_VERSION {
            return Err(format!(
                "format_version {} is not supported (this build reads {PLANNER_FORMAT_VERSION})",
                self.format_version
            ));
        }
        let p = &self.profile;
        let n = p.stages.len();
        if n == 0 {
            return Err("profile.stages: at least one stage".into());
        }
        let positive = [("profile.interval_s", p.interval_s), ("margin", self.margin)];
        if let Some((field, value)) = positive.iter().find(|(_, v)| !(v.is_finite() && *v > 0.0)) {
            return Err(format!("{field} must be positive, got {value}"));
        }
        not_negative(
            "profile.",
            &[
                ("vm_price_per_s", p.vm_price_per_s),
                ("vm_boot_p95_s", p.vm_boot_p95_s),
                ("vm_billing_minimum_s", p.vm_billing_minimum_s),
            ],
        )?;
        if p.vm_boot_p95_s / p.interval_s > MAX_INTERVALS {
            return Err(format!("profile.vm_boot_p95_s: a boot of more than {MAX_INTERVALS} intervals"));
        }
        for (k, stage) in p.stages.iter().enumerate() {
            if stage.max_vms > MAX_VMS {
                return Err(format!("profile.stages[{k}].max_vms: more than {MAX_VMS} VMs"));
            }
            not_negative(
                &format!("profile.stages[{k}]."),
                &[
                    ("vm_throughput_rps", stage.vm_throughput_rps),
                    ("vm_slo_capacity_rps", stage.vm_slo_capacity_rps),
                    ("faas_cost_per_request", stage.faas_cost_per_request),
                    ("transfer_cost_per_request", stage.transfer_cost_per_request),
                ],
            )?;
            if stage.vm_throughput_rps <= 0.0 {
                return Err(format!("profile.stages[{k}].vm_throughput_rps must be positive"));
            }
        }
        if self.pool_rps.len() != n {
            return Err(format!("pool_rps has {} stages, the profile {n}", self.pool_rps.len()));
        }
        for (k, pool) in self.pool_rps.iter().enumerate() {
            if pool.len() > MAX_VMS as usize + 1 {
                return Err(format!("pool_rps[{k}]: more than {MAX_VMS} VMs"));
            }
            if pool.first() != Some(&0.0) || pool.windows(2).any(|w| !(w[1].is_finite() && w[1] >= w[0])) {
                return Err(format!("pool_rps[{k}] must start at 0 and never fall"));
            }
        }
        if !(1..=3600).contains(&self.plan_steps) {
            return Err(format!("plan_steps must be 1 to 3600, got {}", self.plan_steps));
        }
        if !(1..=1000).contains(&self.lookahead) {
            return Err(format!("lookahead must be 1 to 1000 intervals, got {}", self.lookahead));
        }
        if self.lookahead * self.plan_steps > MAX_PLANNED_STEPS {
            return Err(format!(
                "lookahead x plan_steps: {} steps planned per decision, more than {MAX_PLANNED_STEPS}",
                self.lookahead * self.plan_steps
            ));
        }
        if let Some(gate) = &self.gate {
            if gate.window < 2 || gate.hold == 0 || !(0.0..=1.0).contains(&gate.threshold) {
                return Err(format!(
                    "gate: window must be 2 or more, hold 1 or more, threshold 0 to 1 (got {}, {}, {})",
                    gate.window, gate.hold, gate.threshold
                ));
            }
            let rule = &gate.fallback;
            let not_negative = [rule.tolerance, rule.stabilisation_s, rule.forecast_s];
            let utilisation = rule.target_utilisation;
            if !(utilisation > 0.0 && utilisation.is_finite() && not_negative.iter().all(|x| *x >= 0.0)) {
                return Err("gate.fallback: utilisation must be positive, the rest not negative".into());
            }
        }
        if let Some(seasonal) = &self.seasonal {
            let SeasonalConfig { window, min_lag, max_lag, correlation, periods, min_window } = *seasonal;
            if window < 2 || min_lag == 0 || min_lag > max_lag || max_lag > MAX_PERIOD {
                return Err(format!(
                    "seasonal: window must be 2 or more and 1 <= min_lag <= max_lag <= {MAX_PERIOD} \
                     (got {window}, {min_lag}, {max_lag})"
                ));
            }
            if !(correlation > 0.0 && correlation <= 1.0) {
                return Err(format!("seasonal.correlation must be above 0 and at most 1, got {correlation}"));
            }
            if !(1..=MAX_REPLAYED_PERIODS).contains(&periods) {
                return Err(format!("seasonal.periods must be 1 to {MAX_REPLAYED_PERIODS}, got {periods}"));
            }
            if let Some(least) = min_window.filter(|&m| !(2..=window).contains(&m)) {
                return Err(format!("seasonal.min_window must be 2 to the window ({window}), got {least}"));
            }
        }
        Ok(())
    }
}

/// The first of `fields` (named after `prefix`) that is negative or not finite, as an error.
fn not_negative(prefix: &str, fields: &[(&str, f64)]) -> Result<(), String> {
    match fields.iter().find(|(_, v)| !(v.is_finite() && *v >= 0.0)) {
        Some((field, value)) => Err(format!("{prefix}{field} must be finite and not negative, got {value}")),
        None => Ok(()),
    }
}

/// The last `capacity` values of a series, oldest first, in fixed memory.
#[derive(Clone, Debug)]
pub struct RecentRates {
    values: Vec<f64>,
    len: usize,
}

impl RecentRates {
    /// Room for `capacity` values.
    pub fn new(capacity: usize) -> Self {
        Self { values: vec![0.0; capacity], len: 0 }
    }

    /// Adds the newest value, dropping the oldest when full.
    pub fn push(&mut self, x: f64) {
        if self.len < self.values.len() {
            self.values[self.len] = x;
            self.len += 1;
        } else if let Some(last) = self.values.len().checked_sub(1) {
            self.values.copy_within(1.., 0);
            self.values[last] = x;
        }
    }

    /// The values held, oldest first.
    pub fn values(&self) -> &[f64] {
        &self.values[..self.len]
    }

    /// Whether it holds `capacity` values.
    pub fn is_full(&self) -> bool {
        self.len == self.values.len()
    }

    /// Forgets every value.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

/// How much `rates` jitter rather than trend: `1 - |net change| / total variation` (0 for a
/// monotone series, near 1 for noise around a level).
pub fn noise(rates: &[f64]) -> f64 {
    let total: f64 = rates.windows(2).map(|w| (w[1] - w[0]).abs()).sum();
    match (rates.first(), rates.last()) {
        (Some(first), Some(last)) if total > 0.0 => 1.0 - (last - first).abs() / total,
        _ => 0.0,
    }
}

/// Decides, from stage 1's rate each interval, whether a fallback decides the interval: while the
/// last `window` rates are noisier than `threshold`, switching either way only once `hold`
/// consecutive intervals call for it.
#[derive(Clone, Debug)]
pub struct NoiseGate {
    threshold: f64,
    hold: usize,
    rates: RecentRates,
    handing_over: bool,
    disagreeing: usize,
}

impl NoiseGate {
    /// A gate over `window` rates (at least 1), switching after `hold` intervals (at least 1).
    pub fn new(window: usize, threshold: f64, hold: usize) -> Self {
        let rates = RecentRates::new(window.max(1));
        Self { threshold, hold: hold.max(1), rates, handing_over: false, disagreeing: 0 }
    }

    /// Reads the interval's stage-1 rate; whether the fallback decides this interval.
    pub fn hands_over(&mut self, rate: f64) -> bool {
        self.rates.push(rate);
        let noisy = self.rates.is_full() && noise(self.rates.values()) > self.threshold;
        self.disagreeing = if noisy == self.handing_over { 0 } else { self.disagreeing + 1 };
        if self.disagreeing >= self.hold {
            (self.handing_over, self.disagreeing) = (noisy, 0);
        }
        self.handing_over
    }

    /// Forgets the episode.
    pub fn reset(&mut self) {
        self.rates.clear();
        (self.handing_over, self.disagreeing) = (false, 0);
    }
}

/// A forecaster MLP with its buffers: the next rates of a stage from its last ones.
#[derive(Clone, Debug)]
pub struct RateForecaster {
    model: Mlp,
    input: Vec<f32>,
    scratch: Vec<f32>,
    ratios: Vec<f32>,
    mean: f64,
}

impl RateForecaster {
    /// Wraps a checked model of 2 or more inputs and 1 or more outputs.
    pub fn new(model: Mlp) -> Result<Self, String> {
        model.check()?;
        if model.inputs() < 2 || model.outputs() == 0 {
            return Err("reads 2 or more rates and forecasts 1 or more".into());
        }
        let (input, scratch) = (vec![0.0; model.inputs()], vec![0.0; 2 * model.max_width()]);
        let ratios = vec![0.0; model.outputs()];
        Ok(Self { model, input, scratch, ratios, mean: 0.0 })
    }

    /// Rates it reads.
    pub fn history(&self) -> usize {
        self.model.inputs()
    }

    /// Forecasts from the last [`Self::history`] of `past` (oldest first); false, with no forecast,
    /// while `past` is shorter, averages under [`QUIET_RATE`], or ends under it: a load that has
    /// just gone silent reads as ratios of zero to a mean the load that ended sets, a shape the
    /// network extrapolates into a rise that the silence gives no sign of.
    pub fn update(&mut self, past: &[f64]) -> bool {
        let history = self.history();
        let Some(window) = past.len().checked_sub(history).map(|start| &past[start..]) else {
            return false;
        };
        let mean = window.iter().sum::<f64>() / history as f64;
        if mean < QUIET_RATE || window[history - 1] < QUIET_RATE {
            return false;
        }
        for (x, r) in self.input.iter_mut().zip(window) {
            *x = (r / mean) as f32;
        }
        self.model.forward(&self.input, &mut self.scratch, &mut self.ratios);
        self.mean = mean;
        true
    }

    /// The rate `h` intervals after the last forecast was made (0: the interval about to start),
    /// its last lead held beyond its reach.
    pub fn rate(&self, h: usize) -> f64 {
        f64::from(self.ratios[h.min(self.ratios.len() - 1)]) * self.mean
    }
}

/// One stage's forecasting state.
#[derive(Clone, Debug)]
struct StageState {
    costs: PlanCosts,
    past: RecentRates,
}

/// The gate and the rule it hands to.
#[derive(Clone, Debug)]
struct Fallback {
    gate: NoiseGate,
    rule: Hpa,
    action: Action,
}

/// A replayed period: the stage whose past is replayed, the lags of its periods, and the factor
/// applied.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Replay {
    /// The stage whose past rates are replayed.
    pub stage: usize,
    /// The lags, in intervals, of the periods averaged (the period first).
    pub lags: ReplayedLags,
    /// The factor applied to the replayed rates.
    pub scale: f64,
}

/// Stage 1's periods and its rate now, while it repeats and is not quiet: what later stages
/// replay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrontPeriod {
    lags: ReplayedLags,
    rate: f64,
}

impl Replay {
    /// The periods stage `k` replays, its rate now being `measured`: for a later stage, stage 1's
    /// at `k`'s share of stage 1's rate while `front` says stage 1 repeats; else (and always for
    /// stage 1) its own, if `own_periods` finds it repeating ([`replayed_lags`]).
    pub fn of_stage(
        k: usize,
        measured: f64,
        front: Option<FrontPeriod>,
        own_periods: impl FnOnce() -> Option<ReplayedLags>,
    ) -> Option<Self> {
        match front {
            Some(FrontPeriod { lags, rate }) if k > 0 => {
                Some(Self { stage: 0, lags, scale: measured / rate })
            }
            _ => own_periods().map(|lags| Self { stage: k, lags, scale: 1.0 }),
        }
    }

    /// What stage 1's replay, if any, leaves for later stages when its rate now is `measured`:
    /// nothing while stage 1 is quiet, whose share of a near-zero rate is noise.
    pub fn front(replay: Option<Self>, measured: f64) -> Option<FrontPeriod> {
        replay.filter(|_| measured >= QUIET_RATE).map(|r| FrontPeriod { lags: r.lags, rate: measured })
    }

    /// The replayed rate `h` intervals ahead: the mean over the replayed periods of the replayed
    /// stage's `past` rate (oldest first, at least the longest lag of them) at the same phase.
    pub fn rate(&self, past: &[f64], h: usize) -> f64 {
        let (n, phase) = (past.len(), h % self.lags.period());
        let lags = self.lags.lags();
        let sum: f64 = lags.iter().map(|lag| past[n - lag + phase]).sum();
        sum / lags.len() as f64 * self.scale
    }
}

/// A loaded, validated planner with its buffers.
#[derive(Clone, Debug)]
pub struct ForecastPlanner {
    file: ForecastPlannerFile,
    name: String,
    stages: Vec<StageState>,
    forecaster: RateForecaster,
    fallback: Option<Fallback>,
    memory: PlanMemory,
    future: Vec<u64>,
    interval: usize,
}

impl ForecastPlanner {
    /// Validates an in-memory planner file.
    pub fn new(file: ForecastPlannerFile) -> Result<Self, String> {
        file.check()?;
        let profile = &file.profile;
        let step_s = profile.interval_s / file.plan_steps as f64;
        let history = file.forecaster.inputs().max(file.seasonal.as_ref().map_or(0, SeasonalConfig::history));
        let stages = (0..profile.stages.len())
            .map(|k| StageState {
                costs: PlanCosts::of_stage(profile, k, step_s, &file.pool_rps[k]),
                past: RecentRates::new(history),
            })
            .collect();
        let forecaster =
            RateForecaster::new(file.forecaster.clone()).map_err(|e| format!("forecaster: {e}"))?;
        let fallback = file.gate.as_ref().map(|g| Fallback {
            gate: NoiseGate::new(g.window, g.threshold, g.hold),
            rule: Hpa::new("tuned-hpa", profile.clone(), g.fallback.clone()),
            action: Action::faas_only(profile.stages.len()),
        });
        let future = Vec::with_capacity(file.lookahead * file.plan_steps);
        let name = "learned".to_string();
        Ok(Self {
            file,
            name,
            stages,
            forecaster,
            fallback,
            memory: PlanMemory::default(),
            future,
            interval: 0,
        })
    }

    /// Parses and validates the text of a planner file; errors name `name` and the place.
    pub fn parse(text: &str, name: &str) -> Result<Self, LoadError> {
        let error = |reason| LoadError { path: name.to_string(), reason };
        let file: ForecastPlannerFile = ron::from_str(text).map_err(|e| {
            error(format!("line {}, column {}: {}", e.span.start.line, e.span.start.col, e.code))
        })?;
        Self::new(file).map_err(error)
    }

    /// The file it was loaded from.
    pub fn file(&self) -> &ForecastPlannerFile {
        &self.file
    }

    /// Calls it `name` in reports.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// A stage's forecast rate `h` intervals ahead, from the rate of the interval just ended,
    /// `measured`: its periods replayed if it repeats, else the learned forecast if it made one,
    /// else the measured rate itself.
    fn forecast(&self, measured: f64, h: usize, learned: bool, replay: Option<Replay>) -> f64 {
        let rate = match replay {
            Some(replay) => replay.rate(self.stages[replay.stage].past.values(), h),
            None if learned => self.forecaster.rate(h),
            None => measured,
        };
        rate.max(measured)
    }
}

impl Policy for ForecastPlanner {
    fn name(&self) -> &str {
        &self.name
    }

    fn n_stages(&self) -> Option<usize> {
        Some(self.stages.len())
    }

    fn reset(&mut self) {
        for stage in &mut self.stages {
            stage.past.clear();
        }
        if let Some(fallback) = &mut self.fallback {
            fallback.gate.reset();
            fallback.rule.reset();
        }
        self.interval = 0;
    }

    fn act(&mut self, obs: &Observation, action: &mut Action) {
        let n = self.stages.len();
        action.stages.resize(n, StageAction::FAAS_ONLY);
        let (steps, lookahead, margin) = (self.file.plan_steps, self.file.lookahead, self.file.margin);
        let step_s = self.file.profile.interval_s / steps as f64;
        let mut front = None;
        for k in 0..n {
            let measured = f64::from(obs.stage(k, StageFeature::ArrivalRate).max(0.0));
            if self.interval > 0 {
                self.stages[k].past.push(measured);
            }
            let past = self.stages[k].past.values();
            let learned = self.forecaster.update(past);
            let seasonal = self.file.seasonal.as_ref();
            let replay =
                Replay::of_stage(k, measured, front, || seasonal.and_then(|c| replayed_lags(past, c)));
            if k == 0 {
                front = Replay::front(replay, measured);
            }
            let mut future = std::mem::take(&mut self.future);
            future.clear();
            for h in 0..lookahead {
                let count = (self.forecast(measured, h, learned, replay) * step_s * margin).round() as u64;
                future.extend(std::iter::repeat_n(count, steps));
            }
            let costs = &mut self.stages[k].costs;
            costs.initial = obs.committed_vms(k).min(costs.max_vms);
            let plan = self.memory.plan(&future, steps, costs);
            let vm_target = plan.iter().take(costs.lead + 1).copied().max().unwrap_or(0);
            let ready = obs.stage(k, StageFeature::VmsReady).max(0.0) as usize;
            let pool = &self.file.pool_rps[k];
            let vm_rate_limit = self
                .file
                .cap_vm_offers
                .then(|| pool.get(ready).or(pool.last()).copied().unwrap_or(0.0) as f32);
            action.stages[k] = StageAction { vm_target, vm_share: 1.0, vm_rate_limit };
            self.future = future;
        }
        if let Some(fallback) = &mut self.fallback {
            // The rule acts every interval, so its state (scale-in window, trend) is current
            // whenever it takes over.
            fallback.rule.act(obs, &mut fallback.action);
            let rate = f64::from(obs.stage(0, StageFeature::ArrivalRate).max(0.0));
            // A load that repeats is shape however much its last rates jitter: the replay,
            // which boots ahead of the next edge, keeps it.
            if fallback.gate.hands_over(rate) && front.is_none() {
                action.stages.clone_from(&fallback.action.stages);
            }
        }
        self.interval += 1;
    }
}

/// A trained policy file of either kind: an exported actor (`LearnedPolicy(...)`, what `serflow
/// train` exports) or a forecast planner (`ForecastPlannerPolicy(...)`).
#[derive(Clone, Debug)]
pub enum TrainedPolicy {
    /// An exported PPO actor.
    Actor(Box<Learned>),
    /// A learned-forecast planner.
    Planner(Box<ForecastPlanner>),
}

impl TrainedPolicy {
    /// Reads and validates a policy file of either kind.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let name = path.as_ref().display().to_string();
        let text = std::fs::read_to_string(path.as_ref())
            .map_err(|e| LoadError { path: name.clone(), reason: format!("cannot read: {e}") })?;
        Ok(Self::parse(&text, &name)?.named(&name))
    }

    /// Parses and validates the text of a policy file of either kind, told apart by the name its
    /// first value carries; `name` is what errors call it.
    pub fn parse(text: &str, name: &str) -> Result<Self, LoadError> {
        let first = text
            .lines()
            .map(str::trim_start)
            .find(|line| !line.is_empty() && !line.starts_with("//") && !line.starts_with("#!"));
        if first.is_some_and(|line| line.starts_with("ForecastPlannerPolicy")) {
            ForecastPlanner::parse(text, name).map(|p| Self::Planner(Box::new(p)))
        } else {
            Learned::parse(text, name).map(|p| Self::Actor(Box::new(p)))
        }
    }

    /// Calls it `name` in reports.
    pub fn named(self, name: &str) -> Self {
        match self {
            Self::Actor(p) => Self::Actor(Box::new(p.named(name))),
            Self::Planner(p) => Self::Planner(Box::new(p.named(name))),
        }
    }

    /// Stages it controls.
    pub fn n_stages(&self) -> usize {
        match self {
            Self::Actor(p) => p.file().n_stages,
            Self::Planner(p) => p.file().profile.stages.len(),
        }
    }

    /// The policy, to drive.
    pub fn into_policy(self) -> Box<dyn Policy> {
        match self {
            Self::Actor(p) => p,
            Self::Planner(p) => p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::tests::{observation, profile};
    use crate::schema::GlobalFeature;

    /// A forecaster of `history` rates whose next rates are `ratios` times the window's mean.
    fn constant(history: usize, ratios: &[f32]) -> Mlp {
        let mut model = Mlp::zeros(&[history, 4, ratios.len()]);
        model.layers[1].biases = ratios.to_vec();
        model
    }

    /// One stage of 10 req/s VMs (10 s intervals, 100 s boots), planned 20 intervals ahead on
    /// `forecaster`, ungated.
    fn file(forecaster: Mlp) -> ForecastPlannerFile {
        ForecastPlannerFile {
            format_version: PLANNER_FORMAT_VERSION,
            profile: profile(1, 0.1, 10.0),
            pool_rps: vec![(0..=50).map(|n| 10.0 * f64::from(n)).collect()],
            cap_vm_offers: false,
            plan_steps: 1,
            lookahead: 20,
            margin: 1.0,
            forecaster,
            gate: None,
            seasonal: None,
            notes: String::new(),
        }
    }

    /// An observation of one stage at `rate` req/s with `vms` ready, in an interval that was billed.
    fn billed(rate: f32, vms: u32) -> Observation {
        let mut obs = observation(1, rate, vms);
        obs.set_global(GlobalFeature::CostRate, 1.0);
        obs
    }

    #[test]
    fn noise_is_zero_for_a_trend_and_near_one_for_jitter_around_a_level() {
        assert_eq!(noise(&[1.0, 2.0, 4.0, 7.0]), 0.0);
        assert_eq!(noise(&[5.0, 6.0, 5.0, 6.0, 5.0]), 1.0);
        assert!((noise(&[0.0, 2.0, 1.0, 3.0]) - 0.4).abs() < 1e-12, "net 3 over a variation of 5");
        assert_eq!(noise(&[4.0, 4.0]), 0.0, "a flat load neither trends nor jitters");
        assert_eq!(noise(&[]), 0.0);
    }

    #[test]
    fn a_period_is_found_where_the_rates_repeat_and_nowhere_else() {
        let config = SeasonalConfig::default();
        let square: Vec<f64> = (0..200).map(|i| if i % 30 < 15 { 100.0 } else { 400.0 }).collect();
        assert_eq!(period(&square, &config), Some(30));
        let sine: Vec<f64> =
            (0..200).map(|i| 500.0 + 200.0 * (f64::from(i) * std::f64::consts::TAU / 24.0).sin()).collect();
        assert_eq!(period(&sine, &config), Some(24));
        // A ramp correlates with itself at every lag without repeating; a flat load has nothing
        // to correlate; two periods are needed to see one.
        let ramp: Vec<f64> = (0..200).map(f64::from).collect();
        assert_eq!(period(&ramp, &config), None);
        assert_eq!(period(&[250.0; 200], &config), None);
        // A period is found one period and `min_window` rates in (two periods, without it); a
        // lag one short, which the rates reach first, already correlates 0.97 and stands in.
        assert_eq!(period(&sine[..52], &config), None, "lag 22 correlates 0.87");
        assert_eq!(period(&sine[..53], &config), Some(23));
        assert_eq!(period(&sine[..54], &config), Some(24), "a period and 30 rates");
        let two_periods = SeasonalConfig { min_window: None, ..config.clone() };
        assert_eq!(period(&sine[..45], &two_periods), None, "lag 22 at most");
        assert_eq!(period(&sine[..48], &two_periods), Some(24));
        let long = SeasonalConfig { max_lag: 20, ..config.clone() };
        assert_eq!(period(&square, &long), None, "the period is longer than looked for");
        let mut noisy = square.clone();
        noisy.iter_mut().enumerate().for_each(|(i, x)| *x += (i * i * 7919 % 1009) as f64);
        assert_eq!(period(&noisy, &config), None, "noise the period does not explain");
    }

    #[test]
    fn recent_rates_keep_the_last_ones_oldest_first() {
        let mut recent = RecentRates::new(3);
        (1..=2).for_each(|x| recent.push(f64::from(x)));
        assert_eq!((recent.values(), recent.is_full()), (&[1.0, 2.0][..], false));
        (3..=5).for_each(|x| recent.push(f64::from(x)));
        assert_eq!((recent.values(), recent.is_full()), (&[3.0, 4.0, 5.0][..], true));
        recent.clear();
        assert!(recent.values().is_empty());
    }

    #[test]
    fn the_forecast_scales_by_the_window_mean_and_holds_its_last_lead() {
        let mut forecaster = RateForecaster::new(constant(3, &[1.0, 2.0, 3.0])).unwrap();
        assert!(forecaster.update(&[10.0, 30.0, 20.0, 40.0]), "the last three average 30");
        let rates: Vec<f64> = (0..5).map(|h| forecaster.rate(h)).collect();
        assert_eq!(rates, [30.0, 60.0, 90.0, 90.0, 90.0]);
        assert!(!forecaster.update(&[10.0, 30.0]), "a history shorter than the model's");
        assert!(!forecaster.update(&[0.5, 0.2, 0.9]), "a near-silent stage");
        assert!(!forecaster.update(&[90.0, 60.0, 0.5]), "a stage gone silent, busy as its mean is");
        assert!(forecaster.update(&[0.0, 0.0, 3.0]), "and one that has just woken");
        assert!(RateForecaster::new(constant(1, &[1.0])).is_err(), "one rate is no history");
    }

    #[test]
    fn a_gate_switches_after_its_hold_and_never_on_a_trend() {
        let jitter = [100.0, 140.0, 90.0, 150.0, 95.0, 145.0];
        let mut gate = NoiseGate::new(4, 0.5, 2);
        let handed: Vec<bool> = jitter.iter().map(|&r| gate.hands_over(r)).collect();
        // Noisy from the fourth rate (a full window); held for two intervals.
        assert_eq!(handed, [false, false, false, false, true, true]);
        let mut gate = NoiseGate::new(4, 0.5, 1);
        assert!((0..10).all(|i| !gate.hands_over(100.0 + 10.0 * f64::from(i))), "a ramp is shape");
        gate.reset();
        let handed: Vec<bool> = jitter.iter().map(|&r| gate.hands_over(r)).collect();
        assert_eq!(handed, [false, false, false, true, true, true], "a reset forgets the ramp");
    }

    #[test]
    fn it_plans_vms_for_the_forecast_and_the_measured_rate_before_the_history_fills() {
        let run = |ratio: f32| {
            let mut planner = ForecastPlanner::new(file(constant(3, &[ratio]))).unwrap();
            let mut action = Action::faas_only(1);
            let targets: Vec<u32> = (0..6)
                .map(|_| {
                    planner.act(&billed(100.0, 10), &mut action);
                    action.stages[0].vm_target
                })
                .collect();
            (targets, action.stages[0])
        };
        let (flat, last) = run(1.0);
        // 100 req/s on 10 req/s VMs: 10, on the measured rate and on a forecast of the level.
        assert_eq!(flat, [10; 6]);
        assert_eq!((last.vm_share, last.vm_rate_limit), (1.0, None), "VMs are offered everything");
        let (rising, _) = run(2.0);
        // The first decision holds no measurement, so the history of three fills at the fourth;
        // the forecast then doubles the load.
        assert_eq!(rising, [10, 10, 10, 20, 20, 20]);
        let (falling, _) = run(0.2);
        assert_eq!(falling[5], 10, "never below the measured rate");
        // A ramp before a history of 30 is held: the VMs the measured rate needs, not a trend's.
        let mut planner = ForecastPlanner::new(file(constant(30, &[1.0]))).unwrap();
        let mut action = Action::faas_only(1);
        let ramp: Vec<u32> = [100.0, 200.0, 300.0, 400.0]
            .iter()
            .map(|&rate| {
                planner.act(&billed(rate, 10), &mut action);
                action.stages[0].vm_target
            })
            .collect();
        assert_eq!(ramp, [10, 20, 30, 40]);
    }

    #[test]
    fn a_load_gone_silent_keeps_no_vms_for_the_rise_a_network_reads_in_it() {
        // A network that forecasts twice the window's mean: after ten intervals at 100 req/s
        // the window of three still averages 67 req/s when the load stops, and 33 req/s an
        // interval later.
        let stops = |i: usize| if i < 10 { 100.0 } else { 0.0 };
        let targets = first_targets(file(constant(3, &[2.0])), stops);
        assert_eq!(targets[3..10], [20; 7], "twice the busy load forecast");
        assert_eq!(targets[10..14], [0; 4], "nothing for the silence");
    }

    #[test]
    fn the_gate_hands_noisy_intervals_to_the_rule_and_a_reset_starts_over() {
        let mut with_gate = file(constant(3, &[3.0]));
        let rule = HpaConfig { target_utilisation: 0.5, ..HpaConfig::with_overflow() };
        with_gate.gate = Some(GateConfig { window: 3, threshold: 0.0, hold: 1, fallback: rule.clone() });
        let mut planner = ForecastPlanner::new(with_gate).unwrap();
        let mut hpa = Hpa::new("tuned-hpa", profile(1, 0.1, 10.0), rule);
        let (mut mine, mut theirs) = (Action::faas_only(1), Action::faas_only(1));
        for (i, rate) in [100.0, 120.0, 110.0, 130.0, 100.0].into_iter().enumerate() {
            let obs = billed(rate, 10);
            planner.act(&obs, &mut mine);
            hpa.act(&obs, &mut theirs);
            if i >= 2 {
                assert_eq!(mine, theirs, "interval {i}: a full window of jitter");
            } else {
                assert_ne!(mine, theirs, "interval {i}: the window is not full, the planner decides");
            }
        }
        planner.reset();
        planner.act(&billed(100.0, 10), &mut mine);
        assert_eq!(mine.stages[0].vm_target, 10, "the window is empty again: the planner decides");
    }

    #[test]
    fn a_load_that_repeats_keeps_the_planner_however_much_it_jitters() {
        // A 40-interval square wave whose rates alternate by 1 req/s: every flat stretch reads as
        // noise. Until the period is found (two periods in) the rule takes those intervals; from
        // then on the planner keeps every one, as if ungated.
        let jittered = |i: usize| if i % 40 < 20 { 100.0 } else { 300.0 } + (i % 2) as f32;
        let rule = HpaConfig { target_utilisation: 0.5, ..HpaConfig::with_overflow() };
        let gate = GateConfig { window: 6, threshold: 0.5, hold: 1, fallback: rule };
        let targets = |gate: Option<GateConfig>| {
            let seasonal = Some(forty_interval_periods());
            first_targets(ForecastPlannerFile { gate, seasonal, ..file(constant(3, &[1.0])) }, jittered)
        };
        let (gated, ungated) = (targets(Some(gate)), targets(None));
        assert_ne!(gated[..80], ungated[..80], "the rule decided the jitter before the period was found");
        assert_eq!(gated[80..], ungated[80..], "and none of it once the load repeats");
    }

    /// Stage 1's VM targets over 160 intervals of `rate(i)` req/s, 10 VMs ready throughout.
    fn first_targets(file: ForecastPlannerFile, rate: impl Fn(usize) -> f32) -> Vec<u32> {
        let mut planner = ForecastPlanner::new(file).unwrap();
        let mut action = Action::faas_only(1);
        (0..160)
            .map(|i| {
                planner.act(&billed(rate(i), 10), &mut action);
                action.stages[0].vm_target
            })
            .collect()
    }

    /// A seasonal test for the 40-interval square waves below: one period replayed, found after two.
    fn forty_interval_periods() -> SeasonalConfig {
        SeasonalConfig { window: 40, min_lag: 2, max_lag: 60, correlation: 0.9, periods: 1, min_window: None }
    }

    #[test]
    fn a_load_that_repeats_has_its_last_period_replayed() {
        // Twenty intervals at 100 req/s, twenty at 300: within a boot (10 intervals) of the busy
        // phase, a forecast of the level still plans for 100; the replayed period boots for 300.
        let square = |i: usize| if i % 40 < 20 { 100.0 } else { 300.0 };
        let seasonal = forty_interval_periods();
        let targets = |seasonal: Option<SeasonalConfig>| {
            first_targets(ForecastPlannerFile { seasonal, ..file(constant(3, &[1.0])) }, square)
        };
        let (replayed, level) = (targets(Some(seasonal.clone())), targets(None));
        let averaged = targets(Some(SeasonalConfig { periods: 3, ..seasonal }));
        assert_eq!(averaged, replayed, "periods that repeat exactly average to the last one");
        // Interval 95 measures the sixteenth quiet rate: the busy phase starts in five intervals.
        assert_eq!((level[95], replayed[95]), (10, 30), "the replay boots ahead of the busy phase");
        assert_eq!(level[100], 30);
        assert_eq!((level[80], replayed[80]), (23, 10), "and drains when the quiet phase is due");
        assert_eq!(replayed[..80], level[..80], "until two periods are seen, the forecaster plans");
    }

    #[test]
    fn only_a_later_stage_replays_a_busy_front_end() {
        let lags = |period| ReplayedLags::of(&[], period, &SeasonalConfig::default());
        let own = || Some(lags(4));
        let front = Replay::front(Some(Replay { stage: 0, lags: lags(6), scale: 1.0 }), 80.0);
        let second = Replay::of_stage(1, 20.0, front, own);
        assert_eq!(second, Some(Replay { stage: 0, lags: lags(6), scale: 0.25 }), "a quarter of stage 1's");
        let first = Replay::of_stage(0, 80.0, front, own);
        assert_eq!(first, Some(Replay { stage: 0, lags: lags(4), scale: 1.0 }), "stage 1 keeps its own");
        let quiet = Replay::front(Some(Replay { stage: 0, lags: lags(6), scale: 1.0 }), QUIET_RATE / 2.0);
        assert_eq!(quiet, None, "a quiet front end's share is noise");
        assert_eq!(
            Replay::of_stage(1, 20.0, quiet, own),
            Some(Replay { stage: 1, lags: lags(4), scale: 1.0 })
        );
        let past = [8.0, 16.0, 40.0, 80.0, 120.0, 160.0, 200.0];
        assert_eq!(second.unwrap().rate(&past, 1), 10.0, "one period before the interval after next");
    }

    #[test]
    fn older_periods_are_read_where_they_line_up_and_averaged() {
        let config = SeasonalConfig { periods: 3, ..SeasonalConfig::default() };
        let wave = |period: f64| -> Vec<f64> {
            (0..300).map(|i| 100.0 + 50.0 * (std::f64::consts::TAU * i as f64 / period).sin()).collect()
        };
        let whole = ReplayedLags::of(&wave(20.0), 20, &config);
        assert_eq!(whole.lags(), [20, 40, 60], "a whole period lines up at its multiples");
        // 20.5 intervals: two periods back is 41, three 61 or 62; `2 x 20` would be a period off
        // by an interval, `3 x 20` by one and a half.
        let fractional = ReplayedLags::of(&wave(20.5), 20, &config);
        assert_eq!(fractional.lags()[..2], [20, 41]);
        assert!([61, 62].contains(&fractional.lags()[2]), "{:?}", fractional.lags());
        let short = ReplayedLags::of(&wave(20.0)[..70], 20, &config);
        assert_eq!(short.lags(), [20, 40], "only what the rates hold with a period behind it");
        let one = ReplayedLags::of(&wave(20.0), 20, &SeasonalConfig { periods: 1, ..config });
        assert_eq!(one.lags(), [20]);
        // Phase h = 1 one, two and three periods back: 12 / 4 / 2 at scale 0.5.
        let mut past = vec![0.0; 61];
        (past[42], past[22], past[2]) = (12.0, 4.0, 2.0);
        let replay = Replay { stage: 0, lags: whole, scale: 0.5 };
        assert_eq!(replay.rate(&past, 1), 3.0, "the mean of the three, halved");
        assert_eq!(replay.rate(&past, 21), 3.0, "the same phase a period on");
    }

    #[test]
    fn a_later_stage_replays_the_front_ends_period_at_its_share_of_it_now() {
        // Stage 1 as above; stage 2 sees half of it, then, from interval 125 (a quiet phase), a
        // quarter: its own last busy phase says 150 req/s, stage 1's at its share now 75.
        let square = |i: usize| if i % 40 < 20 { 100.0 } else { 300.0 };
        let share = |i: usize| if i < 125 { 0.5 } else { 0.25 };
        let seasonal = forty_interval_periods();
        let one = file(constant(3, &[1.0]));
        let two = ForecastPlannerFile {
            profile: profile(2, 0.1, 10.0),
            pool_rps: vec![one.pool_rps[0].clone(); 2],
            seasonal: Some(seasonal.clone()),
            ..one.clone()
        };
        let mut planner = ForecastPlanner::new(two).unwrap();
        let mut action = Action::faas_only(2);
        let targets: Vec<[u32; 2]> = (0..160)
            .map(|i| {
                let mut obs = billed(square(i) as f32, 10);
                obs.set_stage(1, StageFeature::ArrivalRate, (square(i) * share(i)) as f32);
                planner.act(&obs, &mut action);
                [action.stages[0].vm_target, action.stages[1].vm_target]
            })
            .collect();
        // Alone, stage 2 replays its own last period, from before its share fell.
        let mut alone =
            ForecastPlanner::new(ForecastPlannerFile { seasonal: Some(seasonal), ..one }).unwrap();
        let alone: Vec<u32> = (0..160)
            .map(|i| {
                alone.act(&billed((square(i) * share(i)) as f32, 10), &mut action);
                action.stages[0].vm_target
            })
            .collect();
        assert_eq!((targets[135], alone[135]), ([30, 7], 15), "the busy phase due at 75 req/s, not 150");
        let second: Vec<u32> = targets.iter().map(|t| t[1]).collect();
        assert_eq!(second[..125], alone[..125], "while its share holds, either replay plans the same");
    }

    #[test]
    fn offers_are_capped_at_the_pool_where_the_balancer_does_not_spill() {
        let mut capped = file(constant(3, &[1.0]));
        capped.cap_vm_offers = true;
        let mut planner = ForecastPlanner::new(capped).unwrap();
        let mut action = Action::faas_only(1);
        planner.act(&billed(100.0, 7), &mut action);
        assert_eq!(action.stages[0].vm_rate_limit, Some(70.0), "what 7 ready VMs serve");
    }

    #[test]
    fn a_bad_file_is_refused_naming_the_field() {
        let good = file(constant(3, &[1.0]));
        type Edit = dyn Fn(&mut ForecastPlannerFile);
        let cases: [(&str, &Edit); 16] = [
            ("steps planned per decision", &|f| (f.lookahead, f.plan_steps) = (1000, 30)),
            ("profile.stages[0].max_vms: more than 10000", &|f| f.profile.stages[0].max_vms = u32::MAX),
            ("format_version 9", &|f| f.format_version = 9),
            ("profile.stages[0].vm_slo_capacity_rps must be finite and not negative, got -5", &|f| {
                f.profile.stages[0].vm_slo_capacity_rps = -5.0
            }),
            ("margin must be positive", &|f| f.margin = f64::NAN),
            ("pool_rps has 2 stages", &|f| f.pool_rps.push(vec![0.0])),
            ("pool_rps[0] must start at 0", &|f| f.pool_rps[0][3] = 1.0),
            ("lookahead must be 1 to 1000", &|f| f.lookahead = 0),
            ("plan_steps must be 1 to 3600", &|f| f.plan_steps = 0),
            ("forecaster: reads 2 or more", &|f| f.forecaster = constant(1, &[1.0])),
            ("seasonal: window must be 2 or more and 1 <= min_lag", &|f| {
                f.seasonal = Some(SeasonalConfig { min_lag: 0, ..SeasonalConfig::default() })
            }),
            ("seasonal.correlation must be above 0", &|f| {
                f.seasonal = Some(SeasonalConfig { correlation: 1.5, ..SeasonalConfig::default() })
            }),
            ("seasonal.periods must be 1 to 8", &|f| {
                f.seasonal = Some(SeasonalConfig { periods: 0, ..SeasonalConfig::default() })
            }),
            ("seasonal.periods must be 1 to 8, got 9", &|f| {
                f.seasonal = Some(SeasonalConfig { periods: 9, ..SeasonalConfig::default() })
            }),
            ("seasonal.min_window must be 2 to the window (90), got 91", &|f| {
                f.seasonal = Some(SeasonalConfig { min_window: Some(91), ..SeasonalConfig::default() })
            }),
            ("gate: window must be 2 or more", &|f| {
                f.gate =
                    Some(GateConfig { window: 1, threshold: 0.5, hold: 1, fallback: HpaConfig::vm_only() })
            }),
        ];
        for (expected, edit) in cases {
            let mut bad = good.clone();
            edit(&mut bad);
            let err = ForecastPlanner::new(bad).unwrap_err();
            assert!(err.contains(expected), "{err} (expected {expected})");
        }
        let err = ForecastPlanner::parse("ForecastPlannerPolicy(format_version: 1)", "p.ron").unwrap_err();
        assert!(err.to_string().starts_with("p.ron: line 1, column"), "{err}");
    }

    #[test]
    fn a_policy_file_of_either_kind_loads_as_its_kind() {
        let text = format!("// made by a test\n{}", file(constant(3, &[1.0])).to_ron());
        let planner = TrainedPolicy::parse(&text, "p.ron").unwrap();
        assert!(matches!(planner, TrainedPolicy::Planner(_)) && planner.n_stages() == 1);
        let ForecastPlannerFile { .. } = ForecastPlanner::parse(&text, "p.ron").unwrap().file().clone();
        let older = text.replace("    seasonal: None,\n", "");
        assert_ne!(older, text, "the file names the field");
        let older = ForecastPlanner::parse(&older, "p.ron").unwrap();
        assert_eq!(older.file().seasonal, None, "a file written before the replay loads without it");
        let actor = crate::learned::tests::tiny().to_ron();
        assert!(matches!(TrainedPolicy::parse(&actor, "a.ron").unwrap(), TrainedPolicy::Actor(_)));
        let err = TrainedPolicy::parse("Nonsense(", "x.ron").unwrap_err();
        assert!(err.to_string().starts_with("x.ron: line 1"), "{err}");
    }
}
