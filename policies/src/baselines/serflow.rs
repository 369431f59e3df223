//! The SERFLOW heuristic (reconstructed from the paper's abstract; the README's Policies section says what is ours): stage-
//! specific provisioning that accounts for exits, with FaaS absorbing bursts.
//!
//! Every interval it updates an EWMA of the front-end rate and, per stage, an EWMA of the observed
//! reach fraction and its deviation. The sustained rate at stage k is `mean rate x (mean reach - z x
//! deviation)`, a conservative quantile of the reach (equivalently of the exit rate). Then:
//! - **S-CIP / T-CIP**: if that sustained stage rate is below T-CIP_k (the rate at which one VM costs
//!   as much as FaaS for the traffic: `VM $/s / FaaS $/request`), i.e. the conservative reach is below
//!   S-CIP_k = T-CIP_k / rate, the stage stays on FaaS.
//! - **Sizing**: above it, full VMs at the offline-profiled SLO-feasible capacity, plus one more if the
//!   remainder alone is above T-CIP; a VM whose SLO-feasible capacity cannot reach T-CIP is never
//!   worth it.
//! - **Load balancing**: VMs are offered up to their SLO-feasible capacity (ready VMs x capacity, as a
//!   per-second rate limit); the rest, and whatever the VMs cannot take, goes to FaaS (bursts, VMs
//!   still booting).
//! - Scale-in is stabilised over a window (VMs bill a minimum and take minutes to come back).
//!
//! `serflow` runs the published defaults. `serflow-tuned` is the same rule with its parameters
//! calibrated by `serflow tune` and, as the paper balances processing against transmission, with
//! priced transfers counted: a request of a stage between two VM stages that runs on FaaS moves its
//! activation in and out, so its T-CIP uses `FaaS $/request + transfers` (lower T-CIP: more VMs,
//! less splitting). `capacity_factor` scales the profiled SLO-feasible capacity per VM.

use super::ewma::Ewma;
use super::stabilised::Stabiliser;
use crate::policy::Policy;
use crate::profile::SystemProfile;
use crate::schema::{Action, GlobalFeature, Observation, StageAction, StageFeature};
use serde::{Deserialize, Serialize};

/// Tunables of the heuristic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Serflow")]
pub struct SerflowConfig {
    /// EWMA weight for the front-end rate and the reach fractions, per interval.
    pub alpha: f64,
    /// Deviations of reach subtracted for the conservative quantile (1 ~ the 84th percentile of exits).
    pub z: f64,
    /// Scale-in stabilisation window, seconds.
    pub stabilisation_s: f64,
    /// Multiplies the profiled SLO-feasible capacity of a VM (below 1: more headroom).
    #[serde(default = "one")]
    pub capacity_factor: f64,
    /// Count priced VM<->FaaS transfers in T-CIP.
    #[serde(default)]
    pub transfer_aware: bool,
}

fn one() -> f64 {
    1.0
}

impl Default for SerflowConfig {
    /// The published defaults.
    fn default() -> Self {
        Self { alpha: 0.2, z: 1.0, stabilisation_s: 300.0, capacity_factor: 1.0, transfer_aware: false }
    }
}

/// How many VMs carry `rate` req/s cheapest: full VMs at `capacity`, plus one for a remainder above
/// `tcip`; none when a VM's capacity is below `tcip`.
pub fn cheapest_vm_count(rate: f64, capacity: f64, tcip: f64) -> u32 {
    if capacity <= 0.0 || capacity < tcip || rate < tcip {
        return 0;
    }
    let full = (rate / capacity).floor();
    let remainder = rate - full * capacity;
    full as u32 + u32::from(remainder >= tcip)
}

/// The SERFLOW heuristic.
#[derive(Clone, Debug)]
pub struct Serflow {
    name: &'static str,
    config: SerflowConfig,
    profile: SystemProfile,
    rate: Ewma,
    reach: Vec<Ewma>,
    stabilisers: Vec<Stabiliser>,
    calls: u64,
}

impl Serflow {
    /// The heuristic called `name` for the system `profile` describes.
    pub fn new(name: &'static str, profile: SystemProfile, config: SerflowConfig) -> Self {
        let window = (config.stabilisation_s / profile.interval_s).ceil().max(1.0) as usize;
        let n = profile.stages.len();
        Self {
            rate: Ewma::new(config.alpha, config.alpha),
            reach: vec![Ewma::new(config.alpha, config.alpha); n],
            stabilisers: vec![Stabiliser::new(window); n],
            name,
            config,
            profile,
            calls: 0,
        }
    }

    /// The sustained arrival rate the heuristic plans stage `k` for.
    fn sustained_stage_rate(&self, k: usize) -> f64 {
        let rate = self.rate.get().map_or(0.0, |(mean, _)| mean);
        let reach = match self.reach[k].get() {
            Some((mean, dev)) => (mean - self.config.z * dev).max(0.0),
            None => self.profile.stages[k].nominal_reach,
        };
        rate * reach
    }
}

impl Policy for Serflow {
    fn name(&self) -> &str {
        self.name
    }

