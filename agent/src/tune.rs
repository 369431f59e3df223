//! `serflow tune`: calibrates the rule-based baselines on training seeds, the way an operator would
//! tune their own autoscaler before trusting a learned one (RLScale-Bench found calibrated rules
//! beating untuned RL agents; serflow's agent is judged against these).
//!
//! Every setting is simulated on the same training seeds; a setting qualifies when its mean
//! attainment reaches the target plus a margin (a fifth of the allowed violations, so held-out
//! seeds stay at the target), and the cheapest qualifying one wins. `faas-only` and `vm-only` are
//! scored first: a calibrated rule that is not cheaper than the cheapest of them that qualifies
//! falls back to it, so calibration never makes a baseline worse than those two. The searches:
//! - `static-best`: per stage, enough VMs for a quantile of the stage's per-interval rate (one
//!   quantile for all stages, a grid), FaaS taking the overflow; then all traffic to VMs at the best.
//! - `tuned-hpa`, `serflow-tuned`: coordinate descent, one parameter at a time over a grid, from
//!   HPA's defaults and SERFLOW's published defaults (transfer-aware) respectively.
//! - `predictive-hpa`: the same descent from `tuned-hpa`'s best with a forecast one mean VM boot
//!   ahead: the target utilisation first (a forecast leaves VMs less slack to keep, so the target
//!   that suits it is higher: searched under the lead, not before it), then the lead (0 included,
//!   so it is never worse than `tuned-hpa` on these seeds), then the scale-in window.

use rayon::prelude::*;
use serflow_env::comparison::{mean_cost_and_attainment, stage_arrivals};
use serflow_env::registry::PolicyRegistry;
use serflow_env::{Scenario, run_episode};
use serflow_policies::Policy;
use serflow_policies::baselines::{
    FaasOnly, Hpa, HpaConfig, Serflow, SerflowConfig, StaticAllocation, StaticStage,
};
use serflow_policies::calibration::{Calibrated, Calibration, Fit};
use std::sync::Arc;

/// Rate quantiles the static search sizes VMs for.
const STATIC_QUANTILES: [f64; 7] = [0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0];

/// Episodes one calibration simulates per seed (for progress bars): the stage-arrival run, the two
/// fallbacks, and every setting the searches try.
pub fn episodes_per_seed() -> u64 {
    // Coordinate descent scores its start, then every grid value but the current one per axis.
    fn descent<T>(start: &T, axes: &[Axis<T>]) -> usize {
        1 + axes.iter().map(|axis| axis(start).len() - 1).sum::<usize>()
    }
    let hpa = descent(&HpaConfig::with_overflow(), &hpa_axes());
    let predictive =
        descent(&HpaConfig { forecast_s: 1.0, ..HpaConfig::with_overflow() }, &predictive_axes(1.0));
    let serflow = descent(&serflow_start(), &serflow_axes());
    (1 + 2 + STATIC_QUANTILES.len() + 1 + hpa + predictive + serflow) as u64
}

