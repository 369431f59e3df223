//! Every request to FaaS, no VM ever: the zero-provisioning baseline.

use crate::policy::Policy;
use crate::schema::{Action, Observation, StageAction};

/// Sends every request of every stage to FaaS and keeps no VM.
#[derive(Clone, Debug, Default)]
pub struct FaasOnly;

impl Policy for FaasOnly {
    fn name(&self) -> &str {
        "faas-only"
    }

    fn act(&mut self, obs: &Observation, action: &mut Action) {
        action.stages.clear();
        action.stages.resize(obs.n_stages(), StageAction::FAAS_ONLY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::StageFeature;

    #[test]
    fn never_keeps_a_vm_even_when_vms_are_running() {
        let mut obs = Observation::zeros(3);
        obs.set_stage(1, StageFeature::VmsReady, 4.0);
        let mut action = Action::faas_only(1);
        FaasOnly.act(&obs, &mut action);
        assert_eq!(action, Action::faas_only(3));
    }
}