    fn n_stages(&self) -> Option<usize> {
        Some(self.profile.stages.len())
    }

    fn reset(&mut self) {
        self.rate.clear();
        self.reach.iter_mut().for_each(Ewma::clear);
        self.stabilisers.iter_mut().for_each(Stabiliser::clear);
        self.calls = 0;
    }

    fn act(&mut self, obs: &Observation, action: &mut Action) {
        self.calls += 1;
        action.stages.resize(obs.n_stages(), StageAction::FAAS_ONLY);
        if self.calls == 1 {
            // Nothing observed yet: keep what runs.
            *action = Action::hold(obs);
            return;
        }
        let total = f64::from(obs.global(GlobalFeature::TotalRate));
        self.rate.update(total);
        if total > 0.0 {
            for (k, reach) in self.reach.iter_mut().enumerate() {
                reach.update(f64::from(obs.stage(k, StageFeature::ReachFraction)));
            }
        }
        for k in 0..self.profile.stages.len() {
            let prof = &self.profile.stages[k];
            let capacity = prof.vm_slo_capacity_rps * self.config.capacity_factor;
            let tcip = if self.config.transfer_aware {
                self.profile.vm_price_per_s / self.profile.faas_cost_between_vms(k)
            } else {
                prof.tcip_rps
            };
            let desired = cheapest_vm_count(self.sustained_stage_rate(k), capacity, tcip).min(prof.max_vms);
            let target = self.stabilisers[k].recommend(desired, obs.committed_vms(k));
            let ready = f64::from(obs.stage(k, StageFeature::VmsReady));
            let limit = (ready * capacity) as f32;
            action.stages[k] = StageAction { vm_target: target, vm_share: 1.0, vm_rate_limit: Some(limit) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::tests::{observation, profile};
    use crate::schema::StageFeature;

    #[test]
    fn cheapest_count_adds_a_vm_only_for_a_remainder_above_tcip() {
        assert_eq!(cheapest_vm_count(5.0, 20.0, 8.0), 0, "below T-CIP: FaaS");
        assert_eq!(cheapest_vm_count(25.0, 20.0, 8.0), 1, "remainder 5 < T-CIP");
        assert_eq!(cheapest_vm_count(30.0, 20.0, 8.0), 2, "remainder 10 >= T-CIP");
        assert_eq!(cheapest_vm_count(100.0, 5.0, 8.0), 0, "a VM can never carry T-CIP");
    }

    /// Two stages: stage 0 sees the full rate, stage 1 a fraction `reach1`.
    fn obs(rate: f32, reach1: f32) -> Observation {
        let mut o = observation(2, rate, 0);
        o.set_stage(0, StageFeature::ReachFraction, 1.0);
        o.set_stage(1, StageFeature::ReachFraction, reach1);
        o
    }

    #[test]
    fn keeps_a_stage_below_its_tcip_on_faas_and_provisions_the_busy_one() {
        // 10 req/s per VM (SLO-feasible), T-CIP 4 req/s at every stage.
        let mut p = Serflow::new("serflow", profile(2, 0.1, 10.0), SerflowConfig::default());
        let mut a = Action::faas_only(2);
        p.act(&obs(0.0, 0.0), &mut a);
        for _ in 0..50 {
            p.act(&obs(100.0, 0.03), &mut a); // stage 1 sustained: 3 req/s < T-CIP
        }
        assert_eq!(a.stages[0].vm_target, 10);
        assert_eq!(a.stages[1].vm_target, 0);
        assert!(a.stages.iter().all(|s| s.vm_share == 1.0));
        assert_eq!(a.stages[0].vm_rate_limit, Some(0.0), "no VM ready yet: nothing offered to VMs");
        // Deep traffic grows above T-CIP: stage 1 gets VMs.
        for _ in 0..50 {
            p.act(&obs(100.0, 0.2), &mut a);
        }
        assert_eq!(a.stages[1].vm_target, 2);
    }

    #[test]
    fn offers_vms_no_more_than_their_slo_capacity() {
        let mut p = Serflow::new("serflow", profile(1, 0.1, 10.0), SerflowConfig::default());
        let mut a = Action::faas_only(1);
        p.act(&observation(1, 0.0, 0), &mut a);
        p.act(&observation(1, 100.0, 3), &mut a);
        assert_eq!(a.stages[0].vm_rate_limit, Some(30.0));
    }

    #[test]
    fn a_volatile_reach_is_planned_at_its_conservative_quantile() {
        let mut p = Serflow::new("serflow", profile(2, 0.1, 10.0), SerflowConfig::default());
        let mut a = Action::faas_only(2);
        p.act(&obs(0.0, 0.0), &mut a);
        for i in 0..60 {
            p.act(&obs(100.0, if i % 2 == 0 { 0.3 } else { 0.1 }), &mut a);
        }
        // mean reach 0.2 but deviation ~0.1: planned for ~0.1 x 100 = 10 req/s -> 1 VM, not 2.
        assert_eq!(a.stages[1].vm_target, 1);
    }
}
