//! The oracle's planner fed a forecast instead of the future: how much of the oracle's saving a
//! policy that cannot see ahead could reach with a given forecaster. This is the experiment behind
//! the lookahead and forecast tables of `checkpoints/production/report.md`; the one it found best,
//! the learned forecast with the seasonal replay, gated to tuned-hpa, ships as
//! `serflow_policies::planner` (which, running without an episode's end, plans its full lookahead
//! to the last interval, where this harness plans only up to the end of the replay).
//!
//! Every interval, for every stage, it re-plans with the oracle's dynamic programme from the VMs
//! committed now over the next `--lookahead` intervals of a forecast, and asks for the most VMs the
//! plan needs within one boot. VMs are offered every request (FaaS takes what they cannot).
//!
//! ```sh
//! cargo run --release -p serflow-env --example forecast_planner -- --forecast truth,holt --margins 1.0,1.2
//! cargo run --release -p serflow-env --example forecast_planner -- \
//!     --trace ../shared/traces/square_load.txt --time-scale 4.5 --duration 3500 --forecast seasonal
//! cargo run --release -p serflow-env --example forecast_planner -- \
//!     --forecast seasonal --forecaster checkpoints/production/planner.ron --margins 1.3 --gate 12,0.5
//! cargo run --release -p serflow-env --example forecast_planner -- \
//!     --forecast learned --forecaster checkpoints/production/planner.ron --margins 1.2 \
//!     --gate 12,0.5 --scale-in 1,6
//! cargo run --release -p serflow-env --example forecast_planner -- \
//!     --trace ../shared/traces/wits_logs.txt --time-scale 0.11 --duration 3500 \
//!     --forecast truth,interval-truth --margins 1.0,1.1,1.2
//! ```
//!
//! Forecasts (`--forecast`, comma-separated):
//! - `truth`: the stage's real arrivals (its FaaS-only replay, as the oracle plans on): with a
//!   short `--lookahead`, how much foresight the oracle's saving takes.
//! - `interval-truth`: the same arrivals averaged over each interval, so evenly spread within it:
//!   a perfect forecast of the rates a controller measures, blind to the bursts inside an
//!   interval, and so the most any forecast of the measured rates could give this planner.
//! - `holt`: Holt's linear trend of the stage's interval rate, never below the measured rate
//!   (`predictive-hpa`'s forecast).
//! - `seasonal`: the rate one period before where the stage's rates repeat (the lag of 6-180
//!   intervals at which the last 90 rates correlate 0.9 or more with themselves, past a lag at
//!   which they did not: `serflow_policies::planner::period`; the mean of the last
//!   `--replayed-periods` periods, 3 unless said (1: the planner before the average), each
//!   re-aligned to its own correlation peak; a lag is tried once `--min-window` rates, 30 unless
//!   said, follow it: `lag` waits for as many as the lag, two periods, as the planner before;
//!   a later stage replays stage 1's periods, scaled by
//!   its share of stage 1's rate now, where stage 1's rates repeat), else
//!   Holt's (the learned forecast, given `--forecaster`: the shipped planner's forecast); never
//!   below the measured rate.
//! - `better`: per stage, whichever of `seasonal` and the forecast it falls back on missed less
//!   lately one boot ahead (absolute errors of the forecasts 10 intervals ahead, decayed by 0.9
//!   an interval).
//! - `learned`: the forecaster of the planner file `--forecaster FILE` (`serflow fit-planner`) from the
//!   stage's last interval rates over their mean to its next rates over that mean; the measured
//!   rate until the history is full or while its mean is under 1 req/s (Holt's trend with
//!   `--warm-up holt`, as the shipped planner before); never below the measured rate.
//!
//! Each forecast but `truth` is multiplied by each of `--margins` before planning; a replayed
//! period (`seasonal`, `better`) by `--replay-margin` instead, where given.
//!
//! `--error-quantiles N` plans over what the forecast (any but `truth` and `interval-truth`) has
//! missed instead of its point: per stage, the last N measured rates over their forecast one VM
//! boot before (N at least 10); each planned interval's steps are its forecast times as many
//! quantiles of those ratios (the deciles at 1-s steps), once 10 are known, so the plan prices
//! misses as the oracle prices the seconds of an interval.
//!
//! `--gate WINDOW,THRESHOLD[,HOLD]` hands an interval to `--fallback` (a policy name, `tuned-hpa`
//! unless said) while stage 1's last WINDOW measured rates are noise rather than shape
//! (`1 - |net change| / total variation` above THRESHOLD), switching either way only once HOLD
//! consecutive intervals (1 unless said) call for it; the fallback acts every interval, so it
//! takes over with its state current. While stage 1 replays a period the planner keeps even a
//! noisy interval, as the shipped one does (`--periodic-noise hand-over`: as it did before).
//!
//! `--scale-in INTERVALS[,NOISY]` drains a VM only once the planner's last INTERVALS targets did
//! without it (1 unless said: the plan's target as it stands); with NOISY and `--gate`, the gate
//! no longer hands noisy intervals over but lengthens the planner's window to NOISY while it
//! reads noise. Each line reports the mean cost, attainment and VM-hours
//! over the seeds, and the mean Pearson r between stage 1's VMs and its rate (`eval --json`'s
//! measure of adaptation).

