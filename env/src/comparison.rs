//! Policies side by side: each policy over the same seeds, the hindsight floor of every seed, and
//! one row of means per policy. What `compare`, `eval` and the tests share; the command line only
//! formats the rows.

use crate::metrics::EpisodeReport;
use crate::registry::PolicyRegistry;
use crate::{Scenario, ScenarioError, run_episode};
use rayon::prelude::*;
use serde::Serialize;
use serflow_policies::StageFeature;
use serflow_policies::baselines::FaasOnly;
use serflow_policies::hindsight::{FluidFloor, fluid_floor};
use std::sync::Arc;

/// One run, as `compare --json` prints it: the simulate object plus the hindsight floor of its seed.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// The episode.
    #[serde(flatten)]
    pub report: EpisodeReport,
    /// The floor of its seed.
    pub floor: FluidFloor,
    /// How closely the first stage's VM count followed its arrival rate over the episode (Pearson r of the
    /// two per-interval series; `eval` fills it, `compare` leaves it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_stage_vms_vs_rate: Option<f64>,
    /// The trace replayed, when the command was given several (`--trace`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// One policy's row: means over its runs.
#[derive(Clone, Debug, Serialize)]
#[allow(missing_docs)] // the names are the columns
pub struct Row {
    pub policy: String,
    pub seeds: u64,
    pub cost_total: f64,
    pub cost_vm: f64,
    pub cost_faas: f64,
    pub cost_transfer: f64,
    /// Cost over the hindsight floor; none where the floor is zero (no load, or serving is free).
    pub cost_vs_floor: Option<f64>,
    pub slo_attainment: f64,
    pub meets_target: bool,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub vm_hours: f64,
    pub faas_invocations: f64,
    pub vm_cold_starts: f64,
    pub faas_cold_starts: f64,
}

impl Row {
    /// The row of `runs` of the policy the user called `name` (a policy file reports itself as
    /// `learned`; the row keeps the name given).
    pub fn new(name: &str, runs: &[&Run]) -> Self {
        let n = runs.len() as f64;
        let mean = |f: &dyn Fn(&Run) -> f64| runs.iter().map(|r| f(r)).sum::<f64>() / n;
        let reports: Vec<&EpisodeReport> = runs.iter().map(|r| &r.report).collect();
        let (cost, attainment) = mean_cost_and_attainment(&reports);
        let target = runs.first().map_or(1.0, |r| r.report.slo.target);
        let floor = mean(&|r| r.floor.total);
        Row {
            policy: name.to_string(),
            seeds: runs.len() as u64,
            cost_total: cost,
            cost_vm: mean(&|r| r.report.cost.vm),
            cost_faas: mean(&|r| r.report.cost.faas),
            cost_transfer: mean(&|r| r.report.cost.transfer),
            cost_vs_floor: (floor > 0.0).then(|| cost / floor),
            slo_attainment: attainment,
            meets_target: attainment >= target,
            p50_ms: mean(&|r| r.report.slo.p50_ms),
            p95_ms: mean(&|r| r.report.slo.p95_ms),
            p99_ms: mean(&|r| r.report.slo.p99_ms),
            vm_hours: mean(&|r| r.report.vm_seconds / 3600.0),
            faas_invocations: mean(&|r| r.report.invocations.faas as f64),
            vm_cold_starts: mean(&|r| r.report.cold_starts.vm as f64),
            faas_cold_starts: mean(&|r| r.report.cold_starts.faas as f64),
        }
    }
}

/// Mean total cost and mean attainment of some episodes: the two numbers a policy is judged by.
pub fn mean_cost_and_attainment(reports: &[&EpisodeReport]) -> (f64, f64) {
    let n = reports.len() as f64;
    let cost = reports.iter().map(|r| r.cost.total).sum::<f64>() / n;
    let attainment = reports.iter().map(|r| r.slo.attainment).sum::<f64>() / n;
    (cost, attainment)
}

/// The Pearson correlation of two equally long series, 0 when either is constant (no linear
/// relationship: a policy whose VM count never moves does not follow load at all).
pub fn pearson(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len().min(ys.len());
    if n < 2 {
        return 0.0;
    }
    let mean = |v: &[f64]| v[..n].iter().sum::<f64>() / n as f64;
    let (mx, my) = (mean(xs), mean(ys));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs[..n].iter().zip(&ys[..n]) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    if sxx <= 0.0 || syy <= 0.0 { 0.0 } else { sxy / (sxx * syy).sqrt() }
}

/// Episodes of the policy `name` on each of `seeds`, in parallel, in seed order; `arrivals[i]`, when
/// given, are the stage arrivals of `seeds[i]` (what the oracle plans with; computed here when
/// missing); `tick` runs after every simulated interval (for progress bars).
pub fn run_policy(
    scenario: &Arc<Scenario>,
    registry: &PolicyRegistry<'_>,
    name: &str,
    seeds: &[u64],
    arrivals: &[StageArrivals],
    tick: &(dyn Fn() + Sync),
) -> Result<Vec<EpisodeReport>, ScenarioError> {
    registry.check(name)?; // a bad name fails before any work
    seeds
        .par_iter()
        .enumerate()
        .map(|(i, &seed)| {
            let mut policy = match arrivals.get(i) {
                Some(future) => registry.build_for_episode(name, future)?,
                None if name == "oracle" => {
                    registry.build_for_episode(name, &stage_arrivals(scenario, seed, &|| {}))?
                }
                None => registry.build(name)?,
            };
            Ok(run_episode(scenario, policy.as_mut(), seed, |_, _| tick()))
        })
        .collect()
}

