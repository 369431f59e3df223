//! LIBRA (Raza et al., IC2E 2021) as its public simulator implements it: the paper's main baseline.
//!
//! Every interval it folds the front-end arrival rate into an EWMA of mean and absolute deviation
//! (alpha = mu = 0.2). At the first interval with data and then every 300 s it takes
//! `share = floor(mean + std)` req/s, provisions `ceil(share / per-VM capacity)` VMs, and sets a VM
//! quota of `floor(0.8 x share)` requests per second: the first `quota` arrivals of every second go to
//! VMs, the rest to FaaS. When the decision adds VMs it keeps the old quota until they have booted.
//! LIBRA assumes uniform runtime: on a multi-stage pipeline it ignores exits and sizes every stage
//! for the full front-end rate. Per-VM capacity is LIBRA's memory-based figure, slots / service time.
//! With a control interval longer than LIBRA's one-second epoch, the EWMA sees one sample (the
//! interval's mean rate) per interval.

use super::ewma::Ewma;
use crate::policy::Policy;
use crate::profile::SystemProfile;
use crate::schema::{Action, GlobalFeature, Observation, StageAction};

/// LIBRA's tunables, with its public simulator's values as defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct LibraConfig {
    /// EWMA weight of the mean.
    pub alpha: f64,
    /// EWMA weight of the deviation.
    pub mu: f64,
    /// Seconds between provisioning decisions.
    pub update_every_s: f64,
    /// Fraction of `mean + std` sent to VMs.
    pub vm_fraction: f64,
}

impl Default for LibraConfig {
    fn default() -> Self {
        Self { alpha: 0.2, mu: 0.2, update_every_s: 300.0, vm_fraction: 0.8 }
    }
}

#[derive(Clone, Debug, Default)]
struct StageState {
    /// VMs decided at the last decision.
    vms: u32,
    /// VMs the current quota was set for.
    quota_vms: u32,
    /// Requests per second offered to VMs.
    quota: u32,
    /// Time at which a pending quota takes effect (new VMs booted).
    pending_until: Option<f64>,
}

/// The LIBRA hybrid policy.
#[derive(Clone, Debug)]
pub struct Libra {
    config: LibraConfig,
    profile: SystemProfile,
    rate: Ewma,
    calls: u64,
    next_decision_s: Option<f64>,
    share: f64,
    stages: Vec<StageState>,
}

impl Libra {
    /// LIBRA for the system `profile` describes.
    pub fn new(profile: SystemProfile, config: LibraConfig) -> Self {
        let stages = vec![StageState::default(); profile.stages.len()];
        Self {
            rate: Ewma::new(config.alpha, config.mu),
            config,
            profile,
            calls: 0,
            next_decision_s: None,
            share: 0.0,
            stages,
        }
    }

    fn decide(&mut self, now_s: f64) {
        let (mean, std) = self.rate.get().unwrap_or((0.0, 0.0));
        self.share = (mean + std).abs().floor();
        let quota = (self.share * self.config.vm_fraction).floor() as u32;
        for (st, prof) in self.stages.iter_mut().zip(&self.profile.stages) {
            let vms = if prof.vm_throughput_rps > 0.0 {
                (self.share / prof.vm_throughput_rps).ceil() as u32
            } else {
                0
            };
            st.vms = vms.min(prof.max_vms);
            if st.vms > st.quota_vms {
                st.pending_until = Some(now_s + self.profile.vm_boot_s);
            } else {
                st.quota_vms = st.vms;
                st.quota = quota;
                st.pending_until = None;
            }
        }
    }
}

impl Policy for Libra {
    fn name(&self) -> &str {
        "libra"
    }

    fn n_stages(&self) -> Option<usize> {
        Some(self.profile.stages.len())
    }

    fn reset(&mut self) {
        self.rate.clear();
        self.calls = 0;
        self.next_decision_s = None;
        self.share = 0.0;
        self.stages.iter_mut().for_each(|s| *s = StageState::default());
    }

