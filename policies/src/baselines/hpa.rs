//! Target-tracking autoscaling the way a Kubernetes HorizontalPodAutoscaler (or KEDA) runs a
//! deployment, per stage: desired VMs = ceil(demand / target utilisation), left alone while the
//! ratio is within a tolerance, scaled out at once and in only to the highest recommendation of a
//! stabilisation window (HPA's `scaleDown.stabilizationWindowSeconds`).
//!
//! The utilisation signal is demand, not busy time: `arrival rate / per-VM throughput`, which equals
//! measured utilisation while VMs keep up and keeps growing when they do not (busy time saturates
//! at 100 %).
//!
//! Three forms share the rule. `vm-only` sends every request to VMs (what the balancer's queueing
//! bound refuses still spills to FaaS; the report shows how much). `tuned-hpa` offers VMs at most
//! their SLO-feasible capacity and lets FaaS take the overflow and whatever arrives while VMs boot,
//! with its parameters calibrated by `serflow tune`. `predictive-hpa` is `tuned-hpa` scaling out on
//! a trend forecast about one VM boot ahead (the higher of the forecast and the measured rate), so a
//! ramp finds its VMs ready instead of spilling to FaaS while they boot; its lead is calibrated too.

use super::stabilised::Stabiliser;
use super::trend::Trend;
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
    /// Seconds ahead each stage's rate is forecast (Holt's linear trend on the per-interval rate);
    /// demand is the higher of the forecast and the measured rate. 0: the measured rate only.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub forecast_s: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
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
            forecast_s: 0.0,
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
    trends: Vec<Trend>,
}

impl Hpa {
    /// The policy called `name` for the system `profile` describes.
    pub fn new(name: &'static str, profile: SystemProfile, config: HpaConfig) -> Self {
        let window = (config.stabilisation_s / profile.interval_s).ceil().max(1.0) as usize;
        let stabilisers = vec![Stabiliser::new(window); profile.stages.len()];
        let trends = vec![Trend::default(); profile.stages.len()];
        Self { name, config, profile, stabilisers, trends }
    }
}

impl Policy for Hpa {
    fn name(&self) -> &str {
        self.name
    }

    fn n_stages(&self) -> Option<usize> {
        Some(self.profile.stages.len())
    }

    fn reset(&mut self) {
        self.stabilisers.iter_mut().for_each(Stabiliser::clear);
        self.trends.iter_mut().for_each(Trend::clear);
    }

    fn act(&mut self, obs: &Observation, action: &mut Action) {
        action.stages.resize(obs.n_stages(), StageAction::FAAS_ONLY);
        let c = &self.config;
        for (k, prof) in self.profile.stages.iter().enumerate() {
            let mut rate = f64::from(obs.stage(k, StageFeature::ArrivalRate));
            if c.forecast_s > 0.0 {
                self.trends[k].update(rate);
                rate = rate.max(self.trends[k].forecast(c.forecast_s / self.profile.interval_s));
            }
            let demand = rate / prof.vm_throughput_rps;
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

    #[test]
    fn a_forecast_scales_out_ahead_of_a_ramp_and_never_below_the_measured_rate() {
        // 10 req/s per VM at 60 %: 6 req/s per VM. Intervals of 10 s; a 60 s lead is 6 intervals.
        let reactive = HpaConfig { stabilisation_s: 10.0, ..HpaConfig::vm_only() };
        let predictive = HpaConfig { forecast_s: 60.0, ..reactive.clone() };
        let mut r = Hpa::new("vm-only", profile(1, 0.1, 10.0), reactive);
        let mut p = Hpa::new("predictive-hpa", profile(1, 0.1, 10.0), predictive);
        let (mut ar, mut ap) = (Action::faas_only(1), Action::faas_only(1));
        // a ramp of 6 req/s per interval: one VM more every interval
        for i in 0..20 {
            let obs = observation(1, 60.0 + 6.0 * i as f32, 10);
            r.act(&obs, &mut ar);
            p.act(&obs, &mut ap);
        }
        assert_eq!(ar.stages[0].vm_target, 29, "the measured 174 req/s");
        assert!(ap.stages[0].vm_target >= 34, "about six intervals ahead: {}", ap.stages[0].vm_target);
        // The load falls: the forecast points down, the measured rate is the floor.
        for _ in 0..3 {
            let obs = observation(1, 60.0, 10);
            r.act(&obs, &mut ar);
            p.act(&obs, &mut ap);
            assert_eq!(ap.stages[0].vm_target, ar.stages[0].vm_target);
        }
        // After reset the forecast starts over: a first interval is the measured rate alone.
        p.reset();
        p.act(&observation(1, 120.0, 10), &mut ap);
        assert_eq!(ap.stages[0].vm_target, 20);
    }
}
