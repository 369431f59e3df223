//! The simulator held against theory and hand computation, not against itself.

use serflow_env::scenario::{Horizon, ScenarioConfig, parse};
use serflow_env::workload::{RateFn, TraceFormat, WorkloadConfig};
use serflow_env::{EpisodeReport, Scenario};
use serflow_policies::Action;
use serflow_policies::schema::StageAction;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One stage, exponential VM service, no network, generous limits; tests change what they need.
const BASE: &str = r#"Scenario(
    name: "test",
    stages: [Stage(name: "s0", exit_probability: 1.0, vm_service_ms: Exponential(mean: 100.0),
                   faas_memory_mb: 1024.0, activation_bytes: 0.0)],
    vm: Vm(name: "t", price_per_hour: 3.6, slots: 2, boot_s: Deterministic(10.0),
           billing_minimum_s: 60.0, max_per_stage: 10, initial_per_stage: 0),
    faas: Faas(price_per_gb_s: 0.0000166667, price_per_request: 0.0000002, billing_granularity_ms: 1.0,
               cold_start_ms: Deterministic(500.0), init_billed: true, keep_alive_s: 600.0,
               concurrency_limit: 1000, invocation_overhead_ms: 0.0, slowdown: 1.0),
    network: Network(vm_vm: Link(latency_ms: 0.0, bandwidth_mbps: 1000.0),
                     vm_faas: Link(latency_ms: 0.0, bandwidth_mbps: 1000.0),
                     faas_faas: Link(latency_ms: 0.0, bandwidth_mbps: 1000.0)),
    balancer: Balancer(vm_queue_wait_ms: None),
    slo: Slo(latency_ms: 1000.0, attainment_target: 0.99),
    control_interval_s: 10.0,
    horizon_s: 400.0,
    reward: Reward(cost_scale: 1.0, violation_penalty: 1.0),
    workload: Poisson(rate: Constant(0.0)),
)"#;

fn base() -> ScenarioConfig {
    parse("base", BASE).unwrap()
}

fn build(cfg: ScenarioConfig) -> Arc<Scenario> {
    Arc::new(Scenario::from_config(cfg, "test", Path::new("."), Horizon::AsConfigured).unwrap())
}

/// Runs a fixed schedule of `(from_s, vm_target, vm_share)` (applied to every stage) against
/// `scenario`.
fn run_schedule(scenario: &Arc<Scenario>, schedule: &[(f64, u32, f32)], seed: u64) -> EpisodeReport {
    let mut sim = serflow_env::Simulator::new(scenario.clone(), seed);
    let mut action = Action::faas_only(scenario.n_stages());
    while !sim.at_horizon() {
        let t = sim.now().as_secs_f64();
        if let Some(&(_, vms, share)) = schedule.iter().rev().find(|(from, _, _)| *from <= t) {
            for a in &mut action.stages {
                *a = StageAction { vm_target: vms, vm_share: share, vm_rate_limit: None };
            }
        }
        sim.step(&action);
    }
    sim.finish("schedule")
}

fn erlang_c(c: u32, offered: f64) -> f64 {
    // P(wait) for M/M/c with offered load a = lambda/mu (Erlang C).
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..c {
        term *= offered / f64::from(k);
        sum += term;
    }
    let last = term * offered / f64::from(c) * f64::from(c) / (f64::from(c) - offered);
    last / (sum + last)
}

#[test]
fn mm_c_pool_mean_wait_matches_erlang_c() {
    // c = 2 VMs x 2 slots = 4 servers, mu = 10/s, lambda = 32/s: rho = 0.8.
    let mut cfg = base();
    cfg.vm.initial_per_stage = 2;
    cfg.horizon_s = 40_000.0;
    cfg.workload = WorkloadConfig::Poisson { rate: RateFn::Constant(32.0), bursts: None };
    let scenario = build(cfg);
    let report = run_schedule(&scenario, &[(0.0, 2, 1.0)], 7);
    assert_eq!(report.invocations.faas, 0, "nothing may spill to FaaS");
    let (lambda, mu, c) = (32.0, 10.0, 4);
    let expected_ms = erlang_c(c, lambda / mu) / (f64::from(c) * mu - lambda) * 1e3;
    let measured_ms = report.stages[0].vm.mean_wait_ms;
    let rel = measured_ms / expected_ms - 1.0;
    assert!(
        rel.abs() < 0.03,
        "mean wait {measured_ms:.3} ms vs Erlang C {expected_ms:.3} ms ({:+.2} %)",
        rel * 100.0
    );
}

