//! Frame stacking, as Stable-Baselines3's `VecFrameStack` over `VecNormalize`: the actor and the
//! critic read an environment's last N normalised observations, oldest first, with zeros before its
//! episode's first. A stationary observation says how busy the system is now; only a history says
//! where the load is going, and the boot time makes that what a VM decision needs.
//!
//! [`FrameHistory`] keeps the N - 1 frames before the current one per environment. The frames hold
//! the values normalised when they were observed (the statistics move during training, so they
//! cannot be recomputed): the history is part of the training state and saved in checkpoints, which
//! is what lets a resumed run continue bit for bit. With N = 1 it holds nothing and the input is the
//! current observation, exactly as without stacking.

use crate::networks::ActorCritic;
use crate::normalizer::ObsNormalizer;
use serde::{Deserialize, Serialize};

/// The frames before the current one, per environment, laid out `[env][frame][feature]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameHistory {
    /// Features per frame.
    dim: usize,
    /// Frames kept per environment (the stack's depth minus the current frame).
    past: usize,
    /// The frames, oldest first within each environment.
    data: Vec<f32>,
}

impl FrameHistory {
    /// Zeros for `num_envs` environments whose inputs stack `frame_stack` frames of `dim` features.
    pub fn new(num_envs: usize, dim: usize, frame_stack: usize) -> Self {
        let past = frame_stack.saturating_sub(1);
        Self { dim, past, data: vec![0.0; num_envs * past * dim] }
    }

    /// Frames in one input.
    pub fn frame_stack(&self) -> usize {
        self.past + 1
    }

    /// True when this history is one for `num_envs` environments stacking `frame_stack` frames of
    /// `dim` features (a checkpoint's history against its run; one frame needs no history at all).
    pub fn fits(&self, num_envs: usize, dim: usize, frame_stack: usize) -> bool {
        self.frame_stack() == frame_stack
            && (self.past == 0 || (self.dim == dim && self.data.len() == num_envs * self.past * dim))
    }

    fn past_of(&self, env: usize) -> std::ops::Range<usize> {
        let width = self.past * self.dim;
        env * width..(env + 1) * width
    }

    /// Writes environment `env`'s input into `out`: its past frames, then `current`.
    pub fn stack(&self, env: usize, current: &[f32], out: &mut [f32]) {
        let (past, newest) = out.split_at_mut(self.past * self.dim);
        past.copy_from_slice(&self.data[self.past_of(env)]);
        newest.copy_from_slice(current);
    }

    /// `current` becomes environment `env`'s newest past frame; its oldest drops out.
    pub fn push(&mut self, env: usize, current: &[f32]) {
        if self.past == 0 {
            return;
        }
        let range = self.past_of(env);
        let frames = &mut self.data[range];
        frames.copy_within(self.dim.., 0);
        let newest = frames.len() - self.dim;
        frames[newest..].copy_from_slice(current);
    }

    /// Environment `env` starts a new episode: its past frames become zeros.
    pub fn clear(&mut self, env: usize) {
        let range = self.past_of(env);
        self.data[range].fill(0.0);
    }
}

/// Frames the actor of `nets` reads at once, given observations of `norm`'s width.
pub fn frames_read(nets: &ActorCritic, norm: &ObsNormalizer) -> usize {
    nets.actor.inputs() / norm.stats.mean.len().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_the_last_frames_oldest_first_with_zeros_before_the_episode() {
        let mut h = FrameHistory::new(2, 2, 3);
        let mut out = [9.0; 6];
        h.stack(1, &[1.0, 1.5], &mut out);
        assert_eq!(out, [0.0, 0.0, 0.0, 0.0, 1.0, 1.5], "zeros before the first frame");
        h.push(1, &[1.0, 1.5]);
        h.push(1, &[2.0, 2.5]);
        h.push(1, &[3.0, 3.5]);
        h.stack(1, &[4.0, 4.5], &mut out);
        assert_eq!(out, [2.0, 2.5, 3.0, 3.5, 4.0, 4.5], "the oldest frame dropped out");
        h.stack(0, &[7.0, 7.5], &mut out);
        assert_eq!(out, [0.0, 0.0, 0.0, 0.0, 7.0, 7.5], "environments are apart");
        h.clear(1);
        h.stack(1, &[5.0, 5.5], &mut out);
        assert_eq!(out, [0.0, 0.0, 0.0, 0.0, 5.0, 5.5], "a new episode forgets the last");
    }

    #[test]
    fn one_frame_is_the_current_observation_alone() {
        let mut h = FrameHistory::new(3, 2, 1);
        h.push(2, &[1.0, 2.0]);
        let mut out = [0.0; 2];
        h.stack(2, &[3.0, 4.0], &mut out);
        assert_eq!(out, [3.0, 4.0]);
        assert!(h.fits(3, 2, 1) && FrameHistory::default().fits(8, 5, 1), "old checkpoints hold none");
        assert!(!h.fits(3, 2, 2) && !FrameHistory::new(2, 2, 3).fits(3, 2, 3));
    }
}