use rayon::prelude::*;
use serflow_env::comparison::{StageArrivals, pearson, stage_arrivals};
use serflow_env::profile::{pool_capacity, profile};
use serflow_env::registry::PolicyRegistry;
use serflow_env::{ScenarioOptions, run_episode, seeds};
use serflow_policies::SystemProfile;
use serflow_policies::baselines::{PlanCosts, PoolCapacity, Trend, plan_stage};
use serflow_policies::planner::{
    FrontPeriod, MAX_REPLAYED_PERIODS, NoiseGate, RateForecaster, Replay, SeasonalConfig, replayed_lags,
};
use serflow_policies::policy::Policy;
use serflow_policies::schema::{Action, GlobalFeature, Observation, StageAction, StageFeature};
use std::collections::VecDeque;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Forecast {
    Truth,
    IntervalTruth,
    Holt,
    Seasonal,
    Better,
    Learned,
}

impl Forecast {
    fn parse(name: &str) -> Result<Self, String> {
        Ok(match name {
            "truth" => Self::Truth,
            "interval-truth" => Self::IntervalTruth,
            "holt" => Self::Holt,
            "seasonal" => Self::Seasonal,
            "better" => Self::Better,
            "learned" => Self::Learned,
            _ => {
                return Err(format!(
                    "--forecast: `{name}` is not one of truth, interval-truth, holt, seasonal, better, \
                     learned"
                ));
            }
        })
    }
}

/// How far ahead `better` scores the two forecasts, in intervals (about one VM boot).
const SCORED_LEAD: usize = 10;
/// Per-interval decay of `better`'s error sums.
const ERROR_DECAY: f64 = 0.9;

/// Forecast errors a stage needs before it plans over their quantiles.
const MIN_ERRORS: usize = 10;

/// The `steps` quantiles (at the middle of each of `steps` equal shares) of a stage's forecast
/// errors, once it has `MIN_ERRORS` of them: the steps of a planned interval are its forecast
/// times these, so the plan prices the misses the forecast has made lately.
fn quantiles(errors: &VecDeque<f64>, steps: usize) -> Option<Vec<f64>> {
    if errors.len() < MIN_ERRORS {
        return None;
    }
    let mut sorted: Vec<f64> = errors.iter().copied().collect();
    sorted.sort_by(f64::total_cmp);
    Some((0..steps).map(|j| sorted[(2 * j + 1) * sorted.len() / (2 * steps)]).collect())
}

/// What the planner does while stage 1's load is noise rather than shape.
enum WhenNoisy {
    /// Hands the interval to another policy.
    Fallback(Box<dyn Policy>),
    /// Plans as ever, but drains only what its last this many targets all spared.
    ScaleIn(usize),
}

/// Reads stage 1's load as noise or shape, and says what to do while it is noise.
struct Gate {
    when_noisy: WhenNoisy,
    gate: NoiseGate,
    /// Intervals handed to the fallback, or kept on the noisy scale-in window.
    gated: usize,
}

/// One stage's forecasting state.
#[derive(Clone, Default)]
struct StageForecast {
    trend: Trend,
    /// `(interval forecast, holt, seasonal)`: forecasts `better` has yet to score.
    pending: Vec<(usize, f64, f64)>,
    /// Decayed absolute errors of `(holt, seasonal)`.
    errors: (f64, f64),
    /// `(interval forecast, rate)`: forecasts one lead ahead whose error is yet to be seen.
    lead_pending: VecDeque<(usize, f64)>,
    /// The last measured rates over their forecast one lead before, newest last.
    lead_errors: VecDeque<f64>,
}

struct ForecastPlanner {
    forecast: Forecast,
    lookahead: usize,
    margin: f64,
    /// The margin on a replayed period's rates, where not `margin`.
    replay_margin: Option<f64>,
    /// How many of its last forecast errors (one lead ahead) a stage plans over, where any: each
    /// interval's steps are its forecast times those errors' quantiles instead of the forecast.
    error_window: Option<usize>,
    /// When a stage's load repeats, and how many of its periods the replay averages.
    seasonal: SeasonalConfig,
    /// Whether Holt's trend, not the measured rate, stands in for a model whose history is short.
    warm_up_holt: bool,
    /// Per stage: its planning prices and its arrivals per step over the episode (the `truth`
    /// forecast).
    costs: Vec<PlanCosts>,
    arrivals: Vec<Vec<u64>>,
    steps: usize,
    interval_s: f64,
    stages: Vec<StageForecast>,
    interval: usize,
    /// Intervals in which stage 1's forecast replayed a period.
    periodic: usize,
    /// Stage 1's period and rate this interval, while it repeats and is not quiet: the seasonal
    /// forecast of every later stage replays it.
    front: Option<FrontPeriod>,
    /// The `learned` forecast's model.
    forecaster: Option<RateForecaster>,
    gate: Option<Gate>,
    /// Whether the gate hands over noisy intervals while stage 1 replays a period, as the
    /// planner did before.
    periods_handed_over: bool,
    /// Per stage, its measured rate in every interval so far.
    past: Vec<Vec<f64>>,
    /// Per stage, its planned targets, newest last: the target is the highest of the last
    /// `scale_in` (a VM is drained only once that many plans in a row did without it).
    planned: Vec<VecDeque<u32>>,
    scale_in: usize,
}

