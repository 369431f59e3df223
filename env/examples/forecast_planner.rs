//! The oracle's planner fed a forecast instead of the future: how much of the oracle's saving a
//! policy that cannot see ahead could reach with a given forecaster. This is the experiment behind
//! the lookahead and forecast tables of `checkpoints/production/report.md`.
//!
//! Every interval, for every stage, it re-plans with the oracle's dynamic programme from the VMs
//! committed now over the next `--lookahead` intervals of a forecast, and asks for the most VMs the
//! plan needs within one boot. VMs are offered every request (FaaS takes what they cannot).
//!
//! ```sh
//! cargo run --release -p serflow-env --example forecast_planner -- --forecast truth,holt --margins 1.0,1.2
//! cargo run --release -p serflow-env --example forecast_planner -- \
//!     --trace ../shared/traces/square_load.txt --time-scale 4.5 --duration 3500 --forecast seasonal
//! ```
//!
//! Forecasts (`--forecast`, comma-separated):
//! - `truth`: the stage's real arrivals (its FaaS-only replay, as the oracle plans on): with a
//!   short `--lookahead`, how much foresight the oracle's saving takes.
//! - `holt`: Holt's linear trend of the stage's interval rate, never below the measured rate
//!   (`predictive-hpa`'s forecast).
//! - `seasonal`: the rate one period before, the period being the lag of 6-180 intervals at which
//!   the last 90 interval rates correlate best with themselves, when that correlation reaches 0.9;
//!   else Holt's; never below the measured rate.
//! - `better`: per stage, whichever of `holt` and `seasonal` missed less lately one boot ahead
//!   (absolute errors of the forecasts 10 intervals ahead, decayed by 0.9 an interval).
//!
//! Each forecast but `truth` is multiplied by each of `--margins` before planning.

use rayon::prelude::*;
use serflow_env::comparison::{StageArrivals, stage_arrivals};
use serflow_env::profile::{pool_capacity, profile};
use serflow_env::{ScenarioOptions, run_episode, seeds};
use serflow_policies::SystemProfile;
use serflow_policies::baselines::{PlanCosts, PoolCapacity, Trend, plan_stage};
use serflow_policies::policy::Policy;
use serflow_policies::schema::{Action, GlobalFeature, Observation, StageAction, StageFeature};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Forecast {
    Truth,
    Holt,
    Seasonal,
    Better,
}

impl Forecast {
    fn parse(name: &str) -> Result<Self, String> {
        Ok(match name {
            "truth" => Self::Truth,
            "holt" => Self::Holt,
            "seasonal" => Self::Seasonal,
            "better" => Self::Better,
            _ => return Err(format!("--forecast: `{name}` is not one of truth, holt, seasonal, better")),
        })
    }
}

/// Smallest correlation at which a lag counts as the load's period.
const PERIOD_CORRELATION: f64 = 0.9;
/// How far ahead `better` scores the two forecasts, in intervals (about one VM boot).
const SCORED_LEAD: usize = 10;
/// Per-interval decay of `better`'s error sums.
const ERROR_DECAY: f64 = 0.9;

/// The lag (in intervals) at which `rates` repeat best, if they repeat well enough.
fn period(rates: &[f64]) -> Option<usize> {
    let n = rates.len();
    let mut best: Option<(usize, f64)> = None;
    for lag in 6..=(n / 2).min(180) {
        let m = (n - lag).min(90);
        let (now, then) = (&rates[n - m..], &rates[n - m - lag..n - lag]);
        let mean = |x: &[f64]| x.iter().sum::<f64>() / m as f64;
        let (mean_now, mean_then) = (mean(now), mean(then));
        let (mut cross, mut var_now, mut var_then) = (0.0, 0.0, 0.0);
        for (a, b) in now.iter().zip(then) {
            let (x, y) = (a - mean_now, b - mean_then);
            cross += x * y;
            var_now += x * x;
            var_then += y * y;
        }
        if var_now <= 0.0 || var_then <= 0.0 {
            continue;
        }
        let correlation = cross / (var_now * var_then).sqrt();
        // A longer lag must correlate clearly better to replace a shorter one.
        if correlation > PERIOD_CORRELATION && best.is_none_or(|(_, c)| correlation > c + 0.02) {
            best = Some((lag, correlation));
        }
    }
    best.map(|(lag, _)| lag)
}

/// One stage's forecasting state.
#[derive(Clone, Default)]
struct StageForecast {
    trend: Trend,
    /// `(interval forecast, holt, seasonal)`: forecasts `better` has yet to score.
    pending: Vec<(usize, f64, f64)>,
    /// Decayed absolute errors of `(holt, seasonal)`.
    errors: (f64, f64),
}

