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

/// Whether `file` is the policy whose file text is `shipped`: equal in everything but the free-form
/// notes, which name the run and where it was exported from. False when `shipped` does not parse.
pub fn is_same_policy(file: &LearnedPolicyFile, shipped: &str) -> bool {
    ron::from_str::<LearnedPolicyFile>(shipped)
        .is_ok_and(|other| LearnedPolicyFile { notes: file.notes.clone(), ..other } == *file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serflow_env::registry::SHIPPED;

    #[test]
    fn a_policy_is_the_shipped_one_whatever_its_notes_and_not_after_any_other_change() {
        for shipped in SHIPPED {
            let mut file: LearnedPolicyFile = ron::from_str(shipped.text).unwrap();
            assert!(is_same_policy(&file, shipped.text), "{}", shipped.path);
            file.notes = "run elsewhere".into();
            assert!(is_same_policy(&file, shipped.text), "{}", shipped.path);
            file.obs_mean[0] = f32::from_bits(file.obs_mean[0].to_bits() ^ 1);
            assert!(!is_same_policy(&file, shipped.text), "one bit of the normaliser: {}", shipped.path);
        }
        let file: LearnedPolicyFile = ron::from_str(SHIPPED[0].text).unwrap();
        assert!(!is_same_policy(&file, SHIPPED[1].text));
        assert!(!is_same_policy(&file, "not a policy"));
    }
}