impl ForecastPlanner {
    /// A planner for the episode whose stage arrivals are `replay`.
    fn new(
        profile: &SystemProfile,
        pools: &PoolCapacity,
        replay: &StageArrivals,
        forecast: Forecast,
        margin: f64,
        lookahead: usize,
        forecaster: Option<RateForecaster>,
    ) -> Self {
        let steps = replay.steps_per_interval;
        let n = profile.stages.len();
        let step_s = profile.interval_s / steps as f64;
        Self {
            forecast,
            lookahead,
            margin,
            replay_margin: None,
            error_window: None,
            seasonal: SeasonalConfig::default(),
            warm_up_holt: false,
            costs: (0..n).map(|k| PlanCosts::of_stage(profile, k, step_s, &pools.rps[k])).collect(),
            arrivals: (0..n).map(|k| replay.per_step.iter().map(|s| s[k]).collect()).collect(),
            steps,
            interval_s: profile.interval_s,
            stages: vec![StageForecast::default(); n],
            interval: 0,
            periodic: 0,
            front: None,
            forecaster,
            gate: None,
            periods_handed_over: false,
            past: vec![Vec::new(); n],
            planned: vec![VecDeque::new(); n],
            scale_in: 1,
        }
    }

    /// Drains a VM only once the last `intervals` plans did without it (HPA's scale-in
    /// stabilisation window, over the planner's own targets).
    fn with_scale_in(mut self, intervals: usize) -> Self {
        self.scale_in = intervals.max(1);
        self
    }

    /// Multiplies a replayed period's rates by `margin` instead of the forecasts' margin.
    fn with_replay_margin(mut self, margin: Option<f64>) -> Self {
        self.replay_margin = margin;
        self
    }

    /// Plans each interval's steps over the quantiles of the stage's last `window` forecast
    /// errors one lead ahead (as ratios of the rate to its forecast) times its forecast.
    fn with_error_quantiles(mut self, window: Option<usize>) -> Self {
        self.error_window = window;
        self
    }

    /// Averages the last `periods` periods in a replay instead of the shipped planner's number.
    fn with_replayed_periods(mut self, periods: usize) -> Self {
        self.seasonal.periods = periods;
        self
    }

    /// Measures a lag's correlation on at least `rates` rates (`None`: as many as the lag)
    /// instead of the shipped planner's number.
    fn with_min_window(mut self, rates: Option<usize>) -> Self {
        self.seasonal.min_window = rates;
        self
    }

    /// Lets Holt's trend stand in for the model while its history is short, as the shipped
    /// planner did before the measured rate did.
    fn with_holt_warm_up(mut self, holt: bool) -> Self {
        self.warm_up_holt = holt;
        self
    }

    /// The longest scale-in window the planner may use: the targets it keeps per stage.
    fn longest_scale_in(&self) -> usize {
        match &self.gate {
            Some(Gate { when_noisy: WhenNoisy::ScaleIn(noisy), .. }) => self.scale_in.max(*noisy),
            _ => self.scale_in,
        }
    }

    /// Lets the gate hand noisy intervals over while stage 1 replays a period too.
    fn with_periods_handed_over(mut self, handed_over: bool) -> Self {
        self.periods_handed_over = handed_over;
        self
    }

    /// Does `when_noisy` while stage 1's last `window` rates are noisier than `threshold`,
    /// switching either way only after `hold` consecutive intervals call for it.
    fn gated(mut self, when_noisy: WhenNoisy, window: usize, threshold: f64, hold: usize) -> Self {
        self.gate = Some(Gate { when_noisy, gate: NoiseGate::new(window, threshold, hold), gated: 0 });
        self
    }

    /// Stage `k`'s forecast rates for the next `lookahead` intervals (the first: the one about to
    /// start), and the margin to multiply them by. `measured` is the rate of the interval just
    /// ended, which joins the stage's past rates (the seasonal and learned forecasts read them);
    /// `billed` whether that interval cost anything, the shipped action set's test that the
    /// observation holds a measurement.
    fn forecast_rates(&mut self, k: usize, measured: f64, billed: bool) -> (Vec<f64>, f64) {
        if self.interval > 0 {
            self.past[k].push(measured);
        }
        let past = &self.past[k];
        let forecaster = self.forecaster.as_mut().filter(|_| self.forecast != Forecast::Holt);
        // With a model, the measured rate stands in for it while its history is short (as in the
        // shipped planner), unless `--warm-up holt`.
        let warm_up_measured = forecaster.is_some() && !self.warm_up_holt;
        let learned = forecaster.and_then(|f| f.update(past).then_some(&*f));
        let state = &mut self.stages[k];
        if billed {
            state.trend.update(measured);
        }
        // The forecast the seasonal one stands beside: the learned one when it has a model and
        // a full history, else the measured rate or Holt's trend.
        let holt = |h: usize| match learned {
            Some(forecaster) => forecaster.rate(h).max(measured),
            None if warm_up_measured => measured,
            None => measured.max(state.trend.forecast((h + 1) as f64)),
        };
        // Stage 1's period, at this stage's share of stage 1's rate, else the stage's own.
        let replay = Replay::of_stage(k, measured, self.front, || replayed_lags(past, &self.seasonal));
        if k == 0 {
            self.front = Replay::front(replay, measured);
        }
        let seasonal = |h: usize| replay.map_or(holt(h), |r| r.rate(&self.past[r.stage], h));
        let use_seasonal = match self.forecast {
            Forecast::Seasonal => replay.is_some(),
            Forecast::Better => {
                let n = past.len();
                for &(due, h, s) in state.pending.iter().filter(|p| p.0 < n) {
                    state.errors.0 = ERROR_DECAY * state.errors.0 + (h - past[due]).abs();
                    state.errors.1 = ERROR_DECAY * state.errors.1 + (s - past[due]).abs();
                }
                state.pending.retain(|p| p.0 >= n);
                state.pending.push((n + SCORED_LEAD, holt(SCORED_LEAD), seasonal(SCORED_LEAD)));
                replay.is_some() && state.errors.1 < state.errors.0
            }
            Forecast::Holt | Forecast::Truth | Forecast::IntervalTruth | Forecast::Learned => false,
        };
        if k == 0 && use_seasonal {
            self.periodic += 1;
        }
        let margin = if use_seasonal { self.replay_margin.unwrap_or(self.margin) } else { self.margin };
        let rates: Vec<f64> = (0..self.lookahead)
            .map(|h| if use_seasonal { seasonal(h).max(measured) } else { holt(h) })
            .collect();
        if let Some(window) = self.error_window {
            let n = self.past[k].len();
            let state = &mut self.stages[k];
            while let Some(&(due, forecast)) = state.lead_pending.front().filter(|p| p.0 < n) {
                state.lead_pending.pop_front();
                if forecast > 0.0 {
                    state.lead_errors.push_back(self.past[k][due] / forecast);
                }
            }
            state.lead_errors.drain(..state.lead_errors.len().saturating_sub(window));
            let lead = self.costs[k].lead.min(rates.len() - 1);
            state.lead_pending.push_back((n + lead, rates[lead]));
        }
        (rates, margin)
    }
}

