//! The offline profiling step heuristics rely on: from a scenario, the prices, per-VM capacities
//! and cost-indifference points of every stage ([`SystemProfile`]).
//!
//! SLO-feasible capacity is measured, not assumed: one VM of the stage is simulated as a FIFO queue
//! with `slots` servers under Poisson arrivals, and the highest rate whose `attainment_target`
//! quantile of time-in-stage stays within the stage's latency budget is found by bisection. The
//! budget is the SLO minus the other stages' median service times and the VM-to-VM transfers on
//! the way (reconstructed: the paper profiles per-stage capacity offline, its exact rule is unknown).

use crate::dist::Dist;
use crate::rng::{SimRng, Stream};
use crate::scenario::Scenario;
use serflow_policies::{StageProfile, SystemProfile};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Requests simulated per capacity probe, and bisection rounds.
const PROBE_REQUESTS: usize = 20_000;
const BISECTION_ROUNDS: usize = 24;

/// Profiles `scenario`.
pub fn profile(scenario: &Scenario) -> SystemProfile {
    let cfg = &scenario.config;
    let vm_price_per_s = cfg.vm.price_per_hour / 3600.0;
    let medians: Vec<f64> = cfg.stages.iter().map(|s| s.vm_service_ms.quantile(0.5)).collect();
    let transfers_ms: f64 = cfg.stages[..cfg.stages.len() - 1]
        .iter()
        .map(|s| {
            cfg.network.vm_vm.latency_ms + s.activation_bytes * 8.0 / (cfg.network.vm_vm.bandwidth_mbps * 1e3)
        })
        .sum();
    let mut reach = 1.0;
    let stages = cfg
        .stages
        .iter()
        .enumerate()
        .map(|(k, st)| {
            let mean_s = st.vm_service_ms.mean() / 1e3;
            let faas_ms = scenario.faas_service_ms(k).mean() + cfg.faas.billing_granularity_ms / 2.0;
            let faas_cost = cfg.faas.price_per_request
                + st.faas_memory_mb / 1024.0 * faas_ms / 1e3 * cfg.faas.price_per_gb_s;
            let others: f64 = medians.iter().enumerate().filter(|(j, _)| *j != k).map(|(_, m)| m).sum();
            let budget_ms = cfg.slo.latency_ms - others - transfers_ms;
            let throughput = f64::from(cfg.vm.slots) / mean_s;
            let profile = StageProfile {
                name: st.name.clone(),
                max_vms: cfg.vm.max_per_stage,
                slots: cfg.vm.slots,
                vm_throughput_rps: throughput,
                vm_slo_capacity_rps: slo_capacity(
                    &st.vm_service_ms,
                    cfg.vm.slots,
                    throughput,
                    budget_ms,
                    cfg.slo.attainment_target,
                    k,
                ),
                faas_cost_per_request: faas_cost,
                exit_probability: st.exit_probability,
                nominal_reach: reach,
                tcip_rps: if faas_cost > 0.0 { vm_price_per_s / faas_cost } else { f64::INFINITY },
                transfer_cost_per_request: st.activation_bytes * cfg.network.transfer_price_per_gb / 1e9,
            };
            reach *= 1.0 - st.exit_probability;
            profile
        })
        .collect();
    SystemProfile {
        interval_s: cfg.control_interval_s,
        slo_latency_ms: cfg.slo.latency_ms,
        attainment_target: cfg.slo.attainment_target,
        vm_price_per_s,
        vm_boot_s: cfg.vm.boot_s.mean(),
        vm_boot_p95_s: cfg.vm.boot_s.quantile(0.95),
        vm_billing_minimum_s: cfg.vm.billing_minimum_s,
        initial_vms: cfg.vm.initial_per_stage,
        mean_rate_rps: scenario.workload.mean_rate(cfg.horizon_s),
        stages,
    }
}

/// The highest arrival rate at which one VM keeps the `quantile` of time-in-stage within
/// `budget_ms` (0 if even an idle VM cannot).
fn slo_capacity(
    service_ms: &Dist,
    slots: u32,
    throughput: f64,
    budget_ms: f64,
    quantile: f64,
    stage: usize,
) -> f64 {
    let meets = |rate: f64| sojourn_quantile_ms(service_ms, slots, rate, quantile, stage) <= budget_ms;
    if budget_ms <= 0.0 || !meets(throughput * 1e-3) {
        return 0.0;
    }
    let (mut lo, mut hi) = (throughput * 1e-3, throughput * 0.999);
    if meets(hi) {
        return hi;
    }
    for _ in 0..BISECTION_ROUNDS {
        let mid = 0.5 * (lo + hi);
        if meets(mid) { lo = mid } else { hi = mid }
    }
    lo
}

/// The `q`-quantile of time-in-system of a FIFO queue with `slots` servers, Poisson arrivals at
/// `rate` req/s and the given service times (a fixed seed: the profile is deterministic).
fn sojourn_quantile_ms(service_ms: &Dist, slots: u32, rate: f64, q: f64, stage: usize) -> f64 {
    let mut rng = SimRng::new(0x5e7f_1000 + stage as u64, Stream::VmService(stage));
    let mut free_at: BinaryHeap<Reverse<u64>> = (0..slots).map(|_| Reverse(0u64)).collect();
    let mut t = 0.0f64;
    let mut sojourns: Vec<f64> = Vec::with_capacity(PROBE_REQUESTS);
    for _ in 0..PROBE_REQUESTS {
        t += rng.exponential(1.0 / rate);
        let arrival_us = (t * 1e6) as u64;
        let Reverse(free) = free_at.pop().unwrap_or(Reverse(0));
        let start = free.max(arrival_us);
        let end = start + (service_ms.sample(&mut rng) * 1e3) as u64;
        free_at.push(Reverse(end));
        sojourns.push((end - arrival_us) as f64 / 1e3);
    }
    // Skip the warm-up tenth, then the nearest-rank quantile.
    let tail = &mut sojourns[PROBE_REQUESTS / 10..];
    let rank = ((q * tail.len() as f64).ceil() as usize).clamp(1, tail.len());
    *tail.select_nth_unstable_by(rank - 1, f64::total_cmp).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mm1_sojourn_quantile_matches_theory() {
        // M/M/1, mu = 10/s, lambda = 5/s: sojourn ~ Exp(mu - lambda), p90 = ln(10)/5 s = 460.5 ms.
        let d = Dist::Exponential { mean: 100.0 };
        let p90 = sojourn_quantile_ms(&d, 1, 5.0, 0.9, 0);
        assert!((p90 / 460.5 - 1.0).abs() < 0.05, "{p90}");
    }

    #[test]
    fn default_profile_has_sane_capacities_and_tcip() {
        let s = Scenario::load("default").unwrap();
        let p = profile(&s);
        for st in &p.stages {
            assert!(st.vm_slo_capacity_rps > 0.0 && st.vm_slo_capacity_rps < st.vm_throughput_rps, "{st:?}");
            assert!(st.tcip_rps > 1.0 && st.tcip_rps < 100.0, "{st:?}");
        }
        assert!((p.stages[3].nominal_reach - 0.15).abs() < 1e-12);
        assert!(p.mean_rate_rps > 150.0 && p.mean_rate_rps < 200.0, "{}", p.mean_rate_rps);
    }
}
