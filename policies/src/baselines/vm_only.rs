//! VM-only, the way a Kubernetes HorizontalPodAutoscaler runs a deployment: every stage's traffic to
//! its VMs; VM count from a target utilisation, scaled out at once, scaled in only to the highest
//! recommendation of a stabilisation window (HPA's `scaleDown.stabilizationWindowSeconds`).
//!
//! The utilisation signal is demand, not busy time: `arrival rate / per-VM throughput`, which equals
//! measured utilisation while VMs keep up and keeps growing when they do not (busy time saturates
//! at 100 %). What VMs cannot take without breaking the balancer's queueing bound still spills to
//! FaaS; the report shows how much.

use super::stabilised::Stabiliser;
use crate::policy::Policy;
use crate::profile::SystemProfile;
use crate::schema::{Action, Observation, StageAction, StageFeature};

/// HPA-like tunables.
#[derive(Clone, Debug, PartialEq)]
pub struct VmOnlyConfig {
    /// Target utilisation of VM capacity (HPA CPU targets are typically 0.5-0.8).
    pub target_utilisation: f64,
    /// Scale-in stabilisation window, seconds (HPA default 300).
    pub stabilisation_s: f64,
    /// Fewest VMs per stage (HPA `minReplicas`).
    pub min_vms: u32,
}

impl Default for VmOnlyConfig {
    fn default() -> Self {
        Self { target_utilisation: 0.6, stabilisation_s: 300.0, min_vms: 1 }
    }
}

/// The HPA-like VM-only policy.
#[derive(Clone, Debug)]
pub struct VmOnly {
    config: VmOnlyConfig,
    profile: SystemProfile,
    stabilisers: Vec<Stabiliser>,
}

impl VmOnly {
    /// VM-only for the system `profile` describes.
    pub fn new(profile: SystemProfile, config: VmOnlyConfig) -> Self {
        let window = (config.stabilisation_s / profile.interval_s).ceil().max(1.0) as usize;
        let stabilisers = vec![Stabiliser::new(window); profile.stages.len()];
        Self { config, profile, stabilisers }
    }
}

impl Policy for VmOnly {
    fn name(&self) -> &str {
        "vm-only"
    }

    fn reset(&mut self) {
        self.stabilisers.iter_mut().for_each(Stabiliser::clear);
    }

    fn act(&mut self, obs: &Observation, action: &mut Action) {
        action.stages.resize(obs.n_stages(), StageAction::FAAS_ONLY);
        for (k, prof) in self.profile.stages.iter().enumerate() {
            let demand = f64::from(obs.stage(k, StageFeature::ArrivalRate)) / prof.vm_throughput_rps;
            let desired = ((demand / self.config.target_utilisation).ceil() as u32)
                .clamp(self.config.min_vms.min(prof.max_vms), prof.max_vms);
            let target = self.stabilisers[k].recommend(desired, obs.committed_vms(k));
            action.stages[k] = StageAction { vm_target: target, vm_share: 1.0, vm_rate_limit: None };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::tests::{observation, profile};

    #[test]
    fn scales_out_at_once_and_in_only_after_the_window() {
        // 10 req/s per VM; 60 % target: 120 req/s -> 20 VMs.
        let mut p = VmOnly::new(profile(1, 0.1, 10.0), VmOnlyConfig::default());
        let mut a = Action::faas_only(1);
        p.act(&observation(1, 120.0, 2), &mut a);
        assert_eq!(a.stages[0], StageAction { vm_target: 20, vm_share: 1.0, vm_rate_limit: None });
        // Load halves: the 300 s window (30 intervals of 10 s) keeps 20 VMs, then drops to 10.
        for _ in 0..29 {
            p.act(&observation(1, 60.0, 20), &mut a);
            assert_eq!(a.stages[0].vm_target, 20);
        }
        p.act(&observation(1, 60.0, 20), &mut a);
        assert_eq!(a.stages[0].vm_target, 10);
    }

    #[test]
    fn keeps_min_vms_without_traffic_and_sends_nothing_to_faas_by_choice() {
        let mut p = VmOnly::new(profile(2, 0.1, 10.0), VmOnlyConfig::default());
        let mut a = Action::faas_only(2);
        p.act(&observation(2, 0.0, 0), &mut a);
        assert!(a.stages.iter().all(|s| s.vm_target == 1 && s.vm_share == 1.0));
    }
}