impl Policy for ForecastPlanner {
    fn name(&self) -> &str {
        "forecast-planner"
    }

    fn reset(&mut self) {
        self.stages.iter_mut().for_each(|s| *s = StageForecast::default());
        (self.interval, self.periodic, self.front) = (0, 0, None);
        self.past.iter_mut().for_each(Vec::clear);
        self.planned.iter_mut().for_each(VecDeque::clear);
        if let Some(gate) = &mut self.gate {
            if let WhenNoisy::Fallback(fallback) = &mut gate.when_noisy {
                fallback.reset();
            }
            gate.gate.reset();
            gate.gated = 0;
        }
    }

    fn act(&mut self, obs: &Observation, action: &mut Action) {
        action.stages.resize(obs.n_stages(), StageAction::FAAS_ONLY);
        let steps = self.steps;
        let step_s = self.interval_s / steps as f64;
        let mut scale_in = self.scale_in;
        let mut fallback = None;
        if let Some(gate) = &mut self.gate {
            let noisy = gate.gate.hands_over(f64::from(obs.stage(0, StageFeature::ArrivalRate).max(0.0)));
            match &mut gate.when_noisy {
                // The fallback acts every interval, so its state (scale-in window, trend) is
                // current whenever it takes over.
                WhenNoisy::Fallback(policy) => {
                    let mut action = Action::faas_only(obs.n_stages());
                    policy.act(obs, &mut action);
                    fallback = Some(action).filter(|_| noisy);
                }
                WhenNoisy::ScaleIn(intervals) if noisy => {
                    scale_in = *intervals;
                    gate.gated += 1;
                }
                WhenNoisy::ScaleIn(_) => {}
            }
        }
        let kept = self.longest_scale_in();
        for k in 0..obs.n_stages() {
            let series = &self.arrivals[k];
            let start = (self.interval * steps).min(series.len());
            let end = ((self.interval + self.lookahead) * steps).min(series.len());
            let future: Vec<u64> = match self.forecast {
                Forecast::Truth => series[start..end].to_vec(),
                // Each future interval's true arrivals, spread evenly over its steps.
                Forecast::IntervalTruth => series[start..end]
                    .chunks(steps)
                    .flat_map(|interval| {
                        let rate = interval.iter().sum::<u64>() as f64 / interval.len() as f64;
                        std::iter::repeat_n((rate * self.margin).round() as u64, interval.len())
                    })
                    .collect(),
                Forecast::Holt | Forecast::Seasonal | Forecast::Better | Forecast::Learned => {
                    let measured = f64::from(obs.stage(k, StageFeature::ArrivalRate).max(0.0));
                    let billed = obs.global(GlobalFeature::CostRate) > 0.0;
                    let (rates, margin) = self.forecast_rates(k, measured, billed);
                    let spread = quantiles(&self.stages[k].lead_errors, steps);
                    (0..end - start)
                        .map(|i| {
                            let error = spread.as_ref().map_or(1.0, |q| q[i % steps]);
                            (rates[i / steps] * error * step_s * margin).round() as u64
                        })
                        .collect()
                }
            };
            let mut costs = self.costs[k].clone();
            costs.initial = obs.committed_vms(k).min(costs.max_vms);
            let plan = plan_stage(&future, steps, &costs);
            let planned = &mut self.planned[k];
            planned.push_back(plan.iter().take(costs.lead + 1).copied().max().unwrap_or(0));
            planned.drain(..planned.len().saturating_sub(kept));
            let vm_target = planned.iter().rev().take(scale_in).copied().max().unwrap_or(0);
            action.stages[k] = StageAction { vm_target, vm_share: 1.0, vm_rate_limit: None };
        }
        // As in the shipped planner, a load stage 1 replays keeps the planner however noisy.
        let replaying = self.front.is_some() && !self.periods_handed_over;
        if let Some(fallback) = fallback.filter(|_| !replaying) {
            *action = fallback;
            self.gate.iter_mut().for_each(|g| g.gated += 1);
        }
        self.interval += 1;
    }
}

