//! The control loop a deployment embeds (feature `controller`): every interval, read an observation
//! from a [`MetricsSource`], ask a [`Policy`], apply the action through an [`Actuator`].
//!
//! Failures never stop the loop. A metrics read that times out or fails, an observation the policy
//! rejects ([`Policy::check`]), or an actuator error leads to the **fallback action**: hold every
//! stage's VM count (the last one observed) and offer VMs all traffic, so what they cannot take
//! overflows to FaaS. Each fallback is logged as a warning on stderr and reported by [`Controller::tick`].

use crate::policy::Policy;
use crate::schema::{Action, Observation, StageAction};
use std::future::Future;
use std::time::Duration;

/// Where observations come from (a metrics system, or a simulator in tests).
pub trait MetricsSource: Send {
    /// The observation for the decision now.
    fn observe(&mut self) -> impl Future<Output = Result<Observation, String>> + Send;
}

/// What carries actions out (a cloud API, a load balancer config, or a simulator).
pub trait Actuator: Send {
    /// Applies `action`.
    fn apply(&mut self, action: &Action) -> impl Future<Output = Result<(), String>> + Send;
}

/// Why a tick fell back.
#[derive(Clone, Debug, PartialEq)]
pub enum Fallback {
    /// The metrics source did not answer within the timeout.
    MetricsTimeout,
    /// The metrics source failed.
    MetricsError(String),
    /// The observation did not fit the policy.
    MalformedObservation(String),
    /// The actuator failed to apply the policy's action (the fallback was tried instead).
    ActuatorError(String),
}

/// What one tick did.
#[derive(Clone, Debug, PartialEq)]
pub enum Tick {
    /// The policy's action was applied.
    Applied(Action),
    /// The fallback action was used, for this reason.
    FellBack(Fallback, Action),
}

/// A policy driven against metrics and an actuator.
pub struct Controller<P, M, A> {
    policy: P,
    metrics: M,
    actuator: A,
    metrics_timeout: Duration,
    last_vms: Vec<u32>,
    action: Action,
}

impl<P: Policy, M: MetricsSource, A: Actuator> Controller<P, M, A> {
    /// A controller for `n_stages` stages; metrics reads longer than `metrics_timeout` fall back.
    pub fn new(policy: P, metrics: M, actuator: A, n_stages: usize, metrics_timeout: Duration) -> Self {
        Self {
            policy,
            metrics,
            actuator,
            metrics_timeout,
            last_vms: vec![0; n_stages],
            action: Action::faas_only(n_stages),
        }
    }

    /// The fallback: hold the last observed VM counts, offer VMs everything, overflow to FaaS.
    pub fn fallback_action(&self) -> Action {
        let stages = self.last_vms.iter().map(|&vms| StageAction::hold(vms)).collect();
        Action { stages }
    }

    /// One decision.
    pub async fn tick(&mut self) -> Tick {
        let observed = tokio::time::timeout(self.metrics_timeout, self.metrics.observe()).await;
        let obs = match observed {
            Err(_) => return self.fall_back(Fallback::MetricsTimeout).await,
            Ok(Err(e)) => return self.fall_back(Fallback::MetricsError(e)).await,
            Ok(Ok(obs)) => obs,
        };
        if let Err(e) = self.policy.check(&obs) {
            return self.fall_back(Fallback::MalformedObservation(e.to_string())).await;
        }
        self.last_vms = (0..obs.n_stages()).map(|k| obs.committed_vms(k)).collect();
        self.policy.act(&obs, &mut self.action);
        match self.actuator.apply(&self.action).await {
            Ok(()) => Tick::Applied(self.action.clone()),
            Err(e) => self.fall_back(Fallback::ActuatorError(e)).await,
        }
    }

    async fn fall_back(&mut self, why: Fallback) -> Tick {
        let action = self.fallback_action();
        eprintln!(
            "serflow controller: warning: {why:?}; applying the fallback action (hold VMs, overflow to FaaS)"
        );
        if let Err(e) = self.actuator.apply(&action).await {
            eprintln!("serflow controller: warning: the fallback action failed too: {e}");
        }
        Tick::FellBack(why, action)
    }

    /// Ticks every `interval` (the first at once), `ticks` times (`u64::MAX`: for ever), handing
    /// each outcome to `on_tick`.
    pub async fn run(&mut self, interval: Duration, ticks: u64, mut on_tick: impl FnMut(&Tick)) {
        let mut clock = tokio::time::interval(interval);
        for _ in 0..ticks {
            clock.tick().await;
            let outcome = self.tick().await;
            on_tick(&outcome);
        }
    }

