//! The paper's claim on the `default` scenario: the exit-aware SERFLOW heuristic costs well under
//! LIBRA (which sizes every stage for the front-end rate) while both meet the SLO target. A regression
//! guard for the simulator and the heuristics together; the measured figures are in the README.

use rayon::prelude::*;
use serflow_env::{Scenario, build_policy, run_episode};
use std::sync::Arc;

fn mean_over_seeds(scenario: &Arc<Scenario>, policy: &str) -> (f64, f64) {
    let runs: Vec<(f64, f64)> = (1..=5u64)
        .into_par_iter()
        .map(|seed| {
            let mut p = build_policy(policy, scenario).unwrap();
            let r = run_episode(scenario, p.as_mut(), seed, |_, _| {});
            (r.cost.total, r.slo.attainment)
        })
        .collect();
    let n = runs.len() as f64;
    (runs.iter().map(|r| r.0).sum::<f64>() / n, runs.iter().map(|r| r.1).sum::<f64>() / n)
}

#[test]
fn serflow_is_at_least_20_percent_cheaper_than_libra_and_meets_the_target() {
    let scenario = Arc::new(Scenario::load("default").unwrap());
    let target = scenario.config.slo.attainment_target;
    let (libra_cost, libra_att) = mean_over_seeds(&scenario, "libra");
    let (serflow_cost, serflow_att) = mean_over_seeds(&scenario, "serflow");
    assert!(
        libra_att >= target && serflow_att >= target,
        "attainment: libra {libra_att}, serflow {serflow_att}"
    );
    assert!(serflow_cost <= 0.8 * libra_cost, "serflow ${serflow_cost:.4} vs libra ${libra_cost:.4}");
}
