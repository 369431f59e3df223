//! From trained networks to the policy file `serflow-policies` loads: the actor's `f32` weights, the
//! observation normaliser, the frames it stacks, the action mapping, the schema version and the
//! feature names.

use crate::frames::frames_read;
use crate::networks::ActorCritic;
use crate::normalizer::ObsNormalizer;
use serflow_env::Scenario;
use serflow_env::registry::learned_policy_file;
use serflow_policies::ActionSet;
use serflow_policies::learned::LearnedPolicyFile;

/// The exported form of `nets` trained on `scenario`'s serving environment.
pub fn policy_file(
    nets: &ActorCritic,
    norm: &ObsNormalizer,
    scenario: &Scenario,
    action_set: &ActionSet,
    notes: String,
) -> LearnedPolicyFile {
    let (obs_mean, obs_std) = norm.mean_std();
    let normaliser = (obs_mean, obs_std, norm.clip as f32);
    let frame_stack = frames_read(nets, norm);
    learned_policy_file(scenario, nets.actor.clone(), normaliser, action_set.clone(), frame_stack, notes)
}
