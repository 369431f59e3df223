//! From trained networks to the policy file `serflow-policies` loads: the actor's `f32` weights, the
//! observation normaliser, the action mapping, the schema version and the feature names.

use crate::networks::ActorCritic;
use crate::normalizer::ObsNormalizer;
use serflow_env::Scenario;
use serflow_policies::ActionSet;
use serflow_policies::learned::{FORMAT_VERSION, LearnedPolicyFile};
use serflow_policies::schema::{SCHEMA_VERSION, feature_names};

/// The exported form of `nets` trained on `scenario`'s serving environment.
pub fn policy_file(
    nets: &ActorCritic,
    norm: &ObsNormalizer,
    scenario: &Scenario,
    action_set: &ActionSet,
    notes: String,
) -> LearnedPolicyFile {
    let (obs_mean, obs_std) = norm.mean_std();
    let n_stages = scenario.n_stages();
    LearnedPolicyFile {
        format_version: FORMAT_VERSION,
        schema_version: SCHEMA_VERSION,
        n_stages,
        feature_names: feature_names(n_stages),
        obs_mean,
        obs_std,
        obs_clip: norm.clip as f32,
        action_set: action_set.clone(),
        max_vms: vec![scenario.config.vm.max_per_stage; n_stages],
        actor: nets.actor.clone(),
        notes,
    }
}
