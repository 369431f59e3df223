//! Rollout storage and generalised advantage estimation.
//!
//! `terminated` and `truncated` are kept apart. Both end an episode (no advantage flows across the
//! boundary), but only termination means "no future reward": on truncation (the time limit) the
//! value of the final observation is bootstrapped by adding `gamma x V(final_obs)` to the last reward,
//! as Stable-Baselines3 does. CleanRL ORs the two and never bootstraps time limits.

/// One iteration's experience, laid out `[step][env]`.
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
    /// Normalised observations fed to the networks.
    pub obs: Vec<f32>,
    /// Chosen indices.
    pub actions: Vec<usize>,
    /// Allowed choices at each step.
    pub masks: Vec<bool>,
    /// Log-probabilities of the chosen actions under the rollout policy.
    pub logprobs: Vec<f32>,
    /// Critic values of `obs`.
    pub values: Vec<f32>,
    /// Rewards (scaled; truncation bootstrap included).
    pub rewards: Vec<f32>,
    /// The episode ended after this step (terminated or truncated).
    pub dones: Vec<bool>,
}

impl RolloutBuffer {
    /// Empty storage for the given sizes.
    pub fn new(num_steps: usize, num_envs: usize, obs_dim: usize, act_dims: usize, n_logits: usize) -> Self {
        let n = num_steps * num_envs;
        Self {
            num_steps,
            num_envs,
            obs_dim,
            act_dims,
            n_logits,
            obs: vec![0.0; n * obs_dim],
            actions: vec![0; n * act_dims],
            masks: vec![true; n * n_logits],
            logprobs: vec![0.0; n],
            values: vec![0.0; n],
            rewards: vec![0.0; n],
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

/// GAE(lambda) advantages and returns (`advantages + values`), `[step][env]` layout.
/// `last_values` are the critic's values of the observations after the final step.
pub fn compute_gae(
    rewards: &[f32],
    values: &[f32],
    dones: &[bool],
    last_values: &[f32],
    gamma: f32,
    lambda: f32,
) -> (Vec<f32>, Vec<f32>) {
    let num_envs = last_values.len();
    let num_steps = rewards.len() / num_envs;
    let mut advantages = vec![0.0f32; rewards.len()];
    for (e, &last_value) in last_values.iter().enumerate() {
        let mut last_gae = 0.0f32;
        for t in (0..num_steps).rev() {
            let i = t * num_envs + e;
            let next_value = if t + 1 == num_steps { last_value } else { values[i + num_envs] };
            let not_done = if dones[i] { 0.0 } else { 1.0 };
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
}