    /// The policy, metrics source and actuator back.
    pub fn into_parts(self) -> (P, M, A) {
        (self.policy, self.metrics, self.actuator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::tests::profile;
    use crate::baselines::{FaasOnly, Hpa, HpaConfig};
    use crate::schema::StageFeature;

    /// What a metrics system can get wrong.
    #[derive(Clone, Copy)]
    enum Glitch {
        /// An observation of three stages.
        ThreeStages,
        /// Stage 0's rate taken across a counter reset.
        NegativeRate,
    }

    /// Answers with an observation of 2 stages and 3 ready VMs at stage 0, or with a glitch; sleeps
    /// past any timeout when `hang` is set.
    struct FakeMetrics {
        hang: bool,
        glitch: Option<Glitch>,
    }

    impl MetricsSource for FakeMetrics {
        async fn observe(&mut self) -> Result<Observation, String> {
            if self.hang {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            let mut obs = Observation::zeros(if let Some(Glitch::ThreeStages) = self.glitch { 3 } else { 2 });
            obs.set_stage(0, StageFeature::VmsReady, 3.0);
            if let Some(Glitch::NegativeRate) = self.glitch {
                obs.set_stage(0, StageFeature::ArrivalRate, -250.0);
            }
            Ok(obs)
        }
    }

    #[derive(Default)]
    struct Recorder {
        applied: Vec<Action>,
        fail: bool,
    }

    impl Actuator for Recorder {
        async fn apply(&mut self, action: &Action) -> Result<(), String> {
            self.applied.push(action.clone());
            if self.fail { Err("API throttled".into()) } else { Ok(()) }
        }
    }

    /// A policy for exactly 2 stages that keeps 5 VMs at stage 0.
    struct TwoStages;

    impl Policy for TwoStages {
        fn name(&self) -> &str {
            "two-stages"
        }
        fn n_stages(&self) -> Option<usize> {
            Some(2)
        }
        fn act(&mut self, obs: &Observation, action: &mut Action) {
            FaasOnly.act(obs, action);
            action.stages[0].vm_target = 5;
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    #[test]
    fn a_metrics_timeout_falls_back_to_holding_vms() {
        runtime().block_on(async {
            let metrics = FakeMetrics { hang: false, glitch: None };
            let mut c =
                Controller::new(TwoStages, metrics, Recorder::default(), 2, Duration::from_millis(50));
            assert!(matches!(c.tick().await, Tick::Applied(ref a) if a.stages[0].vm_target == 5));
            c.metrics.hang = true;
            let Tick::FellBack(why, action) = c.tick().await else { panic!("expected the fallback") };
            assert_eq!(why, Fallback::MetricsTimeout);
            // Holds the 3 VMs last observed at stage 0 and offers VMs everything.
            assert_eq!(action.stages[0], StageAction { vm_target: 3, vm_share: 1.0, vm_rate_limit: None });
            let (_, _, recorder) = c.into_parts();
            assert_eq!(recorder.applied.len(), 2);
        });
    }

    #[test]
    fn malformed_observations_and_actuator_errors_fall_back_without_stopping() {
        runtime().block_on(async {
            let metrics = FakeMetrics { hang: false, glitch: Some(Glitch::ThreeStages) };
            let mut c =
                Controller::new(TwoStages, metrics, Recorder::default(), 2, Duration::from_millis(50));
            assert!(matches!(c.tick().await, Tick::FellBack(Fallback::MalformedObservation(_), _)));
            c.metrics.glitch = None;
            c.actuator.fail = true;
            let mut ticks = Vec::new();
            c.run(Duration::from_millis(5), 3, |t| ticks.push(t.clone())).await;
            assert_eq!(ticks.len(), 3);
            assert!(ticks.iter().all(|t| matches!(t, Tick::FellBack(Fallback::ActuatorError(_), _))));
        });
    }

    #[test]
    fn a_rule_falls_back_on_a_glitch_in_the_metrics_instead_of_acting_on_it() {
        // A rule sized for 2 stages would read a negative rate as no load and scale in, and index
        // past its profile on fewer stages than it controls.
        runtime().block_on(async {
            let rule = Hpa::new("vm-only", profile(2, 0.1, 10.0), HpaConfig::vm_only());
            let metrics = FakeMetrics { hang: false, glitch: None };
            let mut c = Controller::new(rule, metrics, Recorder::default(), 2, Duration::from_millis(50));
            assert!(matches!(c.tick().await, Tick::Applied(_)));
            for (glitch, reason) in [
                (Glitch::NegativeRate, "stage0.arrival_rate is negative"),
                (Glitch::ThreeStages, "observation is for 3 stages, the policy controls 2"),
            ] {
                c.metrics.glitch = Some(glitch);
                let Tick::FellBack(Fallback::MalformedObservation(why), action) = c.tick().await else {
                    panic!("expected the fallback on {reason}")
                };
                assert!(why.contains(reason), "{why}");
                assert_eq!(action.stages[0].vm_target, 3, "holds the VMs last observed");
            }
        });
    }
}
