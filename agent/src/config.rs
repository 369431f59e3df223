//! A training run as written in RON: which environment, the PPO hyper-parameters, the SLO multiplier,
//! the evaluation and checkpoint schedule. Every default is embedded in the binary
//! (`agent/configs/*.ron`).

use crate::credit::CreditMode;
use crate::error::{Error, Result};
use crate::imitation::ImitationConfig;
use crate::networks::Backend;
use crate::ppo::PpoConfig;
use serde::{Deserialize, Serialize};
use serflow_env::workload::WorkloadConfig;
use serflow_policies::learned::MAX_FRAME_STACK;
use std::path::Path;
use std::str::FromStr;

/// Which environment to train on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnvKind {
    /// The staged VM/FaaS serving system of a scenario.
    Serflow,
    /// CartPole-v1 (the sanity benchmark).
    Cartpole,
}

/// A Lagrange multiplier on the SLO violation rate, adapted after every rollout:
/// `lambda <- max(0, lambda + lr x (violation rate - (1 - target - margin)))`. The training reward
/// becomes `-(cost)/cost_scale - lambda x violations/finished`. A margin aims above the target, so
/// that attainment on unseen seeds and traces (which varies around the training mean) stays above it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Lagrangian")]
pub struct LagrangianConfig {
    /// Starting multiplier.
    pub initial: f64,
    /// Step size of the multiplier update.
    pub lr: f64,
    /// Attainment aimed for above the target (0.002 aims at 99.2 % for a 99 % target).
    #[serde(default)]
    pub margin: f64,
}

/// A training run, as written in RON (every default embedded in the binary).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Train")]
pub struct TrainConfig {
    /// The environment.
    pub env: EnvKind,
    /// Scenario (built-in name or RON file) for `Serflow`.
    pub scenario: String,
    /// Traces replacing the scenario's workload (several: one drawn per episode), each rescaled to
    /// the scenario's nominal mean rate when it declares one.
    #[serde(default)]
    pub traces: Vec<String>,
    /// Train under this workload instead of the scenario's (serving only; relative trace paths
    /// resolve as the scenario's do), for a policy that must hold up beyond the scenario's own load:
    /// for example its shape at several load levels. Evaluation, checkpoint selection and the
    /// exported policy stay on the scenario, its own workload included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_workload: Option<WorkloadConfig>,
    /// The run's seed: network init, sampling, environments (`seed + i`).
    pub seed: u64,
    /// Burn backend for the updates.
    pub backend: Backend,
    /// PPO hyper-parameters.
    pub ppo: PpoConfig,
    /// Adapt the violation penalty to hit the SLO target (serving only).
    #[serde(default)]
    pub lagrangian: Option<LagrangianConfig>,
    /// Start each training episode with a uniform `0..=N` ready VMs per stage instead of the
    /// scenario's initial count (serving only; evaluation keeps the scenario's start).
    #[serde(default)]
    pub random_initial_vms: Option<u32>,
    /// VM targets as these multiples of each stage's need (its arrival rate over one busy VM's
    /// throughput), plus a "hold" choice; the first is where a new actor leans (see
    /// `ppo.network.default_action_prob`). Empty: VM-count changes of -2..=2 (`ActionSet`).
    #[serde(default)]
    pub vm_need_multiples: Vec<f32>,
    /// With `vm_need_multiples`: a target no more than this fraction below the committed VM count
    /// keeps the count (HPA's tolerance, against draining and rebooting on noise).
    #[serde(default)]
    pub vm_scale_in_tolerance: f32,
    /// With `vm_need_multiples`: control intervals ahead each stage's need is also forecast (Holt's
    /// linear trend of its rate, never below the measured rate); every lead adds a block of the
    /// multiples to the VM choices, the first lead's first multiple being where a new actor leans.
    /// Empty: the measured rate only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vm_need_leads: Vec<f32>,
    /// Offer each ready VM at most its SLO-feasible capacity, FaaS taking the overflow (how
    /// `tuned-hpa` routes).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vm_offer_slo_capacity: bool,
    /// Decisions a scale-in waits out: a VM target below the committed count becomes the highest of
    /// the last this many (HPA's scale-in stabilisation window, in control intervals). 0: none.
    #[serde(default, skip_serializing_if = "serflow_policies::schema::is_zero_u32")]
    pub vm_scale_in_window: u32,
    /// The VM shares a stage may offer (empty: 0, 0.25, 0.5, 0.75, 1). `[1.0]` offers VMs everything
    /// and leaves FaaS what they cannot take.
    #[serde(default)]
    pub vm_shares: Vec<f32>,
    /// Observations the actor and critic read at once: the last `frame_stack` normalised
    /// observations, oldest first (SB3's `VecFrameStack`); exported policies stack the same. 1 (the
    /// default, then omitted when saved) reads the current observation only.
    #[serde(
        default = "serflow_policies::learned::one_frame",
        skip_serializing_if = "serflow_policies::learned::is_one_frame"
    )]
    pub frame_stack: usize,
    /// Fit the actor to the forecast oracle's choices before PPO (serving only; DAgger, see
    /// `crate::imitation`). None: PPO starts from the initialised actor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imitation: Option<ImitationConfig>,
    /// Evaluate every this many iterations (and at the end).
    pub eval_every: u64,
    /// Evaluation episodes (seeds `eval_seed..eval_seed + eval_episodes`).
    pub eval_episodes: usize,
    /// First evaluation seed (kept apart from training seeds).
    pub eval_seed: u64,
    /// Checkpoint every this many iterations (and at the end).
    pub checkpoint_every: u64,
}

