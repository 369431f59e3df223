//! Same seed, same episode: across runs, across thread counts, and per component stream.

use serflow_env::{Env, Scenario, ServingEnv, VecEnv};
use std::sync::Arc;

fn rollout(threads: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let scenario = Arc::new(Scenario::load("default").unwrap());
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let mut venv = VecEnv::new((0..4).map(|_| ServingEnv::new(scenario.clone())).collect());
        let mut obs = venv.reset(seed);
        let dims = venv.action_space().nvec.len();
        let mut rewards = Vec::new();
        for t in 0..60 {
            let actions: Vec<Vec<usize>> =
                (0..4).map(|i| (0..dims).map(|d| (t + i + d) % 5).collect()).collect();
            let step = venv.step(&actions);
            obs.extend(step.obs);
            rewards.extend(step.rewards);
        }
        (obs, rewards)
    })
}

#[test]
fn vec_env_is_bit_identical_on_one_and_many_threads() {
    let one = rollout(1, 9);
    assert_eq!(one, rollout(2, 9));
    assert_eq!(one, rollout(4, 9));
    assert_ne!(one.1, rollout(1, 10).1, "another seed gives another episode");
}

#[test]
fn sub_env_i_is_the_single_env_seeded_seed_plus_i() {
    let scenario = Arc::new(Scenario::load("default").unwrap());
    let mut venv = VecEnv::new((0..3).map(|_| ServingEnv::new(scenario.clone())).collect());
    let stacked = venv.reset(100);
    let mut single = ServingEnv::new(scenario);
    let (obs, _) = single.reset(102);
    let dim = obs.len();
    assert_eq!(&stacked[2 * dim..3 * dim], &obs[..]);
    let actions = vec![vec![2; venv.action_space().nvec.len()]; 3];
    let step = venv.step(&actions);
    let single_step = single.step(&actions[2]);
    assert_eq!(&step.obs[2 * dim..], &single_step.obs[..]);
    assert_eq!(step.rewards[2], single_step.reward);
}