/// What [`compare`] measured: a row per policy, every run (policy after policy, seed order within),
/// and the hindsight floor of each seed.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// One row of means per policy, in the order given.
    pub rows: Vec<Row>,
    /// Every episode.
    pub runs: Vec<Run>,
    /// The floor of each seed.
    pub floors: Vec<FluidFloor>,
}

/// Every policy in `policies` over `seeds` of one scenario, beside the hindsight floor of each seed;
/// `trace` labels the runs; `tick` runs once per simulated interval (the arrivals pass included).
pub fn compare(
    scenario: &Arc<Scenario>,
    registry: &PolicyRegistry<'_>,
    policies: &[String],
    seeds: &[u64],
    trace: Option<&str>,
    tick: &(dyn Fn() + Sync),
) -> Result<Comparison, ScenarioError> {
    for name in policies {
        registry.check(name)?; // reject unknown names before any work
    }
    let arrivals: Vec<StageArrivals> =
        seeds.par_iter().map(|&seed| stage_arrivals(scenario, seed, tick)).collect();
    let floors: Vec<FluidFloor> =
        arrivals.iter().map(|a| fluid_floor(registry.profile(), &a.per_interval())).collect();
    let mut runs = Vec::with_capacity(seeds.len() * policies.len());
    for name in policies {
        let reports = run_policy(scenario, registry, name, seeds, &arrivals, tick)?;
        runs.extend(reports.into_iter().zip(&floors).map(|(report, floor)| Run {
            report,
            floor: floor.clone(),
            first_stage_vms_vs_rate: None,
            trace: trace.map(String::from),
        }));
    }
    let rows = policies
        .iter()
        .zip(runs.chunks(seeds.len()))
        .map(|(name, chunk)| Row::new(name, &chunk.iter().collect::<Vec<_>>()))
        .collect();
    Ok(Comparison { rows, runs, floors })
}

/// Requests reaching each stage in each step of one episode: the future the hindsight floor and the
/// oracle are given.
#[derive(Clone, Debug, PartialEq)]
pub struct StageArrivals {
    /// `[step][stage]` counts.
    pub per_step: Vec<Vec<u64>>,
    /// Steps per control interval (one-second steps when the interval is a whole number of
    /// seconds, else one step per interval).
    pub steps_per_interval: usize,
}

impl StageArrivals {
    /// `[interval][stage]` counts.
    pub fn per_interval(&self) -> Vec<Vec<u64>> {
        self.per_step
            .chunks(self.steps_per_interval)
            .map(|steps| (0..steps[0].len()).map(|k| steps.iter().map(|s| s[k]).sum()).collect())
            .collect()
    }
}

/// One-second steps in a control interval of `interval_s` seconds, when it is a whole number of
/// them above one; else 1 (the interval itself).
pub fn steps_per_interval(interval_s: f64) -> usize {
    if interval_s > 1.0 && interval_s.fract() == 0.0 { interval_s as usize } else { 1 }
}

/// The stage arrivals of the episode of `seed`, from a FaaS-only run with one-second control steps
/// (routing and the control interval do not change which requests arrive: exits are drawn per
/// request in completion order); `tick` runs once per control interval of the real scenario.
pub fn stage_arrivals(scenario: &Arc<Scenario>, seed: u64, tick: &(dyn Fn() + Sync)) -> StageArrivals {
    let interval = scenario.config.control_interval_s;
    let steps = steps_per_interval(interval);
    let fine = if steps > 1 {
        let mut config = scenario.config.clone();
        config.control_interval_s = interval / steps as f64;
        Arc::new(Scenario { config, ..Scenario::clone(scenario) })
    } else {
        scenario.clone()
    };
    let step_s = fine.config.control_interval_s;
    let mut per_step: Vec<Vec<u64>> = Vec::with_capacity(fine.steps_per_episode());
    run_episode(&fine, &mut FaasOnly, seed, |sim, _| {
        let obs = sim.observation();
        per_step.push(
            (0..fine.n_stages())
                .map(|k| (f64::from(obs.stage(k, StageFeature::ArrivalRate)) * step_s).round() as u64)
                .collect(),
        );
        if per_step.len().is_multiple_of(steps) {
            tick();
        }
    });
    StageArrivals { per_step, steps_per_interval: steps }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_second_steps_see_the_same_arrivals_as_the_control_intervals() {
        let mut config = crate::scenario::parse("default", crate::scenario::BUILTINS[0].1).unwrap();
        config.horizon_s = 600.0;
        let scenario = Arc::new(
            Scenario::from_config(config, "default", std::path::Path::new("."), crate::Horizon::AsConfigured)
                .unwrap(),
        );
        let arrivals = stage_arrivals(&scenario, 4, &|| {});
        assert_eq!((arrivals.steps_per_interval, arrivals.per_step.len()), (10, 600));
        let mut per_interval: Vec<Vec<u64>> = Vec::new();
        run_episode(&scenario, &mut FaasOnly, 4, |sim, _| {
            let obs = sim.observation();
            per_interval.push(
                (0..4)
                    .map(|k| (f64::from(obs.stage(k, StageFeature::ArrivalRate)) * 10.0).round() as u64)
                    .collect(),
            );
        });
        assert_eq!(arrivals.per_interval(), per_interval);
    }

    #[test]
    fn pearson_of_known_series() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert!((pearson(&x, &[2.0, 4.0, 6.0, 8.0]) - 1.0).abs() < 1e-12);
        assert!((pearson(&x, &[8.0, 6.0, 4.0, 2.0]) + 1.0).abs() < 1e-12);
        assert!((pearson(&x, &[1.0, 3.0, 2.0, 4.0]) - 0.8).abs() < 1e-12);
        assert_eq!(pearson(&[3.0; 4], &x), 0.0, "a constant VM count does not follow load");
        assert_eq!(pearson(&[1.0], &[2.0]), 0.0);
    }
}
