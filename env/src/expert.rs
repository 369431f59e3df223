//! The forecast oracle as an expert inside the environment: at every decision, the action-space
//! choice nearest what the oracle would do.
//!
//! Why: imitation learners (behaviour cloning, DAgger, the `imitation` library over Gymnasium) need
//! an expert's action in the environment's own action space, at the states the learner visits. The
//! oracle knows the episode's future arrivals, so it is planned at each reset from the episode's
//! seed (a FaaS-only pass over the episode, as `compare` plans it), and each decision is projected
//! onto the action set with [`ActionSet::nearest_choices`], the labels `serflow train`'s own
//! imitation phase fits.

use crate::comparison::stage_arrivals;
use crate::profile::{pool_capacity, profile};
use crate::scenario::Scenario;
use serflow_policies::baselines::{Oracle, PoolCapacity};
use serflow_policies::schema::{Action, ActionSet, DecodeMemory, Observation};
use serflow_policies::{Policy, SystemProfile};
use std::sync::Arc;

/// What the oracle plans with on one scenario (its profile and what pools of VMs serve), measured
/// once and shared by every environment of a batch.
#[derive(Debug)]
pub struct ExpertModel {
    profile: SystemProfile,
    pools: PoolCapacity,
}

impl ExpertModel {
    /// Measures `scenario`'s profile and pool capacities (a fraction of a second).
    pub fn new(scenario: &Scenario) -> Self {
        let profile = profile(scenario);
        let pools = pool_capacity(scenario, &profile);
        Self { profile, pools }
    }
}

/// One environment's expert: the oracle planned for the running episode and its latest choice.
#[derive(Debug)]
pub(crate) struct Expert {
    model: Arc<ExpertModel>,
    oracle: Option<Oracle>,
    action: Action,
    allowed: Vec<bool>,
    nearest: Vec<bool>,
    /// Choices per action dimension.
    nvec: Vec<usize>,
    choice: Vec<usize>,
}

impl Expert {
    pub(crate) fn new(model: Arc<ExpertModel>, set: &ActionSet, n_stages: usize) -> Self {
        let nvec = set.nvec(n_stages);
        let logits = nvec.iter().sum();
        Self {
            model,
            oracle: None,
            action: Action::faas_only(n_stages),
            allowed: vec![false; logits],
            nearest: vec![false; logits],
            choice: vec![0; nvec.len()],
            nvec,
        }
    }

    /// What it plans with.
    pub(crate) fn model(&self) -> Arc<ExpertModel> {
        self.model.clone()
    }

    /// Plans the oracle for the episode of `seed`.
    pub(crate) fn start(&mut self, scenario: &Arc<Scenario>, seed: u64) {
        let arrivals = stage_arrivals(scenario, seed, &|| {});
        let model = &self.model;
        self.oracle =
            Some(Oracle::new(&model.profile, &model.pools, &arrivals.per_step, arrivals.steps_per_interval));
    }

    /// The oracle's decision for `obs` (the next in its episode), as one allowed choice per action
    /// dimension: the first of the nearest, a target above winning a tie.
    pub(crate) fn decide(
        &mut self,
        set: &ActionSet,
        obs: &Observation,
        max_vms: &[u32],
        memory: &DecodeMemory,
    ) {
        let Some(oracle) = self.oracle.as_mut() else { return };
        oracle.act(obs, &mut self.action);
        set.mask(obs, max_vms, &mut self.allowed);
        self.nearest.fill(false);
        set.nearest_choices(obs, max_vms, memory, &self.action, &self.allowed, &mut self.nearest);
        let mut start = 0;
        for (choice, &n) in self.choice.iter_mut().zip(&self.nvec) {
            let (nearest, allowed) = (&self.nearest[start..start + n], &self.allowed[start..start + n]);
            *choice =
                nearest.iter().position(|&l| l).or_else(|| allowed.iter().position(|&a| a)).unwrap_or(0);
            start += n;
        }
    }

    /// The choice for the latest observation, once an episode has started.
    pub(crate) fn choice(&self) -> Option<&[usize]> {
        self.oracle.as_ref().map(|_| self.choice.as_slice())
    }
}
