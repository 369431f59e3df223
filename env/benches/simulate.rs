//! Simulator throughput: the whole WITS trace (45,000 s, 6.4 M requests) under FaaS-only and under
//! LIBRA, and env steps per second on `default` (~170 req/s) and `production` (~1,500 req/s), under
//! a fixed cycle of actions and under the calibrated `predictive-hpa`.
//! Run: `cargo bench -p serflow-env`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serflow_env::registry::PolicyRegistry;
use serflow_env::{Env, Scenario, ServingEnv, run_episode};
use serflow_policies::baselines::{FaasOnly, Libra};
use std::hint::black_box;
use std::sync::Arc;

fn wits() -> Option<Arc<Scenario>> {
    match Scenario::load("libra-wits") {
        Ok(s) => Some(Arc::new(s)),
        Err(e) => {
            eprintln!("skipping the WITS benchmark: {e}");
            None
        }
    }
}

fn simulate_wits(c: &mut Criterion) {
    let Some(scenario) = wits() else { return };
    let requests = scenario.workload_requests();
    let mut group = c.benchmark_group("simulate");
    group.sample_size(10);
    group.throughput(Throughput::Elements(requests));
    group.bench_function("wits_faas_only_45000s", |b| {
        b.iter(|| black_box(run_episode(&scenario, &mut FaasOnly, 1, |_, _| {})))
    });
    let mut libra = Libra::new(serflow_env::profile::profile(&scenario), Default::default());
    group.bench_function("wits_libra_45000s", |b| {
        b.iter(|| black_box(run_episode(&scenario, &mut libra, 1, |_, _| {})))
    });
    group.finish();
}

fn env_steps(c: &mut Criterion) {
    let mut group = c.benchmark_group("env");
    group.sample_size(10);
    for name in ["default", "production"] {
        let scenario = match Scenario::load(name) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                eprintln!("skipping {name}: {e}");
                continue;
            }
        };
        let mut env = ServingEnv::new(scenario.clone());
        let dims = env.action_space().nvec.len();
        let steps = scenario.steps_per_episode() as u64;
        group.throughput(Throughput::Elements(steps));
        group.bench_function(format!("{name}_episode_steps"), |b| {
            b.iter(|| {
                env.reset(3);
                for t in 0..steps {
                    black_box(env.step(&vec![(t % 5) as usize; dims]));
                }
            })
        });
        // The cycle above swings VM counts and FaaS shares every step (a worst case: FaaS-heavy,
        // cold starts); a calibrated rule shows the speed a sensible policy trains and runs at.
        let mut rule = match PolicyRegistry::new(&scenario).build("predictive-hpa") {
            Ok(rule) => rule,
            Err(e) => {
                eprintln!("skipping {name} under predictive-hpa: {e}");
                continue;
            }
        };
        group.bench_function(format!("{name}_predictive_hpa_steps"), |b| {
            b.iter(|| black_box(run_episode(&scenario, rule.as_mut(), 3, |_, _| {})))
        });
    }
    group.finish();
}

criterion_group!(benches, simulate_wits, env_steps);
criterion_main!(benches);
