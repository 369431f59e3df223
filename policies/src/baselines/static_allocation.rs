//! A fixed allocation: per stage a VM count and a VM share that never change. `static-best` is the
//! cheapest one that meets the SLO target on training seeds (`serflow tune` searches it, then it is
//! frozen): what an operator who sizes once for the whole day would run.

use crate::policy::Policy;
use crate::profile::SystemProfile;
use crate::schema::{Action, Observation, StageAction, StageFeature};
use serde::{Deserialize, Serialize};

/// One stage's fixed allocation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Stage")]
pub struct StaticStage {
    /// VMs kept running.
    pub vms: u32,
    /// Fraction of the stage's arrivals offered to VMs.
    pub vm_share: f32,
    /// Offer VMs at most their SLO-feasible capacity; FaaS takes the rest.
    pub faas_overflow: bool,
}

/// The fixed-allocation policy.
#[derive(Clone, Debug)]
pub struct StaticAllocation {
    stages: Vec<StaticStage>,
    profile: SystemProfile,
}

impl StaticAllocation {
    /// `stages` (one per stage of `profile`) held for ever.
    pub fn new(profile: SystemProfile, stages: Vec<StaticStage>) -> Self {
        Self { stages, profile }
    }
}

impl Policy for StaticAllocation {
    fn name(&self) -> &str {
        "static-best"
    }

    fn n_stages(&self) -> Option<usize> {
        Some(self.profile.stages.len())
    }

    fn act(&mut self, obs: &Observation, action: &mut Action) {
        action.stages.resize(obs.n_stages(), StageAction::FAAS_ONLY);
        for (k, (stage, prof)) in self.stages.iter().zip(&self.profile.stages).enumerate() {
            let ready = f64::from(obs.stage(k, StageFeature::VmsReady));
            action.stages[k] = StageAction {
                vm_target: stage.vms.min(prof.max_vms),
                vm_share: stage.vm_share,
                vm_rate_limit: stage.faas_overflow.then_some((ready * prof.vm_slo_capacity_rps) as f32),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::tests::{observation, profile};

    #[test]
    fn holds_its_allocation_whatever_the_load() {
        let stages = vec![
            StaticStage { vms: 3, vm_share: 1.0, faas_overflow: true },
            StaticStage { vms: 0, vm_share: 0.0, faas_overflow: false },
        ];
        let mut p = StaticAllocation::new(profile(2, 0.1, 10.0), stages);
        let mut a = Action::faas_only(2);
        for rate in [0.0, 50.0, 500.0] {
            p.act(&observation(2, rate, 2), &mut a);
            assert_eq!(a.stages[0], StageAction { vm_target: 3, vm_share: 1.0, vm_rate_limit: Some(20.0) });
            assert_eq!(a.stages[1], StageAction { vm_target: 0, vm_share: 0.0, vm_rate_limit: None });
        }
    }
}