/// Writes a CSV trace with plain-second timestamps into a temp file.
fn csv_trace(name: &str, times: &[f64]) -> String {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("serflow-validation-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let body: String = times.iter().map(|t| format!("{t},1\n")).collect();
    std::fs::write(&path, format!("TIMESTAMP,ContextTokens\n{body}")).unwrap();
    path.display().to_string()
}

fn trace_workload(path: String) -> WorkloadConfig {
    WorkloadConfig::Trace {
        path,
        format: TraceFormat::Csv { size_column: None, size_column_optional: false },
        rate_scale: 1.0,
        time_scale: 1.0,
        start_s: 0.0,
        random_offset: false,
        mean_rate: None,
    }
}

#[test]
fn billing_matches_a_hand_computation_to_the_cent() {
    // VMs: $3.6/h = $0.001/s, 60 s minimum. Three VMs from 0 s; two stop at 100 s (100 s each), the
    // last at 250 s (250 s); one more from 300 s to 310 s (10 s, billed 60 s). 510 s -> $0.51.
    // FaaS: 20 requests at least 16 s apart, 100.4 ms each at 1 GB, billed per started ms -> 101 ms;
    // the first is cold (500 ms init, billed) -> 601 ms. No VM share: every request runs on FaaS.
    let mut cfg = base();
    cfg.stages[0].vm_service_ms = serflow_env::dist::Dist::Deterministic(100.4);
    let mut times: Vec<f64> = (0..19).map(|i| f64::from(i) * 17.0).collect();
    times.push(339.5); // the trace then covers 340 s
    cfg.horizon_s = 340.0;
    cfg.workload = trace_workload(csv_trace("billing.csv", &times));
    let scenario = build(cfg);
    let report = run_schedule(
        &scenario,
        &[(0.0, 3, 0.0), (100.0, 1, 0.0), (250.0, 0, 0.0), (300.0, 1, 0.0), (310.0, 0, 0.0)],
        1,
    );
    assert_eq!(report.vm_seconds, 510.0);
    assert!((report.cost.vm - 0.51).abs() < 1e-9, "{}", report.cost.vm);
    let gb_s = (601.0 + 19.0 * 101.0) / 1000.0;
    let faas = 20.0 * 0.0000002 + gb_s * 0.0000166667;
    assert!((report.cost.faas - faas).abs() < 1e-12, "{} vs {faas}", report.cost.faas);
    assert!((report.cost.total - (0.51 + faas)).abs() < 0.005);
    assert_eq!(report.requests.total, 20);
    assert_eq!(report.cold_starts.faas, 1);
}

#[test]
fn faas_cold_starts_are_exactly_what_keep_alive_implies() {
    // One request every 30 s, then a 400 s gap, then every 30 s again; 1 s service, 500 ms init.
    let mut times: Vec<f64> = (0..10).map(|i| f64::from(i) * 30.0).collect(); // 0..270
    times.extend((0..10).map(|i| 669.5 + f64::from(i) * 30.0)); // 669.5..939.5, inside the 940 s horizon
    let run = |keep_alive_s: f64| {
        let mut cfg = base();
        cfg.stages[0].vm_service_ms = serflow_env::dist::Dist::Deterministic(1000.0);
        cfg.faas.keep_alive_s = keep_alive_s;
        cfg.horizon_s = 940.0;
        cfg.workload = trace_workload(csv_trace(&format!("cold-{keep_alive_s}.csv"), &times));
        run_schedule(&build(cfg), &[(0.0, 0, 0.0)], 1).cold_starts.faas
    };
    // Each container idles for 30 - 1 = 29 s (28.5 s after the cold one) between requests.
    assert_eq!(run(600.0), 1, "keep-alive spans every gap");
    assert_eq!(run(60.0), 2, "only the 400 s gap loses the container");
    assert_eq!(run(20.0), 20, "every gap exceeds keep-alive");
}

#[test]
fn reach_fractions_match_the_product_of_continuation_probabilities() {
    let mut cfg = parse("default", serflow_env::scenario::BUILTINS[0].1).unwrap();
    cfg.exit_drift = None;
    cfg.workload = WorkloadConfig::Poisson { rate: RateFn::Constant(150.0), bursts: None };
    let exits: Vec<f64> = cfg.stages.iter().map(|s| s.exit_probability).collect();
    let scenario = build(cfg);
    let report = run_schedule(&scenario, &[(0.0, 0, 0.0)], 3);
    let mut reach = 1.0;
    for (k, st) in report.stages.iter().enumerate() {
        let rel = st.reach_fraction / reach - 1.0;
        assert!(rel.abs() < 0.01, "stage {k}: reach {} vs {reach}", st.reach_fraction);
        reach *= 1.0 - exits[k];
    }
}

#[test]
fn bigger_requests_exit_later_when_size_drives_exits() {
    // Sizes 1..=2000 (median ~1000); with elasticity 1, small requests exit more, large ones less.
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("serflow-validation-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sizes.csv");
    let rows: String =
        (0..20_000).map(|i| format!("{},{}\n", f64::from(i) * 0.05, (i * 7919) % 2000 + 1)).collect();
    std::fs::write(&path, format!("TIMESTAMP,ContextTokens\n{rows}")).unwrap();
    let reach_of_stage1 = |elasticity: Option<f64>| {
        let mut cfg = parse("default", serflow_env::scenario::BUILTINS[0].1).unwrap();
        cfg.exit_drift = None;
        cfg.horizon_s = 990.0;
        cfg.size_exit = elasticity.map(|e| serflow_env::scenario::SizeExitConfig { elasticity: e });
        cfg.workload = WorkloadConfig::Trace {
            path: path.display().to_string(),
            format: TraceFormat::Csv {
                size_column: Some("ContextTokens".into()),
                size_column_optional: false,
            },
            rate_scale: 1.0,
            time_scale: 1.0,
            start_s: 0.0,
            random_offset: false,
            mean_rate: None,
        };
        run_schedule(&build(cfg), &[(0.0, 0, 0.0)], 5).stages[1].reach_fraction
    };
    let (plain, sized) = (reach_of_stage1(None), reach_of_stage1(Some(1.0)));
    assert!((plain - 0.5).abs() < 0.02, "{plain}");
    // E[min(1, 0.5 * 1000 / s)] over s ~ U(1, 2000) is ~0.6, so reach drops to ~0.4.
    assert!(sized < plain - 0.05, "size-driven exits: reach {sized} vs {plain}");
}

#[test]
fn per_stage_interval_costs_add_up_to_the_interval_and_the_episode() {
    let scenario = Arc::new(Scenario::load("default").unwrap());
    let mut sim = serflow_env::Simulator::new(scenario.clone(), 3);
    let mut action = Action::faas_only(scenario.n_stages());
    action.stages[1] = StageAction { vm_target: 1, vm_share: 1.0, vm_rate_limit: None };
    let mut per_stage = vec![0.0; scenario.n_stages()];
    let mut total = 0.0;
    for _ in 0..60 {
        let report = sim.step(&action);
        let sum: f64 = report.stage_costs.iter().sum();
        assert!((sum - report.cost).abs() < 1e-12, "{sum} vs {}", report.cost);
        per_stage.iter_mut().zip(&report.stage_costs).for_each(|(t, c)| *t += c);
        total += report.cost;
    }
    // every stage pays for FaaS (and its initial VMs' minimum); stage 1 kept a VM for all 600 s
    assert!(per_stage.iter().all(|&c| c > 0.0), "{per_stage:?}");
    let vm_dollars = 600.0 * scenario.config.vm.price_per_hour / 3600.0;
    assert!(per_stage[1] >= vm_dollars, "{per_stage:?}");
    assert!((per_stage.iter().sum::<f64>() - total).abs() < 1e-9);
}

/// A scale-in to no VMs while requests wait in the VM queue: draining VMs take no new work, so the
/// queued requests go to the function and every request still completes.
#[test]
fn a_scale_in_to_no_vms_sends_the_waiting_queue_to_the_function() {
    let mut cfg = base();
    cfg.vm.initial_per_stage = 1;
    // 22 req/s on one VM serving 20 req/s: the queue grows until the VM is released at 100 s.
    cfg.workload = WorkloadConfig::Poisson { rate: RateFn::Constant(22.0), bursts: None };
    let scenario = build(cfg);
    let report = run_schedule(&scenario, &[(0.0, 1, 1.0), (100.0, 0, 1.0)], 5);
    assert_eq!(report.requests.completed, report.requests.total, "{:?}", report.requests);
    assert_eq!(report.requests.failed, 0);
    // 300 s of arrivals after the scale-in, and the ~200 left waiting before it, ran on the function.
    let faas = report.stages[0].faas.invocations;
    assert!((22.0 * 300.0 + 100.0..22.0 * 300.0 + 400.0).contains(&(faas as f64)), "{faas}");
}