impl LagrangianConfig {
    /// The multiplier after a rollout whose violation rate was `violation_rate`, for an SLO
    /// attainment `target`.
    pub fn update(&self, lambda: f64, violation_rate: f64, target: f64) -> f64 {
        let allowed = (1.0 - target - self.margin).max(0.0);
        (lambda + self.lr * (violation_rate - allowed)).max(0.0)
    }
}

/// The embedded default configuration for serving (`agent/configs/serflow.ron`).
pub const SERFLOW_CONFIG: &str = include_str!("../configs/serflow.ron");
/// The embedded default configuration for CartPole (`agent/configs/cartpole.ron`).
pub const CARTPOLE_CONFIG: &str = include_str!("../configs/cartpole.ron");
/// The embedded configuration of the `production` policy (`agent/configs/production.ron`).
pub const PRODUCTION_CONFIG: &str = include_str!("../configs/production.ron");

/// The built-in scenarios with a shipped learned policy, in the order the main job (`serflow train`
/// with no config, environment or scenario) makes them: the fit of a shipped planner where there is
/// one (`production`), else PPO on the scenario's embedded configuration. Each keeps an embedded
/// PPO configuration (`serflow train --scenario NAME`).
pub const MAIN_JOB_SCENARIOS: [&str; 2] = ["default", "production"];

impl TrainConfig {
    /// The embedded default for `env`.
    pub fn default_for(env: EnvKind) -> Self {
        let text = match env {
            EnvKind::Serflow => SERFLOW_CONFIG,
            EnvKind::Cartpole => CARTPOLE_CONFIG,
        };
        ron::from_str(text).expect("embedded configs parse (tested)")
    }

    /// The embedded configuration for serving `scenario`: the shipped production policy's for
    /// `production`, otherwise the default's [`Self::with_scenario`].
    pub fn embedded_for_scenario(scenario: &str) -> Self {
        if scenario == "production" {
            return ron::from_str(PRODUCTION_CONFIG).expect("embedded configs parse (tested)");
        }
        Self::default_for(EnvKind::Serflow).with_scenario(scenario)
    }

    /// This config on `scenario`. A training workload is made for the config's own scenario (its
    /// scale), so on another scenario training runs under that scenario's own workload.
    pub fn with_scenario(mut self, scenario: &str) -> Self {
        if scenario != self.scenario {
            self.scenario = scenario.to_string();
            self.training_workload = None;
        }
        self
    }