struct ForecastPlanner {
    forecast: Forecast,
    lookahead: usize,
    margin: f64,
    /// Per stage: its planning prices and its arrivals per step over the episode.
    costs: Vec<PlanCosts>,
    arrivals: Vec<Vec<u64>>,
    steps: usize,
    interval_s: f64,
    stages: Vec<StageForecast>,
    interval: usize,
    /// Intervals in which stage 1's forecast replayed a period.
    periodic: usize,
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
    ) -> Self {
        let steps = replay.steps_per_interval;
        let n = profile.stages.len();
        let step_s = profile.interval_s / steps as f64;
        Self {
            forecast,
            lookahead,
            margin,
            costs: (0..n).map(|k| PlanCosts::of_stage(profile, k, step_s, &pools.rps[k])).collect(),
            arrivals: (0..n).map(|k| replay.per_step.iter().map(|s| s[k]).collect()).collect(),
            steps,
            interval_s: profile.interval_s,
            stages: vec![StageForecast::default(); n],
            interval: 0,
            periodic: 0,
        }
    }

    /// Stage `k`'s forecast rates for the next `lookahead` intervals (the first: the one about to
    /// start). The seasonal forecast reads the stage's past rates from the replay, which are the
    /// observed ones at stage 1 and close to them deeper (exits fall per request in another
    /// order under another policy). `measured` is the rate of the interval just ended; `billed`
    /// whether that interval cost anything, the shipped action set's test that the observation
    /// holds a measurement.
    fn forecast_rates(&mut self, k: usize, measured: f64, billed: bool) -> Vec<f64> {
        let steps = self.steps;
        // Holt alone needs no past rates (and an empty past has no period).
        let past: Vec<f64> = if matches!(self.forecast, Forecast::Seasonal | Forecast::Better) {
            let seen = (self.interval * steps).min(self.arrivals[k].len());
            self.arrivals[k][..seen]
                .chunks(steps)
                .map(|c| c.iter().sum::<u64>() as f64 / self.interval_s)
                .collect()
        } else {
            Vec::new()
        };
        let state = &mut self.stages[k];
        if billed {
            state.trend.update(measured);
        }
        let holt = |h: usize| measured.max(state.trend.forecast((h + 1) as f64));
        let lag = period(&past);
        let seasonal = |h: usize| lag.map_or(holt(h), |l| past[past.len() - l + h % l]);
        let use_seasonal = match self.forecast {
            Forecast::Seasonal => lag.is_some(),
            Forecast::Better => {
                let n = past.len();
                for &(due, h, s) in state.pending.iter().filter(|p| p.0 < n) {
                    state.errors.0 = ERROR_DECAY * state.errors.0 + (h - past[due]).abs();
                    state.errors.1 = ERROR_DECAY * state.errors.1 + (s - past[due]).abs();
                }
                state.pending.retain(|p| p.0 >= n);
                state.pending.push((n + SCORED_LEAD, holt(SCORED_LEAD), seasonal(SCORED_LEAD)));
                lag.is_some() && state.errors.1 < state.errors.0
            }
            Forecast::Holt | Forecast::Truth => false,
        };
        if k == 0 && use_seasonal {
            self.periodic += 1;
        }
        (0..self.lookahead).map(|h| if use_seasonal { seasonal(h).max(measured) } else { holt(h) }).collect()
    }
}

impl Policy for ForecastPlanner {
    fn name(&self) -> &str {
        "forecast-planner"
    }

    fn reset(&mut self) {
        self.stages.iter_mut().for_each(|s| *s = StageForecast::default());
        (self.interval, self.periodic) = (0, 0);
    }

    fn act(&mut self, obs: &Observation, action: &mut Action) {
        action.stages.resize(obs.n_stages(), StageAction::FAAS_ONLY);
        let steps = self.steps;
        let step_s = self.interval_s / steps as f64;
        for k in 0..obs.n_stages() {
            let series = &self.arrivals[k];
            let start = (self.interval * steps).min(series.len());
            let end = ((self.interval + self.lookahead) * steps).min(series.len());
            let future: Vec<u64> = if self.forecast == Forecast::Truth {
                series[start..end].to_vec()
            } else {
                let measured = f64::from(obs.stage(k, StageFeature::ArrivalRate).max(0.0));
                let rates = self.forecast_rates(k, measured, obs.global(GlobalFeature::CostRate) > 0.0);
                (0..end - start).map(|i| (rates[i / steps] * step_s * self.margin).round() as u64).collect()
            };
            let mut costs = self.costs[k].clone();
            costs.initial = obs.committed_vms(k).min(costs.max_vms);
            let plan = plan_stage(&future, steps, &costs);
            let vm_target = plan.iter().take(costs.lead + 1).copied().max().unwrap_or(0);
            action.stages[k] = StageAction { vm_target, vm_share: 1.0, vm_rate_limit: None };
        }
        self.interval += 1;
    }
}