/// One episode of a planner.
struct Outcome {
    report: serflow_env::EpisodeReport,
    /// Share of intervals in which stage 1's forecast replayed a period.
    periodic: f64,
    /// Share of intervals the gate handed to the fallback (or kept on its scale-in window).
    gated: f64,
    /// Pearson r between stage 1's committed VMs and its arrival rate (`eval --json`'s
    /// `first_stage_vms_vs_rate`).
    adapts: f64,
}

struct Args {
    options: ScenarioOptions,
    forecasts: Vec<Forecast>,
    margins: Vec<f64>,
    replay_margin: Option<f64>,
    error_window: Option<usize>,
    replayed_periods: usize,
    min_window: Option<usize>,
    warm_up_holt: bool,
    lookahead: usize,
    seeds: Vec<u64>,
    forecaster: Option<RateForecaster>,
    /// `(window, threshold, hold)` of the noise gate, and the policy it hands noisy intervals to.
    gate: Option<(usize, f64, usize)>,
    fallback: String,
    /// Whether noisy intervals are handed over while stage 1 replays a period.
    periods_handed_over: bool,
    /// The planner's scale-in window in intervals, and the one it keeps while the gate reads
    /// noise (instead of handing over to the fallback).
    scale_in: (usize, Option<usize>),
}

/// The `learned` forecast's model: the forecaster of a planner file (`serflow fit-planner`).
fn load_forecaster(path: &str) -> Result<RateForecaster, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: cannot read: {e}"))?;
    let planner = serflow_policies::ForecastPlanner::parse(&text, path).map_err(|e| e.to_string())?;
    RateForecaster::new(planner.file().forecaster.clone()).map_err(|e| format!("{path}: forecaster: {e}"))
}

/// Whether `value` of `flag` names the first of its two `choices` (an error if neither).
fn either(flag: &str, value: &str, (yes, no): (&str, &str)) -> Result<bool, String> {
    match value {
        v if v == yes => Ok(true),
        v if v == no => Ok(false),
        _ => Err(format!("{flag}: `{value}` is not {yes} or {no}")),
    }
}

