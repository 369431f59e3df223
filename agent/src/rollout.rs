//! Rollout storage and generalised advantage estimation.
//!
//! `terminated` and `truncated` are kept apart. Both end an episode (no advantage flows across the
//! boundary), but only termination means "no future reward": on truncation (the time limit) the
//! value of the final observation is bootstrapped by adding `gamma x V(final_obs)` to the last reward,
//! as Stable-Baselines3 does. CleanRL ORs the two and never bootstraps time limits.
//!
//! Rewards and values may have several components (see [`crate::credit`]); each is a separate
//! GAE over the same episode boundaries.

/// One iteration's experience, laid out `[step][env]` (then `[component]` or `[group]`).
#[derive(Clone, Debug)]
pub struct RolloutBuffer {
    /// Steps per environment.
    pub num_steps: usize,
    /// Environments.
    pub num_envs: usize,
    /// Observation width.
    pub obs_dim: usize,
    /// Action dimensions.
    pub act_dims: usize,
    /// Logits per observation (sum of the action space's `nvec`).
    pub n_logits: usize,
    /// Reward components (critic outputs).
    pub components: usize,
    /// Credit groups (probability ratios).
    pub groups: usize,
    /// Normalised observations fed to the networks.
    pub obs: Vec<f32>,
    /// Chosen indices.
    pub actions: Vec<usize>,
    /// Allowed choices at each step.
    pub masks: Vec<bool>,
    /// Log-probabilities of each group's chosen actions under the rollout policy.
    pub logprobs: Vec<f32>,
    /// Critic values of `obs`, per component.
    pub values: Vec<f32>,
    /// Reward components (scaled; truncation bootstrap included).
    pub rewards: Vec<f32>,
    /// The episode ended after this step (terminated or truncated).
    pub dones: Vec<bool>,
}

impl RolloutBuffer {
    /// Empty storage for `num_steps x num_envs` transitions of the given widths.
    pub fn new(num_steps: usize, num_envs: usize, widths: BufferWidths) -> Self {
        let n = num_steps * num_envs;
        let BufferWidths { obs_dim, act_dims, n_logits, components, groups } = widths;
        Self {
            num_steps,
            num_envs,
            obs_dim,
            act_dims,
            n_logits,
            components,
            groups,
            obs: vec![0.0; n * obs_dim],
            actions: vec![0; n * act_dims],
            masks: vec![true; n * n_logits],
            logprobs: vec![0.0; n * groups],
            values: vec![0.0; n * components],
            rewards: vec![0.0; n * components],
            dones: vec![false; n],
        }
    }

    /// Transitions stored.
    pub fn len(&self) -> usize {
        self.num_steps * self.num_envs
    }

    /// True when sized for nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The per-transition widths of a [`RolloutBuffer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferWidths {
    /// Observation width.
    pub obs_dim: usize,
    /// Action dimensions.
    pub act_dims: usize,
    /// Logits per observation.
    pub n_logits: usize,
    /// Reward components.
    pub components: usize,
    /// Credit groups.
    pub groups: usize,
}

/// GAE(lambda) advantages and returns (`advantages + values`), `[step][env][component]` layout;
/// `dones` is `[step][env]`. `last_values` (`[env][component]`) are the critic's values of the
/// observations after the final step.
pub fn compute_gae(
    rewards: &[f32],
    values: &[f32],
    dones: &[bool],
    last_values: &[f32],
    gamma: f32,
    lambda: f32,
) -> (Vec<f32>, Vec<f32>) {
    let components = rewards.len() / dones.len();
    let num_envs = last_values.len() / components;
    let num_steps = dones.len() / num_envs;
    let stride = num_envs * components;
    let mut advantages = vec![0.0f32; rewards.len()];
    for (ec, &last_value) in last_values.iter().enumerate() {
        let e = ec / components;
        let mut last_gae = 0.0f32;
        for t in (0..num_steps).rev() {
            let i = t * stride + ec;
            let next_value = if t + 1 == num_steps { last_value } else { values[i + stride] };
            let not_done = if dones[t * num_envs + e] { 0.0 } else { 1.0 };
            let delta = rewards[i] + gamma * next_value * not_done - values[i];
            last_gae = delta + gamma * lambda * not_done * last_gae;
            advantages[i] = last_gae;
        }
    }
    let returns = advantages.iter().zip(values).map(|(a, v)| a + v).collect();
    (advantages, returns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminated_and_truncated_episodes_against_hand_computed_advantages() {
        // One env, 4 steps, gamma 0.5, lambda 0.5.
        // Steps 0-1: an episode that terminates after step 1 (no bootstrap).
        // Steps 2-3: an episode truncated after step 3 whose final observation has value 8: the
        // rollout stored r3 = 1 + gamma x 8 = 5 (the bootstrap) and done = true.
        let (g, l) = (0.5f32, 0.5f32);
        let rewards = [1.0, 2.0, 0.0, 1.0 + g * 8.0];
        let values = [1.0, 1.0, 2.0, 2.0];
        let dones = [false, true, false, true];
        let (adv, ret) = compute_gae(&rewards, &values, &dones, &[100.0], g, l);
        // t=3: delta = 5 - 2 = 3 (done: last value 100 ignored)            A3 = 3
        // t=2: delta = 0 + 0.5 x 2 - 2 = -1;  A2 = -1 + 0.25 x 3 = -0.25
        // t=1: delta = 2 - 1 = 1 (terminated)                                A1 = 1
        // t=0: delta = 1 + 0.5 x 1 - 1 = 0.5; A0 = 0.5 + 0.25 x 1 = 0.75
        let expected = [0.75, 1.0, -0.25, 3.0];
        for (a, e) in adv.iter().zip(expected) {
            assert!((a - e).abs() < 1e-6, "{adv:?}");
        }
        assert_eq!(ret, vec![1.75, 2.0, 1.75, 5.0]);
    }

    #[test]
    fn unfinished_rollouts_bootstrap_from_the_last_values_per_env() {
        // Two envs, one step, neither done: A = r + gamma V(next) - V.
        let (adv, _) = compute_gae(&[1.0, 0.0], &[0.5, 0.0], &[false, false], &[2.0, -2.0], 0.9, 0.95);
        assert!((adv[0] - (1.0 + 1.8 - 0.5)).abs() < 1e-6);
        assert!((adv[1] - (-1.8)).abs() < 1e-6);
    }

    #[test]
    fn components_are_independent_gaes_over_shared_episode_boundaries() {
        // Two envs, three steps, two components: each component must equal a one-component GAE.
        let dones = [false, false, true, false, false, true];
        let rewards: Vec<f32> = (0..12).map(|i| (i as f32 * 0.7).sin()).collect();
        let values: Vec<f32> = (0..12).map(|i| (i as f32 * 1.3).cos()).collect();
        let last = [0.5, -0.25, 2.0, 1.0];
        let (adv, ret) = compute_gae(&rewards, &values, &dones, &last, 0.9, 0.8);
        for c in 0..2 {
            let pick = |v: &[f32]| -> Vec<f32> { v.iter().skip(c).step_by(2).copied().collect() };
            let (a, r) = compute_gae(&pick(&rewards), &pick(&values), &dones, &pick(&last), 0.9, 0.8);
            assert_eq!(pick(&adv), a);
            assert_eq!(pick(&ret), r);
        }
    }
}