    fn act(&mut self, obs: &Observation, action: &mut Action) {
        let now_s = self.calls as f64 * self.profile.interval_s;
        self.calls += 1;
        action.stages.resize(obs.n_stages(), StageAction::FAAS_ONLY);
        if self.calls == 1 {
            // No interval observed yet: keep what runs, offer nothing to VMs (LIBRA's quota starts at 0).
            for (k, a) in action.stages.iter_mut().enumerate() {
                *a = StageAction { vm_target: obs.committed_vms(k), vm_share: 1.0, vm_rate_limit: Some(0.0) };
                self.stages[k].vms = a.vm_target;
            }
            return;
        }
        self.rate.update(f64::from(obs.global(GlobalFeature::TotalRate)));
        if self.next_decision_s.is_none_or(|t| now_s >= t - 1e-9) {
            self.next_decision_s = Some(now_s + self.config.update_every_s);
            self.decide(now_s);
        }
        let quota = (self.share * self.config.vm_fraction).floor() as u32;
        for (st, a) in self.stages.iter_mut().zip(action.stages.iter_mut()) {
            if st.pending_until.is_some_and(|t| now_s >= t - 1e-9) {
                st.quota_vms = st.vms;
                st.quota = quota;
                st.pending_until = None;
            }
            *a = StageAction { vm_target: st.vms, vm_share: 1.0, vm_rate_limit: Some(st.quota as f32) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::tests::{observation, profile};

    fn libra() -> Libra {
        Libra::new(profile(1, 1.0, 16.0), LibraConfig::default())
    }

    #[test]
    fn first_decision_sizes_for_mean_plus_std_and_holds_quota_while_vms_boot() {
        let mut p = libra();
        let mut a = Action::faas_only(1);
        p.act(&observation(1, 100.0, 10), &mut a);
        assert_eq!(a.stages[0], StageAction { vm_target: 10, vm_share: 1.0, vm_rate_limit: Some(0.0) });
        p.act(&observation(1, 160.0, 10), &mut a); // t = 1 s: first decision, share 160 -> 10 VMs
        assert_eq!(a.stages[0].vm_target, 10);
        assert_eq!(a.stages[0].vm_rate_limit, Some(0.0), "10 VMs > 0 quota VMs: wait for boot");
        for _ in 2..102 {
            p.act(&observation(1, 160.0, 10), &mut a);
        }
        assert_eq!(a.stages[0].vm_rate_limit, Some(128.0), "quota 0.8 x 160 once 100 s passed");
    }

    #[test]
    fn scale_down_applies_the_new_quota_at_once_and_scale_up_keeps_the_old_one() {
        let mut p = libra();
        let mut a = Action::faas_only(1);
        p.act(&observation(1, 0.0, 10), &mut a);
        for _ in 0..200 {
            p.act(&observation(1, 320.0, 20), &mut a);
        }
        assert_eq!((a.stages[0].vm_target, a.stages[0].vm_rate_limit), (20, Some(256.0)));
        // The EWMA falls over the next 300 s; at the decision (t = 301 s) fewer VMs, quota at once.
        for _ in 200..301 {
            p.act(&observation(1, 32.0, 20), &mut a);
        }
        let (vms, quota) = (a.stages[0].vm_target, a.stages[0].vm_rate_limit.unwrap());
        assert_eq!(vms, 2);
        assert_eq!(quota, (32.0f32 * 0.8).floor());
        // Load jumps: at t = 601 s more VMs are requested but the 2-VM quota stays 100 s.
        for _ in 301..601 {
            p.act(&observation(1, 320.0, 2), &mut a);
        }
        assert_eq!(a.stages[0].vm_target, 20);
        assert_eq!(a.stages[0].vm_rate_limit, Some(quota));
        for _ in 601..701 {
            p.act(&observation(1, 320.0, 20), &mut a);
        }
        assert_eq!(a.stages[0].vm_rate_limit, Some(256.0));
    }

    #[test]
    fn ignores_exits_every_stage_sized_for_the_front_end_rate() {
        let mut p = Libra::new(profile(3, 1.0, 16.0), LibraConfig::default());
        let mut a = Action::faas_only(3);
        p.act(&observation(3, 0.0, 0), &mut a);
        p.act(&observation(3, 64.0, 0), &mut a);
        assert!(a.stages.iter().all(|s| s.vm_target == 4));
    }
}