/// Calibrates `static-best`, `tuned-hpa`, `predictive-hpa` and `serflow-tuned` on `seeds`; `tick`
/// runs after every simulated episode.
pub fn tune(scenario: &Arc<Scenario>, seeds: &[u64], tick: &(dyn Fn() + Sync)) -> Calibration {
    let registry = PolicyRegistry::new(scenario);
    let target = scenario.config.slo.attainment_target;
    let mut search = Search { scenario, seeds, tick, required: target + 0.2 * (1.0 - target), evaluated: 0 };
    let arrivals: Vec<Vec<Vec<u64>>> = seeds
        .par_iter()
        .map(|&seed| {
            let a = stage_arrivals(scenario, seed, &|| {});
            tick();
            a.per_interval()
        })
        .collect();
    let faas_only = search.score(&|| Box::new(FaasOnly));
    let vm_only =
        search.score(&|| Box::new(Hpa::new("vm-only", registry.profile().clone(), HpaConfig::vm_only())));
    let fallback = [(Fallback::FaasOnly, faas_only), (Fallback::VmOnly, vm_only)]
        .into_iter()
        .filter(|(_, fit)| fit.attainment >= search.required)
        .min_by(|a, b| a.1.cost.total_cmp(&b.1.cost));

    let profile = registry.profile().clone();
    search.evaluated = 0;
    let static_best = {
        let p = profile.clone();
        let candidates: Vec<Vec<StaticStage>> =
            STATIC_QUANTILES.iter().map(|&q| static_allocation(&p, &arrivals, q)).collect();
        let build = |stages: &Vec<StaticStage>| -> Box<dyn Policy> {
            Box::new(StaticAllocation::new(p.clone(), stages.clone()))
        };
        let (best, fit) = search.best_of(candidates, &build);
        // The same VMs offered every request (no overflow cap) can be cheaper when VMs have slack.
        let all_to_vms: Vec<StaticStage> =
            best.iter().map(|s| StaticStage { faas_overflow: false, ..s.clone() }).collect();
        let (best, fit) = search.better_of((best, fit), all_to_vms, &build);
        search.finish(best, fit, fallback.clone())
    };
    let hpa = |name: &'static str| {
        let p = profile.clone();
        move |c: &HpaConfig| -> Box<dyn Policy> { Box::new(Hpa::new(name, p.clone(), c.clone())) }
    };
    let (hpa_best, hpa_fit) = search.descend(HpaConfig::with_overflow(), &hpa_axes(), &hpa("tuned-hpa"));
    let tuned_hpa = search.finish(hpa_best.clone(), hpa_fit, fallback.clone());
    let predictive_hpa = {
        let boot = profile.vm_boot_s;
        let start = HpaConfig { forecast_s: boot, ..hpa_best };
        let (best, fit) = search.descend(start, &predictive_axes(boot), &hpa("predictive-hpa"));
        search.finish(best, fit, fallback.clone())
    };
    let serflow_tuned = {
        let p = profile.clone();
        let build = |c: &SerflowConfig| -> Box<dyn Policy> {
            Box::new(Serflow::new("serflow-tuned", p.clone(), c.clone()))
        };
        let (best, fit) = search.descend(serflow_start(), &serflow_axes(), &build);
        search.finish(best, fit, fallback.clone())
    };
    Calibration {
        scenario: scenario.config.name.clone(),
        n_stages: scenario.n_stages(),
        seeds: (seeds.first().copied().unwrap_or(0), seeds.len() as u64),
        required_attainment: search.required,
        static_best,
        tuned_hpa,
        predictive_hpa,
        serflow_tuned,
    }
}

#[derive(Clone, Copy)]
enum Fallback {
    FaasOnly,
    VmOnly,
}

/// Per stage, VMs for the `q`-quantile of the stage's per-interval arrival rate at SLO-feasible
/// capacity, FaaS taking the overflow.
fn static_allocation(
    profile: &serflow_policies::SystemProfile,
    arrivals: &[Vec<Vec<u64>>],
    q: f64,
) -> Vec<StaticStage> {
    profile
        .stages
        .iter()
        .enumerate()
        .map(|(k, stage)| {
            let mut rates: Vec<f64> = arrivals
                .iter()
                .flatten()
                .map(|interval| interval.get(k).copied().unwrap_or(0) as f64 / profile.interval_s)
                .collect();
            rates.sort_by(f64::total_cmp);
            let rank = ((q * rates.len() as f64).ceil() as usize).clamp(1, rates.len().max(1)) - 1;
            let rate = rates.get(rank).copied().unwrap_or(0.0);
            let vms = if stage.vm_slo_capacity_rps > 0.0 {
                ((rate / stage.vm_slo_capacity_rps).ceil() as u32).min(stage.max_vms)
            } else {
                0
            };
            StaticStage { vms, vm_share: 1.0, faas_overflow: true }
        })
        .collect()
}

type Axis<T> = Box<dyn Fn(&T) -> Vec<T>>;

fn target_axis() -> Axis<HpaConfig> {
    Box::new(|c: &HpaConfig| {
        [0.4, 0.5, 0.6, 0.7, 0.8, 0.9].map(|t| HpaConfig { target_utilisation: t, ..c.clone() }).to_vec()
    })
}

fn stabilisation_axis() -> Axis<HpaConfig> {
    Box::new(|c: &HpaConfig| {
        [60.0, 150.0, 300.0, 600.0].map(|s| HpaConfig { stabilisation_s: s, ..c.clone() }).to_vec()
    })
}

fn hpa_axes() -> Vec<Axis<HpaConfig>> {
    vec![
        target_axis(),
        stabilisation_axis(),
        Box::new(|c| [0.0, 0.1, 0.2].map(|t| HpaConfig { tolerance: t, ..c.clone() }).to_vec()),
        Box::new(|c| [0, 1, 2].map(|m| HpaConfig { min_vms: m, ..c.clone() }).to_vec()),
        Box::new(|c| [true, false].map(|o| HpaConfig { faas_overflow: o, ..c.clone() }).to_vec()),
    ]
}

/// The target, the forecast lead in multiples of the mean VM boot `boot_s`, then the window.
fn predictive_axes(boot_s: f64) -> Vec<Axis<HpaConfig>> {
    vec![
        target_axis(),
        Box::new(move |c: &HpaConfig| {
            [0.0, 0.5, 1.0, 1.5].map(|f| HpaConfig { forecast_s: f * boot_s, ..c.clone() }).to_vec()
        }),
        stabilisation_axis(),
    ]
}

