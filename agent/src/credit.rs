//! Credit assignment: which parts of the reward each group of action dimensions answers for.
//!
//! CleanRL's PPO has one reward, one value and one advantage for the whole joint action. When an
//! action is several decisions whose consequences are mostly separate (a VM count and a VM share per
//! stage, each moving mainly that stage's bill), one advantage credits every stage with the noise of
//! all the others, and the critic must predict the whole bill at once. With a [`Credit`] the reward
//! is split into components that add up to it, the critic predicts one value per component, GAE
//! runs per component, and each group of action dimensions gets its own probability ratio and
//! clipped surrogate on the sum of its components' advantages (its own stage's cost plus the shared
//! SLO term). One component and one group covering every dimension is exactly CleanRL's PPO.

use serde::{Deserialize, Serialize};

/// How the trainer assigns credit (`ppo.credit` in the run's RON).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CreditMode {
    /// One reward, one value, one advantage for the joint action (CleanRL, Stable-Baselines3).
    #[default]
    Joint,
    /// Per-stage components: each stage's decisions are credited with that stage's cost and the
    /// shared SLO penalty (serving environments only).
    PerStage,
}

/// Action dimensions judged together, and the reward components they answer for.
#[derive(Clone, Debug, PartialEq)]
pub struct CreditGroup {
    /// Indices into the action space's dimensions.
    pub dims: Vec<usize>,
    /// Indices of the reward components whose advantages this group's surrogate uses.
    pub components: Vec<usize>,
}

/// A split of the reward into components and of the action dimensions into groups.
#[derive(Clone, Debug, PartialEq)]
pub struct Credit {
    /// Number of reward components (and critic outputs).
    pub components: usize,
    /// Groups, covering every action dimension exactly once.
    pub groups: Vec<CreditGroup>,
}

impl Credit {
    /// One component, one group with all `dims` action dimensions: CleanRL's PPO.
    pub fn joint(dims: usize) -> Self {
        Self { components: 1, groups: vec![CreditGroup { dims: (0..dims).collect(), components: vec![0] }] }
    }

    /// `n_stages` stages with `dims_per_stage` consecutive action dimensions each: component `k` is
    /// stage `k`'s cost, component `n_stages` the shared SLO penalty.
    pub fn per_stage(n_stages: usize, dims_per_stage: usize) -> Self {
        let groups = (0..n_stages)
            .map(|k| CreditGroup {
                dims: (k * dims_per_stage..(k + 1) * dims_per_stage).collect(),
                components: vec![k, n_stages],
            })
            .collect();
        Self { components: n_stages + 1, groups }
    }

    /// The group of every action dimension (`dims` of them).
    pub fn group_of_dims(&self, dims: usize) -> Vec<usize> {
        let mut of = vec![0; dims];
        for (g, group) in self.groups.iter().enumerate() {
            for &d in &group.dims {
                of[d] = g;
            }
        }
        of
    }

    /// Group log-probabilities (`out[g]`, the sum over the group's dimensions) from per-dimension ones.
    pub fn group_logprobs(&self, per_dim: &[f32], out: &mut [f32]) {
        for (o, group) in out.iter_mut().zip(&self.groups) {
            *o = group.dims.iter().map(|&d| per_dim[d]).sum();
        }
    }

    /// Group advantages (`out[g]`, the sum over the group's components) from per-component ones.
    pub fn group_advantages(&self, per_component: &[f32], out: &mut [f32]) {
        for (o, group) in out.iter_mut().zip(&self.groups) {
            *o = group.components.iter().map(|&c| per_component[c]).sum();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joint_credit_is_one_group_over_everything() {
        let c = Credit::joint(3);
        assert_eq!(c.components, 1);
        let mut lp = [0.0];
        c.group_logprobs(&[-1.0, -2.0, -0.5], &mut lp);
        assert_eq!(lp, [-3.5]);
        assert_eq!(c.group_of_dims(3), vec![0, 0, 0]);
    }

    #[test]
    fn per_stage_groups_share_the_slo_component() {
        let c = Credit::per_stage(2, 2);
        assert_eq!(c.components, 3);
        assert_eq!(c.group_of_dims(4), vec![0, 0, 1, 1]);
        let mut adv = [0.0; 2];
        c.group_advantages(&[1.0, 10.0, 100.0], &mut adv);
        assert_eq!(adv, [101.0, 110.0]);
        let mut lp = [0.0; 2];
        c.group_logprobs(&[-1.0, -2.0, -3.0, -4.0], &mut lp);
        assert_eq!(lp, [-3.0, -7.0]);
    }
}
