//! N copies of an environment stepped in parallel with `rayon`.
//!
//! Autoreset mode: **same-step** (Gymnasium's `AutoresetMode.SAME_STEP`). When a sub-environment's
//! episode ends (terminated or truncated) during `step`, it is reset within that same call: the
//! returned observation is the first observation of the new episode, and the observation the episode
//! ended on comes back in [`VecStep::final_obs`] (with its info in `final_info`) so that a truncated
//! episode can be bootstrapped from it.
//!
//! Seeding: sub-environment `i` starts with seed `seed + i`; its `e`-th automatic reset uses
//! `seed + i + e * num_envs`, so no two episodes of one run share a seed. Each sub-environment owns its
//! random streams, so results do not depend on how many threads rayon uses.
//!
//! Snapshots: environments are deterministic given their seed and actions, so [`VecEnv::state`]
//! records each one's episode seed and the actions since its last reset, and [`VecEnv::restore`]
//! replays them: a checkpoint resumes mid-episode exactly, without serialising simulator internals.

use crate::env::{BoxSpace, Env, MultiDiscrete};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// One batched step.
#[derive(Clone, Debug)]
pub struct VecStep<I> {
    /// Observations, `num_envs x obs_dim`, row-major (the new episode's first for reset envs).
    pub obs: Vec<f32>,
    /// Rewards.
    pub rewards: Vec<f32>,
    /// Terminated flags.
    pub terminated: Vec<bool>,
    /// Truncated flags.
    pub truncated: Vec<bool>,
    /// For envs whose episode ended this step: the last observation of that episode.
    pub final_obs: Vec<Option<Vec<f32>>>,
    /// Info of each env's step (for ended episodes, the info of their last step).
    pub infos: Vec<I>,
}

struct Slot<E> {
    env: E,
    seed: u64,
    episodes: u64,
    actions: Vec<Vec<usize>>,
}

/// Where every sub-environment is: enough to rebuild the batch exactly (see the module doc).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VecEnvState {
    /// The seed given to [`VecEnv::reset`].
    pub base_seed: u64,
    /// Per environment: current episode seed, episodes finished, actions since the last reset.
    pub envs: Vec<(u64, u64, Vec<Vec<usize>>)>,
}

/// A batch of environments.
pub struct VecEnv<E: Env> {
    slots: Vec<Slot<E>>,
    base_seed: u64,
    obs_dim: usize,
}

impl<E: Env> VecEnv<E> {
    /// Wraps `envs` (at least one).
    pub fn new(envs: Vec<E>) -> Self {
        let obs_dim = envs.first().map_or(0, |e| e.observation_space().dim());
        let slots =
            envs.into_iter().map(|env| Slot { env, seed: 0, episodes: 0, actions: Vec::new() }).collect();
        Self { slots, base_seed: 0, obs_dim }
    }

    /// Number of environments.
    pub fn num_envs(&self) -> usize {
        self.slots.len()
    }

    /// The environments, in order.
    pub fn envs(&self) -> impl ExactSizeIterator<Item = &E> {
        self.slots.iter().map(|slot| &slot.env)
    }

    /// The (shared) observation space of one environment.
    pub fn observation_space(&self) -> BoxSpace {
        self.slots[0].env.observation_space()
    }

    /// The (shared) action space of one environment.
    pub fn action_space(&self) -> MultiDiscrete {
        self.slots[0].env.action_space()
    }

    /// Resets every environment (env `i` with `seed + i`); returns the stacked observations.
    pub fn reset(&mut self, seed: u64) -> Vec<f32> {
        self.base_seed = seed;
        let obs: Vec<Vec<f32>> = self
            .slots
            .par_iter_mut()
            .enumerate()
            .map(|(i, s)| {
                s.seed = seed.wrapping_add(i as u64);
                s.episodes = 0;
                s.actions.clear();
                s.env.reset(s.seed).0
            })
            .collect();
        obs.concat()
    }

