//! Target-tracking autoscaling the way a Kubernetes HorizontalPodAutoscaler (or KEDA) runs a
//! deployment, per stage: desired VMs = ceil(demand / target utilisation), left alone while the
//! ratio is within a tolerance, scaled out at once and in only to the highest recommendation of a
//! stabilisation window (HPA's `scaleDown.stabilizationWindowSeconds`).
//!
//! The utilisation signal is demand, not busy time: `arrival rate / per-VM throughput`, which equals
//! measured utilisation while VMs keep up and keeps growing when they do not (busy time saturates
//! at 100 %).
//!
//! Two forms share the rule. `vm-only` sends every request to VMs (what the balancer's queueing
//! bound refuses still spills to FaaS; the report shows how much). `tuned-hpa` offers VMs at most
//! their SLO-feasible capacity and lets FaaS take the overflow and whatever arrives while VMs boot,
//! with its parameters calibrated by `serflow tune`.

use super::stabilised::Stabiliser;
use crate::policy::Policy;
use crate::profile::SystemProfile;
use crate::schema::{Action, Observation, StageAction, StageFeature};
use serde::{Deserialize, Serialize};

/// HPA tunables.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Hpa")]
pub struct HpaConfig {
    /// Target utilisation of VM throughput (HPA CPU targets are typically 0.5-0.8).
    pub target_utilisation: f64,
    /// No change while `|utilisation / target - 1|` is at most this (HPA default 0.1).
    pub tolerance: f64,
    /// Scale-in stabilisation window, seconds (HPA default 300).
    pub stabilisation_s: f64,
    /// Fewest VMs per stage (HPA `minReplicas`).
    pub min_vms: u32,
    /// Offer VMs at most their SLO-feasible capacity; FaaS takes the rest.
    pub faas_overflow: bool,
}

impl HpaConfig {
    /// The `vm-only` baseline: 60 % target, no tolerance, 300 s window, one VM at least, no
    /// FaaS by choice.
    pub fn vm_only() -> Self {
        Self {
            target_utilisation: 0.6,
            tolerance: 0.0,
            stabilisation_s: 300.0,
            min_vms: 1,
            faas_overflow: false,
        }
    }

    /// HPA's own defaults (10 % tolerance) with FaaS taking the overflow: where calibration starts.
    pub fn with_overflow() -> Self {
        Self { tolerance: 0.1, faas_overflow: true, ..Self::vm_only() }
    }
}

/// The target-tracking policy.
#[derive(Clone, Debug)]
pub struct Hpa {
    name: &'static str,
    config: HpaConfig,
    profile: SystemProfile,
    stabilisers: Vec<Stabiliser>,
}

impl Hpa {
    /// The policy called `name` for the system `profile` describes.
    pub fn new(name: &'static str, profile: SystemProfile, config: HpaConfig) -> Self {
        let window = (config.stabilisation_s / profile.interval_s).ceil().max(1.0) as usize;
        let stabilisers = vec![Stabiliser::new(window); profile.stages.len()];
        Self { name, config, profile, stabilisers }
    }
}

impl Policy for Hpa {
    fn name(&self) -> &str {
        self.name
    }

    fn reset(&mut self) {
        self.stabilisers.iter_mut().for_each(Stabiliser::clear);
    }

    fn act(&mut self, obs: &Observation, action: &mut Action) {
        action.stages.resize(obs.n_stages(), StageAction::FAAS_ONLY);
        let c = &self.config;
        for (k, prof) in self.profile.stages.iter().enumerate() {
            let demand = f64::from(obs.stage(k, StageFeature::ArrivalRate)) / prof.vm_throughput_rps;
            let current = obs.committed_vms(k);
            let within_tolerance = c.tolerance > 0.0
                && current > 0
                && (demand / f64::from(current) / c.target_utilisation - 1.0).abs() <= c.tolerance;
            let desired = if within_tolerance {
                current
            } else {
                ((demand / c.target_utilisation).ceil() as u32)
                    .clamp(c.min_vms.min(prof.max_vms), prof.max_vms)
            };
            let target = self.stabilisers[k].recommend(desired, current);
            let limit = c
                .faas_overflow
                .then(|| (f64::from(obs.stage(k, StageFeature::VmsReady)) * prof.vm_slo_capacity_rps) as f32);
            action.stages[k] = StageAction { vm_target: target, vm_share: 1.0, vm_rate_limit: limit };
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
        let mut p = Hpa::new("vm-only", profile(1, 0.1, 10.0), HpaConfig::vm_only());
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
        let mut p = Hpa::new("vm-only", profile(2, 0.1, 10.0), HpaConfig::vm_only());
        let mut a = Action::faas_only(2);
        p.act(&observation(2, 0.0, 0), &mut a);
        assert!(a.stages.iter().all(|s| s.vm_target == 1 && s.vm_share == 1.0));
    }

    #[test]
    fn tolerance_holds_small_changes_and_overflow_caps_what_vms_are_offered() {
        let config = HpaConfig { stabilisation_s: 10.0, ..HpaConfig::with_overflow() };
        let mut p = Hpa::new("tuned-hpa", profile(1, 0.1, 8.0), config);
        let mut a = Action::faas_only(1);
        // 10 VMs at 60 %: 60 req/s. 64 req/s is 6.7 % over target: within 10 %, hold.
        p.act(&observation(1, 64.0, 10), &mut a);
        assert_eq!(a.stages[0].vm_target, 10);
        assert_eq!(a.stages[0].vm_rate_limit, Some(80.0), "10 ready VMs x 8 req/s SLO capacity");
        // 72 req/s is 20 % over: 12 VMs.
        p.act(&observation(1, 72.0, 10), &mut a);
        assert_eq!(a.stages[0].vm_target, 12);
    }
}
