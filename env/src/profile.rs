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
use rayon::prelude::*;
use serflow_policies::baselines::PoolCapacity;
use serflow_policies::{StageProfile, SystemProfile};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Requests simulated per capacity probe, and bisection rounds.
const PROBE_REQUESTS: usize = 20_000;
const BISECTION_ROUNDS: usize = 24;
/// A pool's probe runs at least this many requests per server, so its queue sees many busy periods.
const POOL_PROBE_REQUESTS_PER_SERVER: usize = 200;
/// Bisection rounds of a pool's probe (from a bracket already within a factor of a few).
const POOL_BISECTION_ROUNDS: usize = 16;
/// The largest pool, in servers (VMs x slots), probed; see [`pool_capacity`].
const MAX_PROBED_SERVERS: u64 = 256;

/// Profiles `scenario`.
pub fn profile(scenario: &Scenario) -> SystemProfile {
    let cfg = &scenario.config;
    let vm_price_per_s = cfg.vm.price_per_hour / 3600.0;
    let budgets = stage_budgets_ms(scenario);
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
            let budget_ms = budgets[k];
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
    let meets = |rate: f64| {
        sojourn_quantile_ms(service_ms, slots, rate, quantile, stage, PROBE_REQUESTS) <= budget_ms
    };
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

/// Per stage, the requests per second `n` ready VMs serve within the stage's latency budget at the
/// attainment quantile, for `n = 0..=max_per_stage` (what the oracle plans with), and whether the
/// balancer spills what would wait too long. A stage's VMs share one FIFO queue, so `n` of them
/// serve more than `n` times one VM's SLO-feasible capacity (pooling: a request waits for the first
/// of `n x slots` servers). Measured as the single VM is, by
/// bisection over a simulated queue, at VM counts about 1.5x apart up to `MAX_PROBED_SERVERS`
/// servers, and linear in between per VM; a larger pool is credited the per-VM capacity of the
/// largest probed one, which under-counts it a little. Never less for more VMs. Takes 0.2 s for
/// `production` on 2 cores: build it once, and only for the oracle.
pub fn pool_capacity(scenario: &Scenario, profile: &SystemProfile) -> PoolCapacity {
    let cfg = &scenario.config;
    let budgets = stage_budgets_ms(scenario);
    let rps = (0..cfg.stages.len())
        .into_par_iter()
        .map(|k| {
            let stage = &profile.stages[k];
            let slots = cfg.vm.slots;
            let mut probes = vec![(1u32, stage.vm_slo_capacity_rps)];
            let mut n = 1u32;
            loop {
                n = (n + 1).max((f64::from(n) * 1.5).ceil() as u32);
                if n > stage.max_vms || u64::from(n) * u64::from(slots) > MAX_PROBED_SERVERS {
                    break;
                }
                let (last_n, last) = *probes.last().expect("one probe at least");
                // n VMs serve at least what fewer served, and at most n busy VMs' throughput.
                let floor = last * f64::from(n) / f64::from(last_n);
                let servers = n * slots;
                let total = pooled_slo_capacity(
                    &cfg.stages[k].vm_service_ms,
                    servers,
                    floor,
                    f64::from(n) * stage.vm_throughput_rps,
                    budgets[k],
                    cfg.slo.attainment_target,
                    k,
                );
                probes.push((n, total));
            }
            let per_vm = |n: u32| {
                let at = probes.partition_point(|&(p, _)| p <= n);
                let (n0, c0) = probes[at - 1];
                match probes.get(at) {
                    Some(&(n1, c1)) => {
                        let (v0, v1) = (c0 / f64::from(n0), c1 / f64::from(n1));
                        v0 + (v1 - v0) * f64::from(n - n0) / f64::from(n1 - n0)
                    }
                    None => c0 / f64::from(n0),
                }
            };
            let mut table = vec![0.0];
            for n in 1..=stage.max_vms {
                let previous = table[table.len() - 1];
                table.push((f64::from(n) * per_vm(n)).max(previous));
            }
            table
        })
        .collect();
    PoolCapacity { rps, balancer_spills: cfg.balancer.vm_queue_wait_ms.is_some() }
}

/// Per stage, the time a request may spend in it: the SLO minus the other stages' median service
/// times and the VM-to-VM transfers on the way.
fn stage_budgets_ms(scenario: &Scenario) -> Vec<f64> {
    let cfg = &scenario.config;
    let medians: Vec<f64> = cfg.stages.iter().map(|s| s.vm_service_ms.quantile(0.5)).collect();
    let transfers_ms = cfg.vm_vm_transfers_ms();
    (0..cfg.stages.len())
        .map(|k| {
            let others: f64 = medians.iter().enumerate().filter(|(j, _)| *j != k).map(|(_, m)| m).sum();
            cfg.slo.latency_ms - others - transfers_ms
        })
        .collect()
}

/// The highest rate in `[floor, ceiling]` (requests per second) at which a FIFO queue with
/// `servers` servers keeps the `quantile` of time-in-stage within `budget_ms`; `floor` when not
/// even a higher rate does.
fn pooled_slo_capacity(
    service_ms: &Dist,
    servers: u32,
    floor: f64,
    ceiling: f64,
    budget_ms: f64,
    quantile: f64,
    stage: usize,
) -> f64 {
    let requests = PROBE_REQUESTS.max(POOL_PROBE_REQUESTS_PER_SERVER * servers as usize);
    let meets = |rate: f64| {
        rate > 0.0 && sojourn_quantile_ms(service_ms, servers, rate, quantile, stage, requests) <= budget_ms
    };
    let (mut lo, mut hi) = (floor, ceiling * 0.999);
    if hi <= lo || meets(hi) {
        return hi.max(lo);
    }
    for _ in 0..POOL_BISECTION_ROUNDS {
        let mid = 0.5 * (lo + hi);
        if meets(mid) { lo = mid } else { hi = mid }
    }
    lo
}

/// The `q`-quantile of time-in-system of a FIFO queue with `servers` servers, Poisson arrivals at
/// `rate` req/s and the given service times, over `requests` requests (a fixed seed: the profile
/// is deterministic).
fn sojourn_quantile_ms(
    service_ms: &Dist,
    servers: u32,
    rate: f64,
    q: f64,
    stage: usize,
    requests: usize,
) -> f64 {
    let mut rng = SimRng::new(0x5e7f_1000 + stage as u64, Stream::VmService(stage));
    let mut free_at: BinaryHeap<Reverse<u64>> = (0..servers).map(|_| Reverse(0u64)).collect();
    let mut t = 0.0f64;
    let mut sojourns: Vec<f64> = Vec::with_capacity(requests);
    for _ in 0..requests {
        t += rng.exponential(1.0 / rate);
        let arrival_us = (t * 1e6) as u64;
        let Reverse(free) = free_at.pop().unwrap_or(Reverse(0));
        let start = free.max(arrival_us);
        let end = start + (service_ms.sample(&mut rng) * 1e3) as u64;
        free_at.push(Reverse(end));
        sojourns.push((end - arrival_us) as f64 / 1e3);
    }
    // Skip the warm-up tenth, then the nearest-rank quantile.
    let tail = &mut sojourns[requests / 10..];
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
        let p90 = sojourn_quantile_ms(&d, 1, 5.0, 0.9, 0, PROBE_REQUESTS);
        assert!((p90 / 460.5 - 1.0).abs() < 0.05, "{p90}");
    }

    #[test]
    fn pooled_sojourn_quantile_matches_erlang_c() {
        // M/M/8, mu = 10/s, lambda = 65/s: a request waits with the Erlang C probability, then
        // for Exp(c mu - lambda), and is served for Exp(mu).
        let (c, mu, lambda, q) = (8, 10.0f64, 65.0f64, 0.99);
        let a = lambda / mu;
        let term = |k: i32| a.powi(k) / (1..=k).map(f64::from).product::<f64>();
        let tail = term(c) * f64::from(c) / (f64::from(c) - a);
        let erlang_c = tail / ((0..c).map(term).sum::<f64>() + tail);
        let theta = f64::from(c) * mu - lambda;
        let exceeds = |t: f64| {
            let waited = (theta * (-mu * t).exp() - mu * (-theta * t).exp()) / (theta - mu);
            (1.0 - erlang_c) * (-mu * t).exp() + erlang_c * waited
        };
        let (mut lo, mut hi) = (0.0, 10.0);
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if exceeds(mid) > 1.0 - q { lo = mid } else { hi = mid }
        }
        let d = Dist::Exponential { mean: 100.0 };
        let probed = sojourn_quantile_ms(&d, c as u32, lambda, q, 0, 200_000);
        assert!((probed / (lo * 1e3) - 1.0).abs() < 0.05, "{probed} ms vs {} ms", lo * 1e3);
    }

    #[test]
    fn a_pool_serves_more_per_vm_than_one_vm_never_less_for_more_vms() {
        let s = Scenario::load("default").unwrap();
        let p = profile(&s);
        let pools = pool_capacity(&s, &p);
        assert!(!pools.balancer_spills || s.config.balancer.vm_queue_wait_ms.is_some());
        for (stage, rps) in p.stages.iter().zip(&pools.rps) {
            assert_eq!(rps.len(), stage.max_vms as usize + 1);
            assert_eq!(
                (rps[0], rps[1]),
                (0.0, stage.vm_slo_capacity_rps),
                "one VM as the profile measured it"
            );
            for n in 1..rps.len() {
                assert!(rps[n] >= rps[n - 1], "{}: {rps:?}", stage.name);
                assert!(rps[n] <= n as f64 * stage.vm_throughput_rps, "{}: {rps:?}", stage.name);
            }
            // A VM far below its throughput alone (a long tail) gains most from sharing a queue.
            let (alone, shared) = (stage.vm_slo_capacity_rps, rps[16] / 16.0);
            if alone < 0.8 * stage.vm_throughput_rps {
                assert!(shared > 1.5 * alone, "{}: {alone} req/s per VM alone, {shared} in 16", stage.name);
            }
        }
        let mut bounded = s.clone();
        bounded.config.balancer.vm_queue_wait_ms = None;
        assert!(!pool_capacity(&bounded, &p).balancer_spills);
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