fn parse_args() -> Result<Args, String> {
    let mut options = ScenarioOptions { scenario: "production".into(), ..ScenarioOptions::default() };
    let (mut forecasts, mut margins) = (vec![Forecast::Truth, Forecast::Holt], vec![1.0]);
    let (mut replay_margin, mut error_window) = (None, None);
    let (mut replayed_periods, mut warm_up_holt) = (SeasonalConfig::default().periods, false);
    let mut min_window = SeasonalConfig::default().min_window;
    let (mut forecaster, mut gate, mut fallback) = (None, None, "tuned-hpa".to_string());
    let mut periods_handed_over = false;
    let mut scale_in = (1, None);
    let (mut lookahead, mut first_seed, mut count) = (20, seeds::named("heldout").unwrap_or(0), 5);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag}: needs a value"))?;
        let number = |v: &str| v.parse::<f64>().map_err(|_| format!("{flag}: `{v}` is not a number"));
        let count_of = |v: &str| v.parse::<usize>().map_err(|_| format!("{flag}: `{v}` is not a count"));
        match flag.as_str() {
            "--scenario" => options.scenario = value,
            "--trace" => options.traces = vec![value],
            "--time-scale" => options.time_scale = number(&value)?,
            "--duration" => options.duration = Some(number(&value)?),
            "--forecast" => forecasts = value.split(',').map(Forecast::parse).collect::<Result<_, _>>()?,
            "--margins" => margins = value.split(',').map(number).collect::<Result<_, _>>()?,
            "--replay-margin" => replay_margin = Some(number(&value)?),
            "--error-quantiles" => match count_of(&value)? {
                n if n < MIN_ERRORS => {
                    return Err(format!("{flag}: keeps at least {MIN_ERRORS} errors, not {n}"));
                }
                n => error_window = Some(n),
            },
            "--replayed-periods" => match count_of(&value)? {
                p if (1..=MAX_REPLAYED_PERIODS).contains(&p) => replayed_periods = p,
                p => return Err(format!("{flag}: 1 to {MAX_REPLAYED_PERIODS}, not {p}")),
            },
            "--min-window" => {
                let window = SeasonalConfig::default().window;
                min_window = match value.as_str() {
                    "lag" => None,
                    rates => match count_of(rates)? {
                        m if (2..=window).contains(&m) => Some(m),
                        m => return Err(format!("{flag}: 2 to {window} rates or `lag`, not {m}")),
                    },
                }
            }
            "--warm-up" => warm_up_holt = either(&flag, &value, ("holt", "measured"))?,
            "--lookahead" => lookahead = count_of(&value)?.max(1),
            "--first-seed" => {
                first_seed = seeds::parse_first_seed(&value).map_err(|e| format!("{flag}: {e}"))?
            }
            "--seeds" => count = count_of(&value)? as u64,
            "--forecaster" => forecaster = Some(load_forecaster(&value)?),
            "--gate" => {
                let parts: Vec<&str> = value.split(',').collect();
                let (window, threshold, hold) = match parts[..] {
                    [w, t] => (w, t, "1"),
                    [w, t, h] => (w, t, h),
                    _ => return Err(format!("{flag}: `{value}` is not WINDOW,THRESHOLD[,HOLD]")),
                };
                gate = Some((count_of(window)?.max(2), number(threshold)?, count_of(hold)?.max(1)));
            }
            "--fallback" => fallback = value,
            "--periodic-noise" => periods_handed_over = either(&flag, &value, ("hand-over", "keep"))?,
            "--scale-in" => {
                let parts: Vec<&str> = value.split(',').collect();
                scale_in = match parts[..] {
                    [smooth] => (count_of(smooth)?.max(1), None),
                    [smooth, noisy] => (count_of(smooth)?.max(1), Some(count_of(noisy)?.max(1))),
                    _ => return Err(format!("{flag}: `{value}` is not INTERVALS[,NOISY_INTERVALS]")),
                };
            }
            _ => return Err(format!("{flag}: unknown option (see the example's doc comment)")),
        }
    }
    let seeds = seeds::seed_range(first_seed, count, "--first-seed", "--seeds")?;
    if forecasts.contains(&Forecast::Learned) && forecaster.is_none() {
        return Err("--forecast learned: needs --forecaster FILE".into());
    }
    if scale_in.1.is_some() && gate.is_none() {
        return Err("--scale-in: a second window needs --gate, which says when the load is noise".into());
    }
    Ok(Args {
        options,
        forecasts,
        margins,
        replay_margin,
        error_window,
        replayed_periods,
        min_window,
        warm_up_holt,
        lookahead,
        seeds,
        forecaster,
        gate,
        fallback,
        periods_handed_over,
        scale_in,
    })
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    let scenario =
        args.options.load(&|option| format!("--{}", option.replace('_', "-"))).unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(2)
        });
    let profile = profile(&scenario);
    let pools = pool_capacity(&scenario, &profile);
    let registry = PolicyRegistry::new(&scenario);
    if let Err(e) = registry.check(&args.fallback) {
        eprintln!("error: --fallback: {e}");
        std::process::exit(2)
    }
    let arrivals: Vec<_> =
        args.seeds.par_iter().map(|&seed| stage_arrivals(&scenario, seed, &|| {})).collect();
    println!(
        "{}: {} seeds from {}, lookahead {} intervals",
        scenario.source,
        args.seeds.len(),
        args.seeds[0],
        args.lookahead
    );
    for &forecast in &args.forecasts {
        let margins = if forecast == Forecast::Truth { &[1.0][..] } else { &args.margins };
        for &margin in margins {
            let runs: Vec<_> = args
                .seeds
                .par_iter()
                .zip(&arrivals)
                .map(|(&seed, replay)| {
                    let forecaster = args.forecaster.clone();
                    let mut planner = ForecastPlanner::new(
                        &profile,
                        &pools,
                        replay,
                        forecast,
                        margin,
                        args.lookahead,
                        forecaster,
                    );
                    planner = planner
                        .with_scale_in(args.scale_in.0)
                        .with_replay_margin(args.replay_margin)
                        .with_error_quantiles(args.error_window)
                        .with_replayed_periods(args.replayed_periods)
                        .with_min_window(args.min_window)
                        .with_holt_warm_up(args.warm_up_holt);
                    if let Some((window, threshold, hold)) = args.gate {
                        let when_noisy = match args.scale_in.1 {
                            Some(intervals) => WhenNoisy::ScaleIn(intervals),
                            None => WhenNoisy::Fallback(
                                registry.build_for_episode(&args.fallback, replay).unwrap_or_else(|e| {
                                    eprintln!("error: --fallback: {e}");
                                    std::process::exit(2)
                                }),
                            ),
                        };
                        planner = planner
                            .gated(when_noisy, window, threshold, hold)
                            .with_periods_handed_over(args.periods_handed_over);
                    }
                    let (mut vms, mut rate) = (Vec::new(), Vec::new());
                    let report = run_episode(&scenario, &mut planner, seed, |sim, _| {
                        vms.push(f64::from(sim.observation().committed_vms(0)));
                        rate.push(f64::from(sim.observation().stage(0, StageFeature::ArrivalRate)));
                    });
                    let share = |n: usize| n as f64 / planner.interval.max(1) as f64;
                    Outcome {
                        report,
                        periodic: share(planner.periodic),
                        gated: share(planner.gate.as_ref().map_or(0, |g| g.gated)),
                        adapts: pearson(&vms, &rate),
                    }
                })
                .collect();
            let mean = |f: &dyn Fn(&Outcome) -> f64| runs.iter().map(f).sum::<f64>() / runs.len() as f64;
            let noisy = match args.scale_in {
                (_, Some(intervals)) => format!("a {intervals}-interval scale-in window"),
                _ if args.gate.is_some() => format!("handed to {}", args.fallback),
                _ => "no gate".to_string(),
            };
            let replayed = args.replay_margin.map_or(String::new(), |m| format!(" (replay x {m})"));
            println!(
                "{forecast:?} x {margin}{replayed}: ${:.4} at {:.3} %, {:.2} VM-hours, stage 1 periodic in {:.0} % \
                 of intervals, {:.0} % gated ({noisy}), r(stage 1 VMs, rate) {:.3}",
                mean(&|r| r.report.cost.total),
                mean(&|r| r.report.slo.attainment) * 100.0,
                mean(&|r| r.report.vm_seconds) / 3600.0,
                mean(&|r| r.periodic) * 100.0,
                mean(&|r| r.gated) * 100.0,
                mean(&|r| r.adapts)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serflow_policies::mlp::Mlp;
    use std::sync::Arc;

    /// `default` cut to 600 s, with its planning profile and pool capacities.
    fn ten_minutes_of_default() -> (Arc<serflow_env::Scenario>, SystemProfile, PoolCapacity) {
        let options = ScenarioOptions { duration: Some(600.0), ..ScenarioOptions::default() };
        let scenario = options.load(&|o| o.to_string()).unwrap();
        let profile = profile(&scenario);
        let pools = pool_capacity(&scenario, &profile);
        (scenario, profile, pools)
    }

    #[test]
    fn a_model_is_read_by_the_learned_forecast_and_where_the_seasonal_one_falls_back() {
        let (scenario, profile, pools) = ten_minutes_of_default();
        let seed = 6;
        let replay = stage_arrivals(&scenario, seed, &|| {});
        // Forecasts 3x the last three rates' mean: far from Holt's.
        let mut model = Mlp::zeros(&[3, 4, 1]);
        model.layers[1].biases = vec![3.0];
        let model = Some(RateForecaster::new(model).unwrap());
        let cost = |forecast, model: &Option<RateForecaster>| {
            let mut planner =
                ForecastPlanner::new(&profile, &pools, &replay, forecast, 1.0, 20, model.clone());
            run_episode(&scenario, &mut planner, seed, |_, _| {}).cost.total
        };
        assert_eq!(cost(Forecast::Holt, &model), cost(Forecast::Holt, &None));
        assert_ne!(cost(Forecast::Seasonal, &model), cost(Forecast::Seasonal, &None), "its fallback");
        assert_eq!(cost(Forecast::IntervalTruth, &model), cost(Forecast::IntervalTruth, &None));
        assert_ne!(cost(Forecast::Learned, &model), cost(Forecast::Holt, &None));
    }

    #[test]
    fn a_model_short_of_history_stands_in_with_the_measured_rate_or_holts_trend() {
        let (scenario, profile, pools) = ten_minutes_of_default();
        let replay = stage_arrivals(&scenario, 5, &|| {});
        let model = Some(RateForecaster::new(Mlp::zeros(&[30, 4, 1])).unwrap());
        // Five rates of a ramp: too few for a model that reads thirty.
        let forecast = |holt| {
            let mut planner =
                ForecastPlanner::new(&profile, &pools, &replay, Forecast::Learned, 1.0, 20, model.clone())
                    .with_holt_warm_up(holt);
            planner.interval = 1;
            (1..=5).map(|i| planner.forecast_rates(0, 100.0 * f64::from(i), true).0).last().unwrap()
        };
        assert!(forecast(false).iter().all(|&r| r == 500.0), "the measured rate, held");
        assert!(forecast(true)[5] > 500.0, "Holt's trend extrapolates the ramp");
    }

    #[test]
    fn a_replay_margin_multiplies_only_a_replayed_period() {
        let (scenario, profile, pools) = ten_minutes_of_default();
        let replay = stage_arrivals(&scenario, 5, &|| {});
        let square = |i: usize| if i % 40 < 20 { 100.0 } else { 300.0 };
        let margins = |forecast| {
            let mut planner = ForecastPlanner::new(&profile, &pools, &replay, forecast, 1.2, 20, None)
                .with_replay_margin(Some(1.5));
            planner.interval = 1;
            (0..200).map(|i| planner.forecast_rates(0, square(i), true).1).collect::<Vec<f64>>()
        };
        let seasonal = margins(Forecast::Seasonal);
        assert_eq!(seasonal[..40], [1.2; 40], "no period before one has been seen");
        assert_eq!(seasonal[150..], [1.5; 50], "the square wave's period, replayed");
        assert!(margins(Forecast::Holt).iter().all(|&m| m == 1.2));
    }

    #[test]
    fn error_quantiles_are_the_measured_rates_over_their_forecast_one_boot_before() {
        let (scenario, profile, pools) = ten_minutes_of_default();
        let replay = stage_arrivals(&scenario, 5, &|| {});
        let mut planner = ForecastPlanner::new(&profile, &pools, &replay, Forecast::Holt, 1.0, 20, None)
            .with_error_quantiles(Some(12));
        planner.interval = 1;
        let lead = planner.costs[0].lead;
        // A level Holt forecasts exactly, then a step to twice it that no forecast saw coming,
        // after which Holt's trend overshoots.
        for i in 0..60 {
            planner.forecast_rates(0, if i < 40 { 100.0 } else { 200.0 }, true);
        }
        let errors = &planner.stages[0].lead_errors;
        assert_eq!(errors.len(), 12, "the window keeps the last 12");
        let before = errors.iter().take_while(|&&e| e == 2.0).count();
        assert!(before > 0, "the step, as forecast before it came: {errors:?}");
        assert!(errors.iter().skip(before).all(|&e| e < 1.0), "the trend's overshoot: {errors:?}");
        let spread = quantiles(errors, 10).unwrap();
        assert!(spread.windows(2).all(|w| w[0] <= w[1]) && spread[9] == 2.0, "{spread:?}");
        assert_eq!(quantiles(&VecDeque::from(vec![1.0; MIN_ERRORS - 1]), 10), None, "too few misses");
        assert!(lead > 0 && lead < 20);
    }

    #[test]
    fn a_gate_hands_over_everything_nothing_or_after_its_hold() {
        let (scenario, profile, pools) = ten_minutes_of_default();
        let registry = PolicyRegistry::new(&scenario);
        let seed = 5;
        let replay = stage_arrivals(&scenario, seed, &|| {});
        let planner = || ForecastPlanner::new(&profile, &pools, &replay, Forecast::Holt, 1.0, 20, None);
        let tuned_hpa = || registry.build("tuned-hpa").unwrap();
        let run = |policy: &mut dyn Policy| run_episode(&scenario, policy, seed, |_, _| {}).cost.total;
        let (fallback_alone, planner_alone) = (run(tuned_hpa().as_mut()), run(&mut planner()));
        assert_ne!(planner_alone, fallback_alone, "the planner decides otherwise");
        // Window 1 reads noise 0: a threshold of -1 always hands over, one of 2 never does.
        let mut always = planner().gated(WhenNoisy::Fallback(tuned_hpa()), 1, -1.0, 1);
        assert_eq!(run(&mut always), fallback_alone);
        assert_eq!(always.gate.as_ref().map(|g| g.gated), Some(always.interval));
        assert_eq!(run(&mut planner().gated(WhenNoisy::Fallback(tuned_hpa()), 1, 2.0, 1)), planner_alone);
        // Held for 20 intervals: the first 19 stay with the planner, then the fallback decides.
        let mut held = planner().gated(WhenNoisy::Fallback(tuned_hpa()), 1, -1.0, 20);
        let held_cost = run(&mut held);
        assert_eq!(held.gate.as_ref().map(|g| g.gated), Some(held.interval - 19));
        assert!(held_cost != fallback_alone && held_cost != planner_alone);
    }

    #[test]
    fn a_scale_in_window_keeps_vms_and_a_noise_gate_can_lengthen_it() {
        let (scenario, profile, pools) = ten_minutes_of_default();
        let seed = 5;
        let replay = stage_arrivals(&scenario, seed, &|| {});
        let planner = || ForecastPlanner::new(&profile, &pools, &replay, Forecast::Holt, 1.0, 20, None);
        let run = |policy: &mut ForecastPlanner| {
            let report = run_episode(&scenario, policy, seed, |_, _| {});
            (report.cost.total, report.vm_seconds)
        };
        let plain = run(&mut planner());
        assert_eq!(run(&mut planner().with_scale_in(1)), plain, "a window of one is the plan as it stands");
        let kept = run(&mut planner().with_scale_in(12));
        assert!(
            kept.1 > plain.1,
            "a two-minute window keeps VMs the plan drains: {kept:?} against {plain:?}"
        );
        // Window 1 reads noise 0: a threshold of -1 always reads noise, one of 2 never does.
        let always = planner().gated(WhenNoisy::ScaleIn(12), 1, -1.0, 1);
        assert_eq!(run(&mut always.with_scale_in(1)), kept);
        assert_eq!(run(&mut planner().gated(WhenNoisy::ScaleIn(12), 1, 2.0, 1)), plain);
    }

    #[test]
    fn a_perfect_forecast_of_interval_rates_misses_the_seconds_inside_them() {
        let options = ScenarioOptions {
            scenario: "production".into(),
            duration: Some(600.0),
            ..ScenarioOptions::default()
        };
        let scenario = options.load(&|o| o.to_string()).unwrap();
        let (profile, seed) = (profile(&scenario), 7);
        let pools = pool_capacity(&scenario, &profile);
        let replay = stage_arrivals(&scenario, seed, &|| {});
        let cost = |forecast, margin| {
            let mut planner = ForecastPlanner::new(&profile, &pools, &replay, forecast, margin, 20, None);
            run_episode(&scenario, &mut planner, seed, |_, _| {}).cost.total
        };
        let blurred = cost(Forecast::IntervalTruth, 1.0);
        assert_ne!(blurred, cost(Forecast::Truth, 1.0), "the seconds inside an interval change the plan");
        assert_ne!(blurred, cost(Forecast::IntervalTruth, 1.2), "the margin scales the interval rates");
    }

    #[test]
    fn planning_on_the_truth_over_the_whole_episode_is_the_oracle() {
        let (scenario, profile, pools) = ten_minutes_of_default();
        let registry = PolicyRegistry::new(&scenario);
        for seed in [3, 4] {
            let replay = stage_arrivals(&scenario, seed, &|| {});
            let mut oracle = registry.build_for_episode("oracle", &replay).unwrap();
            let expected = run_episode(&scenario, oracle.as_mut(), seed, |_, _| {});
            let mut planner = ForecastPlanner::new(&profile, &pools, &replay, Forecast::Truth, 1.0, 60, None);
            let got = run_episode(&scenario, &mut planner, seed, |_, _| {});
            assert_eq!(got.cost.total, expected.cost.total, "seed {seed}");
            let mut short = ForecastPlanner::new(&profile, &pools, &replay, Forecast::Truth, 1.0, 1, None);
            let myopic = run_episode(&scenario, &mut short, seed, |_, _| {});
            assert_ne!(
                myopic.cost.total, expected.cost.total,
                "seed {seed}: one interval of foresight plans otherwise"
            );
        }
    }
}
