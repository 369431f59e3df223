//! One decision on one observation: the exported policy (`Learned::act`, plain f32, no allocation)
//! against the Burn actor on each CPU backend, and one PPO minibatch update. Run:
//! `cargo bench -p serflow-agent`.

use criterion::{Criterion, criterion_group, criterion_main};
use serflow_agent::export::policy_file;
use serflow_agent::networks::{ActorCriticConfig, Backend, BurnMlp, matrix};
use serflow_agent::normalizer::ObsNormalizer;
use serflow_env::rng::{SimRng, Stream};
use serflow_env::{Scenario, Simulator};
use serflow_policies::{Action, ActionSet, Learned, Policy};
use std::hint::black_box;
use std::sync::Arc;

fn decide(c: &mut Criterion) {
    let scenario = Arc::new(Scenario::load("default").unwrap());
    let mut sim = Simulator::new(scenario.clone(), 1);
    let mut action = Action::hold(sim.observation());
    sim.step(&action);
    let obs = sim.observation().clone();
    let dim = obs.values().len();
    let nvec = ActionSet::default().nvec(scenario.n_stages());
    let nets = ActorCriticConfig::default().init(dim, &nvec, 1, None, &mut SimRng::new(1, Stream::Training));
    let norm = ObsNormalizer::new(dim);
    let mut learned = Learned::new(policy_file(
        &nets,
        &norm,
        &scenario,
        &serflow_policies::ActionSet::default(),
        String::new(),
    ))
    .unwrap();
    let mut group = c.benchmark_group("decide_one_observation");
    group.bench_function("learned_act", |b| {
        b.iter(|| learned.act(black_box(&obs), &mut action));
    });
    for backend in [Backend::Flex, Backend::Ndarray] {
        let device = backend.device();
        let actor = BurnMlp::new(&nets.actor, &device, false);
        let mut normalized = vec![0.0; dim];
        group.bench_function(format!("burn_actor_{backend:?}").to_lowercase(), |b| {
            b.iter(|| {
                norm.normalize(obs.values(), &mut normalized);
                let logits = actor.forward(matrix(normalized.clone(), dim, &device));
                black_box(logits.into_data())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, decide);
criterion_main!(benches);