    /// Reads a config file.
    pub fn load(path: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(Path::new(path), "cannot read", e))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        ron::from_str(text).map_err(|e| {
            Error::new(format!("{path}: line {}, column {}: {}", e.span.start.line, e.span.start.col, e.code))
        })
    }

    /// Checks ranges; the error names the field.
    pub fn validate(&self) -> Result<()> {
        self.ppo.validate().map_err(Error::new)?;
        let fail = |message: String| Err(Error::new(message));
        if self.env != EnvKind::Serflow && self.random_initial_vms.is_some() {
            return fail("random_initial_vms: needs env: Serflow (an environment with VMs)".into());
        }
        if self.env != EnvKind::Serflow && self.ppo.credit != CreditMode::Joint {
            return fail(format!(
                "ppo.credit: {:?} needs env: Serflow (an environment with stages)",
                self.ppo.credit
            ));
        }
        if self.training_workload.is_some() {
            if self.env != EnvKind::Serflow {
                return fail("training_workload: needs env: Serflow (a serving scenario)".into());
            }
            if !self.traces.is_empty() {
                return fail("training_workload: give it or traces (--trace), not both".into());
            }
        }
        if !(1..=MAX_FRAME_STACK).contains(&self.frame_stack) {
            return fail(format!("frame_stack: must be 1 to {MAX_FRAME_STACK}, got {}", self.frame_stack));
        }
        if let Some(imitation) = &self.imitation {
            imitation.validate().map_err(Error::new)?;
            if self.env != EnvKind::Serflow {
                return fail("imitation: needs env: Serflow (an oracle to imitate)".into());
            }
        }
        if self.eval_episodes == 0 {
            return fail("eval_episodes: must be at least 1".into());
        }
        if let Some(l) = &self.lagrangian
            && !(l.initial >= 0.0 && l.lr >= 0.0 && l.initial.is_finite() && l.lr.is_finite())
        {
            return fail("lagrangian: initial and lr must be finite and >= 0".into());
        }
        if let Some(l) = &self.lagrangian
            && !(0.0..1.0).contains(&l.margin)
        {
            return fail(format!("lagrangian.margin: must lie in [0, 1), got {}", l.margin));
        }
        Ok(())
    }

    /// The evaluation seeds.
    pub fn eval_seeds(&self) -> Vec<u64> {
        (0..self.eval_episodes as u64).map(|i| self.eval_seed + i).collect()
    }
}

impl EnvKind {
    /// The names `--env` accepts, with their kinds.
    pub const NAMES: [(&str, EnvKind); 2] = [("serflow", EnvKind::Serflow), ("cartpole", EnvKind::Cartpole)];
}