    /// Steps every environment with its action (`actions[i]` for env `i`), auto-resetting ended ones.
    pub fn step(&mut self, actions: &[Vec<usize>]) -> VecStep<E::Info> {
        let n = self.slots.len() as u64;
        let base = self.base_seed;
        let results: Vec<_> = self
            .slots
            .par_iter_mut()
            .zip(actions.par_iter())
            .enumerate()
            .map(|(i, (s, a))| {
                let step = s.env.step(a);
                s.actions.push(a.clone());
                if step.terminated || step.truncated {
                    s.episodes += 1;
                    s.seed = base.wrapping_add(i as u64).wrapping_add(s.episodes * n);
                    s.actions.clear();
                    let (first, _) = s.env.reset(s.seed);
                    (first, Some(step.obs), step.reward, step.terminated, step.truncated, step.info)
                } else {
                    (step.obs, None, step.reward, false, false, step.info)
                }
            })
            .collect();
        let mut out = VecStep {
            obs: Vec::with_capacity(self.slots.len() * self.obs_dim),
            rewards: Vec::with_capacity(results.len()),
            terminated: Vec::with_capacity(results.len()),
            truncated: Vec::with_capacity(results.len()),
            final_obs: Vec::with_capacity(results.len()),
            infos: Vec::with_capacity(results.len()),
        };
        for (obs, final_obs, reward, terminated, truncated, info) in results {
            out.obs.extend_from_slice(&obs);
            out.final_obs.push(final_obs);
            out.rewards.push(reward);
            out.terminated.push(terminated);
            out.truncated.push(truncated);
            out.infos.push(info);
        }
        out
    }

    /// A snapshot of where every environment is.
    pub fn state(&self) -> VecEnvState {
        let envs = self.slots.iter().map(|s| (s.seed, s.episodes, s.actions.clone())).collect();
        VecEnvState { base_seed: self.base_seed, envs }
    }

    /// Rebuilds the environments from a snapshot by replaying their actions; returns the stacked
    /// current observations. `None` if the snapshot is for another number of environments.
    pub fn restore(&mut self, state: &VecEnvState) -> Option<Vec<f32>> {
        if state.envs.len() != self.slots.len() {
            return None;
        }
        self.base_seed = state.base_seed;
        let obs: Vec<Vec<f32>> = self
            .slots
            .par_iter_mut()
            .zip(state.envs.par_iter())
            .map(|(s, (seed, episodes, actions))| {
                s.seed = *seed;
                s.episodes = *episodes;
                s.actions = actions.clone();
                let mut obs = s.env.reset(*seed).0;
                for a in actions {
                    obs = s.env.step(a).obs;
                }
                obs
            })
            .collect();
        Some(obs.concat())
    }

    /// Writes every environment's action mask, env after env.
    pub fn action_masks(&self, masks: &mut [bool]) {
        let per_env = self.action_space().total_choices();
        for (s, m) in self.slots.iter().zip(masks.chunks_mut(per_env)) {
            s.env.action_mask(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cartpole::CartPole;

    fn rollout(threads: usize) -> Vec<f32> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut venv = VecEnv::new((0..4).map(|_| CartPole::default()).collect());
            let mut trace = venv.reset(11);
            for t in 0..300 {
                let actions: Vec<Vec<usize>> = (0..4).map(|i| vec![(t + i) % 2]).collect();
                let step = venv.step(&actions);
                trace.extend(step.obs);
                trace.extend(step.final_obs.into_iter().flatten().flatten());
            }
            trace
        })
    }

    #[test]
    fn same_results_with_one_or_many_threads() {
        assert_eq!(rollout(1), rollout(3));
    }

    #[test]
    fn restore_replays_to_the_same_state() {
        let mut a = VecEnv::new((0..3).map(|_| CartPole::default()).collect());
        a.reset(5);
        for t in 0..40 {
            a.step(&(0..3).map(|i| vec![(t * i + t / 3) % 2]).collect::<Vec<_>>());
        }
        let snapshot = a.state();
        let mut b = VecEnv::new((0..3).map(|_| CartPole::default()).collect());
        b.restore(&snapshot).unwrap();
        for t in 0..100 {
            let actions: Vec<Vec<usize>> = (0..3).map(|i| vec![(t + i) % 2]).collect();
            let (sa, sb) = (a.step(&actions), b.step(&actions));
            assert_eq!((sa.obs, sa.final_obs, sa.rewards), (sb.obs, sb.final_obs, sb.rewards));
        }
        assert_eq!(a.state(), b.state());
    }

    #[test]
    fn autoreset_returns_final_obs_and_reset_obs_in_the_same_step() {
        let mut venv = VecEnv::new(vec![CartPole::default()]);
        venv.reset(0);
        for _ in 0..500 {
            let step = venv.step(&[vec![1]]);
            if step.terminated[0] {
                let final_obs = step.final_obs[0].as_ref().unwrap();
                assert!(final_obs[2].abs() > 0.2 || final_obs[0].abs() > 2.4);
                assert!(step.obs.iter().all(|v| v.abs() <= 0.05), "fresh episode after autoreset");
                return;
            }
            assert!(step.final_obs[0].is_none());
        }
        panic!("always pushing right must end an episode");
    }
}