fn serflow_start() -> SerflowConfig {
    SerflowConfig { transfer_aware: true, ..SerflowConfig::default() }
}

fn serflow_axes() -> Vec<Axis<SerflowConfig>> {
    vec![
        Box::new(|c: &SerflowConfig| {
            [0.6, 0.75, 0.9, 1.0, 1.1].map(|f| SerflowConfig { capacity_factor: f, ..c.clone() }).to_vec()
        }),
        Box::new(|c| [0.0, 0.5, 1.0, 2.0].map(|z| SerflowConfig { z, ..c.clone() }).to_vec()),
        Box::new(|c| [0.2, 0.4, 0.7].map(|a| SerflowConfig { alpha: a, ..c.clone() }).to_vec()),
        Box::new(|c| {
            [60.0, 150.0, 300.0, 600.0].map(|s| SerflowConfig { stabilisation_s: s, ..c.clone() }).to_vec()
        }),
        Box::new(|c| [true, false].map(|t| SerflowConfig { transfer_aware: t, ..c.clone() }).to_vec()),
    ]
}

/// Scores settings on the training seeds.
struct Search<'a> {
    scenario: &'a Arc<Scenario>,
    seeds: &'a [u64],
    tick: &'a (dyn Fn() + Sync),
    required: f64,
    evaluated: u32,
}

impl Search<'_> {
    /// Mean cost and attainment of a policy over the seeds.
    fn score(&mut self, build: &(dyn Fn() -> Box<dyn Policy> + Sync)) -> Fit {
        let reports: Vec<_> = self
            .seeds
            .par_iter()
            .map(|&seed| {
                let mut policy = build();
                let report = run_episode(self.scenario, policy.as_mut(), seed, |_, _| {});
                (self.tick)();
                report
            })
            .collect();
        self.evaluated += 1;
        let (cost, attainment) = mean_cost_and_attainment(&reports.iter().collect::<Vec<_>>());
        Fit { cost, attainment, evaluated: self.evaluated }
    }

    /// Whether `a` beats `b`: qualifying beats not; among qualifying the cheaper, among the rest
    /// the higher attainment.
    fn beats(&self, a: &Fit, b: &Fit) -> bool {
        match (a.attainment >= self.required, b.attainment >= self.required) {
            (true, false) => true,
            (false, true) => false,
            (true, true) => a.cost < b.cost,
            (false, false) => a.attainment > b.attainment,
        }
    }

    fn best_of<T: Clone + Sync>(
        &mut self,
        candidates: Vec<T>,
        build: &(dyn Fn(&T) -> Box<dyn Policy> + Sync),
    ) -> (T, Fit) {
        let mut best: Option<(T, Fit)> = None;
        for candidate in candidates {
            best = Some(match best {
                None => {
                    let fit = self.score(&|| build(&candidate));
                    (candidate, fit)
                }
                Some(incumbent) => self.better_of(incumbent, candidate, build),
            });
        }
        best.expect("at least one candidate")
    }

    fn better_of<T: Sync>(
        &mut self,
        incumbent: (T, Fit),
        candidate: T,
        build: &(dyn Fn(&T) -> Box<dyn Policy> + Sync),
    ) -> (T, Fit) {
        let fit = self.score(&|| build(&candidate));
        if self.beats(&fit, &incumbent.1) { (candidate, fit) } else { incumbent }
    }

    /// One pass of coordinate descent over `axes` from `start`.
    fn descend<T: Clone + PartialEq + Sync>(
        &mut self,
        start: T,
        axes: &[Axis<T>],
        build: &(dyn Fn(&T) -> Box<dyn Policy> + Sync),
    ) -> (T, Fit) {
        let fit = self.score(&|| build(&start));
        let mut best = (start, fit);
        for axis in axes {
            for candidate in axis(&best.0) {
                if candidate != best.0 {
                    best = self.better_of(best, candidate, build);
                }
            }
        }
        best
    }

    /// The rule, or the fallback when that is cheaper at the target; resets the count.
    fn finish<T>(&mut self, best: T, fit: Fit, fallback: Option<(Fallback, Fit)>) -> (Calibrated<T>, Fit) {
        let evaluated = std::mem::take(&mut self.evaluated);
        match fallback {
            Some((which, fallback_fit)) if !self.beats(&fit, &fallback_fit) => {
                let entry = match which {
                    Fallback::FaasOnly => Calibrated::FaasOnly,
                    Fallback::VmOnly => Calibrated::VmOnly,
                };
                (entry, Fit { evaluated, ..fallback_fit })
            }
            _ => (Calibrated::Rule(best), Fit { evaluated, ..fit }),
        }
    }
}