impl FromStr for EnvKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, k)| *k)
            .ok_or_else(|| Error::new(format!("unknown environment `{s}` (serflow or cartpole)")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_training_workload_needs_a_serving_run_without_traces() {
        let workload: WorkloadConfig = ron::from_str("Poisson(rate: Constant(5.0))").unwrap();
        let mut serving = TrainConfig::default_for(EnvKind::Serflow);
        serving.training_workload = Some(workload.clone());
        serving.validate().unwrap();
        serving.traces = vec!["a.txt".into()];
        let err = serving.validate().unwrap_err().to_string();
        assert!(err.contains("training_workload") && err.contains("not both"), "{err}");
        let mut cartpole = TrainConfig::default_for(EnvKind::Cartpole);
        cartpole.training_workload = Some(workload);
        assert!(cartpole.validate().unwrap_err().to_string().contains("training_workload"));
    }

    #[test]
    fn embedded_configs_parse_and_validate() {
        for (_, env) in EnvKind::NAMES {
            TrainConfig::default_for(env).validate().unwrap();
        }
        let imitation: TrainConfig =
            ron::from_str(include_str!("../configs/production-imitation.ron")).unwrap();
        imitation.validate().unwrap();
        assert!(imitation.imitation.is_some());
    }

    #[test]
    fn imitation_is_refused_where_it_cannot_run_and_out_of_range_by_name() {
        let good = ImitationConfig {
            rounds: 2,
            episodes_per_round: 2,
            epochs: 1,
            minibatch_size: 8,
            learning_rate: 1e-3,
            teacher_decay: 0.5,
        };
        let with = |imitation: ImitationConfig, env: EnvKind, frame_stack: usize| TrainConfig {
            imitation: Some(imitation),
            frame_stack,
            ..TrainConfig::default_for(env)
        };
        with(good.clone(), EnvKind::Serflow, 1).validate().unwrap();
        let refused = |config: TrainConfig| config.validate().unwrap_err().to_string();
        assert!(refused(with(good.clone(), EnvKind::Cartpole, 1)).contains("imitation: needs env: Serflow"));
        with(good.clone(), EnvKind::Serflow, 4).validate().unwrap();
        let bad = [
            (ImitationConfig { rounds: 0, ..good.clone() }, "imitation.rounds"),
            (ImitationConfig { minibatch_size: 0, ..good.clone() }, "imitation.minibatch_size"),
            (ImitationConfig { learning_rate: f64::NAN, ..good.clone() }, "imitation.learning_rate"),
            (ImitationConfig { teacher_decay: 1.5, ..good.clone() }, "imitation.teacher_decay"),
        ];
        for (imitation, field) in bad {
            assert!(refused(with(imitation, EnvKind::Serflow, 1)).contains(field), "{field}");
        }
    }

    #[test]
    fn every_scenario_of_the_main_job_has_its_own_embedded_config() {
        for scenario in MAIN_JOB_SCENARIOS {
            let config = TrainConfig::embedded_for_scenario(scenario);
            config.validate().unwrap();
            assert_eq!(config.scenario, scenario);
        }
        assert_eq!(TrainConfig::embedded_for_scenario("default"), TrainConfig::default_for(EnvKind::Serflow));
        assert_eq!(TrainConfig::embedded_for_scenario("production").ppo.total_timesteps, 120_960);
        // Another scenario trains on the default recipe under its own workload (default's training
        // workload is made for default's scale).
        let own = TrainConfig::embedded_for_scenario("mine.ron");
        let default = TrainConfig::default_for(EnvKind::Serflow);
        assert!(default.training_workload.is_some() && default.imitation.is_some());
        assert_eq!(own, TrainConfig { scenario: "mine.ron".into(), training_workload: None, ..default });
    }

    #[test]
    fn frame_stacks_outside_one_to_the_runtimes_limit_are_refused_by_name() {
        let mut config = TrainConfig::default_for(EnvKind::Serflow);
        for bad in [0, MAX_FRAME_STACK + 1] {
            config.frame_stack = bad;
            assert!(config.validate().unwrap_err().to_string().starts_with("frame_stack"), "{bad}");
        }
        config.frame_stack = 1;
        assert!(!ron::to_string(&config).unwrap().contains("frame_stack"), "one frame is saved as before");
    }

    #[test]
    fn a_margin_outside_zero_to_one_is_refused_by_name() {
        let mut config = TrainConfig::default_for(EnvKind::Serflow);
        config.lagrangian = Some(LagrangianConfig { initial: 0.0, lr: 1.0, margin: 1.5 });
        assert!(config.validate().unwrap_err().to_string().starts_with("lagrangian.margin"));
    }

    #[test]
    fn the_multiplier_aims_at_the_target_plus_the_margin() {
        let l = LagrangianConfig { initial: 0.0, lr: 100.0, margin: 0.002 };
        // 0.9 % violations meet a 99 % target but not 99.2 %: the multiplier grows.
        assert!((l.update(1.0, 0.009, 0.99) - 1.1).abs() < 1e-9);
        assert!((l.update(1.0, 0.007, 0.99) - 0.9).abs() < 1e-9);
        assert_eq!(l.update(0.0, 0.0, 0.99), 0.0);
        let no_margin = LagrangianConfig { margin: 0.0, ..l };
        assert!((no_margin.update(1.0, 0.009, 0.99) - 0.9).abs() < 1e-9);
    }

    #[test]
    fn environment_names_parse() {
        assert_eq!("cartpole".parse::<EnvKind>().unwrap(), EnvKind::Cartpole);
        assert!("pong".parse::<EnvKind>().unwrap_err().to_string().contains("pong"));
    }
}