struct Args {
    options: ScenarioOptions,
    forecasts: Vec<Forecast>,
    margins: Vec<f64>,
    lookahead: usize,
    seeds: Vec<u64>,
}

fn parse_args() -> Result<Args, String> {
    let mut options = ScenarioOptions { scenario: "production".into(), ..ScenarioOptions::default() };
    let (mut forecasts, mut margins) = (vec![Forecast::Truth, Forecast::Holt], vec![1.0]);
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
            "--lookahead" => lookahead = count_of(&value)?.max(1),
            "--first-seed" => {
                first_seed = seeds::parse_first_seed(&value).map_err(|e| format!("{flag}: {e}"))?
            }
            "--seeds" => count = count_of(&value)? as u64,
            _ => return Err(format!("{flag}: unknown option (see the example's doc comment)")),
        }
    }
    let seeds = seeds::seed_range(first_seed, count, "--first-seed", "--seeds")?;
    Ok(Args { options, forecasts, margins, lookahead, seeds })
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
                    let mut planner =
                        ForecastPlanner::new(&profile, &pools, replay, forecast, margin, args.lookahead);
                    let report = run_episode(&scenario, &mut planner, seed, |_, _| {});
                    (report, planner.periodic as f64 / planner.interval.max(1) as f64)
                })
                .collect();
            let mean = |f: &dyn Fn(&(serflow_env::EpisodeReport, f64)) -> f64| {
                runs.iter().map(f).sum::<f64>() / runs.len() as f64
            };
            println!(
                "{forecast:?} x {margin}: ${:.4} at {:.3} %, {:.2} VM-hours, stage 1 periodic in {:.0} % of intervals",
                mean(&|r| r.0.cost.total),
                mean(&|r| r.0.slo.attainment) * 100.0,
                mean(&|r| r.0.vm_seconds) / 3600.0,
                mean(&|r| r.1) * 100.0
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serflow_env::registry::PolicyRegistry;

    #[test]
    fn a_period_is_found_where_the_rates_repeat_and_nowhere_else() {
        let square: Vec<f64> = (0..200).map(|i| if i % 30 < 15 { 100.0 } else { 400.0 }).collect();
        assert_eq!(period(&square), Some(30));
        let sine: Vec<f64> =
            (0..200).map(|i| 500.0 + 200.0 * (f64::from(i) * std::f64::consts::TAU / 24.0).sin()).collect();
        assert_eq!(period(&sine), Some(24));
        let ramp: Vec<f64> = (0..200).map(f64::from).collect();
        let flat = vec![250.0; 200];
        // A ramp correlates with itself at every lag: the shortest is taken, and replaying it
        // is no worse than the trend. A flat load has no period to find.
        assert_eq!(period(&ramp), Some(6));
        assert_eq!(period(&flat), None);
        assert_eq!(period(&square[..11]), None, "too short to hold two periods");
    }

    #[test]
    fn planning_on_the_truth_over_the_whole_episode_is_the_oracle() {
        let options = ScenarioOptions { duration: Some(600.0), ..ScenarioOptions::default() };
        let scenario = options.load(&|o| o.to_string()).unwrap();
        let profile = profile(&scenario);
        let pools = pool_capacity(&scenario, &profile);
        let registry = PolicyRegistry::new(&scenario);
        for seed in [3, 4] {
            let replay = stage_arrivals(&scenario, seed, &|| {});
            let mut oracle = registry.build_for_episode("oracle", &replay).unwrap();
            let expected = run_episode(&scenario, oracle.as_mut(), seed, |_, _| {});
            let mut planner = ForecastPlanner::new(&profile, &pools, &replay, Forecast::Truth, 1.0, 60);
            let got = run_episode(&scenario, &mut planner, seed, |_, _| {});
            assert_eq!(got.cost.total, expected.cost.total, "seed {seed}");
            let mut short = ForecastPlanner::new(&profile, &pools, &replay, Forecast::Truth, 1.0, 1);
            let myopic = run_episode(&scenario, &mut short, seed, |_, _| {});
            assert_ne!(
                myopic.cost.total, expected.cost.total,
                "seed {seed}: one interval of foresight plans otherwise"
            );
        }
    }
}
