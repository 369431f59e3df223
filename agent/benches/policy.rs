//! One decision on one observation, for each shipped policy: the exported runtime (`Learned::act`:
//! normalise, forward, mask, argmax, decode; plain f32, no allocation) against the same actor in Burn
//! on each CPU backend (normalise, tensor in, forward, logits out); and for each shipped planner one
//! decision in steady state, over an episode's observations (a period search and a forecast per
//! stage, four plans of 20 intervals of 10 steps, the gate and its rule). Run: `cargo bench -p serflow-agent`.

use criterion::{Criterion, criterion_group, criterion_main};
use serflow_agent::networks::{Backend, BurnMlp, matrix};
use serflow_env::registry::{SHIPPED, SHIPPED_PLANNERS};
use serflow_env::{Scenario, Simulator};
use serflow_policies::{Action, ForecastPlanner, ForecastPlannerFile, Learned, Observation, Policy};
use std::hint::black_box;
use std::sync::Arc;

/// `shipped`'s scenario, or none where its traces are not found.
fn scenario(shipped: &str, path: &str) -> Option<Arc<Scenario>> {
    Scenario::load(shipped).map(Arc::new).map_err(|e| eprintln!("skipping {path}: {e}")).ok()
}

/// An observation of `shipped`'s scenario from a running system (one interval simulated), or none
/// where its traces are not found.
fn running(shipped: &str, path: &str) -> Option<(Observation, Action)> {
    let mut sim = Simulator::new(scenario(shipped, path)?, 1);
    let action = Action::hold(sim.observation());
    sim.step(&action);
    Some((sim.observation().clone(), action))
}

/// Every observation of one episode of `shipped`'s scenario under `policy`, or none where its
/// traces are not found.
fn episode(shipped: &str, path: &str, policy: &mut dyn Policy) -> Option<Vec<Observation>> {
    let mut sim = Simulator::new(scenario(shipped, path)?, 1);
    let mut action = Action::hold(sim.observation());
    let mut seen = Vec::new();
    while !sim.at_horizon() {
        policy.act(sim.observation(), &mut action);
        seen.push(sim.observation().clone());
        sim.step(&action);
    }
    Some(seen)
}

fn decide(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide_one_observation");
    for shipped in &SHIPPED_PLANNERS {
        let planner = ForecastPlanner::parse(shipped.text, shipped.path).unwrap();
        // The same file without the seasonal replay, side by side: what the period search costs.
        let without = ForecastPlannerFile { seasonal: None, ..planner.file().clone() };
        let without = ForecastPlanner::new(without).unwrap();
        for (name, mut planner) in [("planner_act", planner), ("planner_act_without_replay", without)] {
            let Some(observations) = episode(shipped.scenario, shipped.path, &mut planner) else { continue };
            // Steady state: the episode's observations in turn, on a history as full as the
            // episode leaves it, so the period search and the forecasts run on moving rates.
            let mut action = Action::faas_only(observations[0].n_stages());
            let mut next = observations.iter().cycle();
            group.bench_function(format!("{}_{name}", shipped.scenario), |b| {
                b.iter(|| planner.act(black_box(next.next().unwrap()), &mut action));
            });
        }
    }
    for shipped in &SHIPPED {
        let Some((obs, mut action)) = running(shipped.scenario, shipped.path) else { continue };
        let mut learned = Learned::parse(shipped.text, shipped.path).unwrap();
        let file = learned.file().clone();
        group.bench_function(format!("{}_learned_act", shipped.scenario), |b| {
            b.iter(|| learned.act(black_box(&obs), &mut action));
        });
        let normalize = |out: &mut Vec<f32>| {
            out.clear();
            let features = obs.values().iter().zip(&file.obs_mean).zip(&file.obs_std);
            out.extend(features.map(|((x, m), s)| ((x - m) / s).clamp(-file.obs_clip, file.obs_clip)));
            // Earlier frames of a stacked actor: the same observation again.
            let one = out.len();
            (1..file.frame_stack).for_each(|_| out.extend_from_within(..one));
        };
        let dim = obs.values().len() * file.frame_stack;
        for backend in [Backend::Flex, Backend::Ndarray] {
            let device = backend.device();
            let actor = BurnMlp::new(&file.actor, &device, false);
            let mut normalized = Vec::with_capacity(dim);
            let name = format!("{}_burn_actor_{backend:?}", shipped.scenario).to_lowercase();
            group.bench_function(name, |b| {
                b.iter(|| {
                    normalize(&mut normalized);
                    let logits = actor.forward(matrix(normalized.clone(), dim, &device));
                    black_box(logits.into_data())
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, decide);
criterion_main!(benches);
