//! What the trainer needs to know about an environment beyond [`Env`]: how to make one, how to
//! evaluate a policy on it deterministically, which reference lines to draw, and its SLO.

use crate::config::TrainConfig;
use crate::credit::{Credit, CreditMode};
use crate::error::{Error, Result};
use crate::export::policy_file;
use crate::frames::{FrameHistory, frames_read};
use crate::imitation::{Imitated, ImitationConfig, RoundReport};
use crate::networks::ActorCritic;
use crate::normalizer::ObsNormalizer;
use burn::prelude::Device;
use rayon::prelude::*;
use serflow_env::cartpole::CartPole;
use serflow_env::comparison::mean_cost_and_attainment;
use serflow_env::metrics::EpisodeReport;
use serflow_env::registry::PolicyRegistry;
use serflow_env::{ActionChoices, Env, IntervalReport, Scenario, ServingEnv, action_set_for, run_episode};
use serflow_policies::ActionSet;
use serflow_policies::learned::{Learned, masked_argmax};
use std::sync::Arc;

/// Domain measurements of one step, summed over an episode and logged under `env/`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DomainStep {
    /// Dollars.
    pub cost: f64,
    /// Requests finished.
    pub finished: u64,
    /// Of which SLO violations.
    pub violations: u64,
    /// Share of stage executions on FaaS.
    pub faas_share: f64,
    /// VM plus FaaS cold starts.
    pub cold_starts: u64,
}

/// Step information that may carry domain measurements.
pub trait Domain {
    /// The step's domain measurements, if the environment has any.
    fn domain(&self) -> Option<DomainStep>;
}

impl Domain for () {
    fn domain(&self) -> Option<DomainStep> {
        None
    }
}

impl Domain for IntervalReport {
    fn domain(&self) -> Option<DomainStep> {
        Some(DomainStep {
            cost: self.cost,
            finished: self.finished,
            violations: self.violations,
            faas_share: self.faas_share,
            cold_starts: self.vm_cold_starts + self.faas_cold_starts,
        })
    }
}

/// A deterministic evaluation: named metrics (logged as `eval/<name>`) and a score (higher is better)
/// that picks the best checkpoint.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evaluation {
    /// `(name, value)` pairs.
    pub metrics: Vec<(String, f64)>,
    /// Higher is better.
    pub score: f64,
}

/// An environment family the trainer can run.
pub trait TrainTask: Sync {
    /// The environment.
    type Env: Env<Info: Domain> + 'static;

    /// A fresh environment.
    fn make_env(&self) -> Self::Env;

    /// Evaluates the greedy policy of `nets` on `seeds`.
    fn evaluate(&self, nets: &ActorCritic, norm: &ObsNormalizer, seeds: &[u64]) -> Evaluation;

    /// Evaluations of the greedy policy on each workload of a workload distribution, named, run
    /// once at the end of training (how it fares per trace, not only on the mix); empty when the
    /// environment has one workload.
    fn evaluate_per_workload(
        &self,
        nets: &ActorCritic,
        norm: &ObsNormalizer,
        seeds: &[u64],
    ) -> Vec<(String, Evaluation)> {
        let _ = (nets, norm, seeds);
        Vec::new()
    }

    /// Reference metrics on the same seeds (logged beside the evaluation), computed once.
    fn reference(&self, seeds: &[u64]) -> Vec<(String, f64)>;

    /// `(fixed violation penalty, attainment target)` when the environment has an SLO.
    fn slo(&self) -> Option<(f64, f64)>;

    /// The credit assignment for `mode` over an action space of `dims` dimensions; `Err` says why
    /// the environment cannot split credit that way.
    fn credit(&self, mode: CreditMode, dims: usize) -> Result<Credit, String> {
        match mode {
            CreditMode::Joint => Ok(Credit::joint(dims)),
            CreditMode::PerStage => Err("ppo.credit: PerStage needs a serving environment".into()),
        }
    }

    /// Writes the training reward of one step, split as `credit` says, into `out` (one value per
    /// component). `violation_weight` replaces the environment's fixed SLO penalty (the Lagrange
    /// multiplier) when given.
    fn reward_parts(
        &self,
        reward: f32,
        info: &<Self::Env as Env>::Info,
        violation_weight: Option<f64>,
        credit: &Credit,
        out: &mut [f32],
    ) {
        let _ = (info, violation_weight, credit);
        out[0] = reward;
    }

    /// The action a controller takes when it knows nothing better, as indices; the actor can start
    /// biased towards it (see `ActorCriticConfig::default_action_prob`).
    fn default_action(&self) -> Option<Vec<usize>> {
        None
    }

    /// Fits `nets`' actor to an expert before PPO ([`crate::imitation`]): every round's report and
    /// the round kept, or `None` when `run.interrupted` said to stop between rounds; `Err` when
    /// the environment has none to imitate.
    fn imitate(&self, run: &mut ImitationRun<'_>) -> std::result::Result<Option<Imitated>, String> {
        let _ = run;
        Err("imitation: this environment has no expert to imitate".into())
    }
}

/// What one imitation phase works on and reports to.
pub struct ImitationRun<'a> {
    /// The phase's configuration.
    pub config: &'a ImitationConfig,
    /// The run's seed (round 0's first training episode).
    pub seed: u64,
    /// The networks whose actor is fitted.
    pub nets: &'a mut ActorCritic,
    /// The observation normaliser (fitted to round 0's observations when `fit_norm`).
    pub norm: &'a mut ObsNormalizer,
    /// Whether observations are normalised (`ppo.norm_obs`).
    pub fit_norm: bool,
    /// Selection seeds each round's student is evaluated on.
    pub eval_seeds: &'a [u64],
    /// Where the gradients are computed.
    pub device: &'a Device,
    /// Told of each round as it ends.
    pub on_round: &'a mut dyn FnMut(usize, &RoundReport),
    /// Asked before each round whether to stop (Ctrl-C).
    pub interrupted: &'a dyn Fn() -> bool,
}

/// CartPole-v1.
pub struct CartPoleTask;

impl TrainTask for CartPoleTask {
    type Env = CartPole;

    fn make_env(&self) -> CartPole {
        CartPole::default()
    }

    fn evaluate(&self, nets: &ActorCritic, norm: &ObsNormalizer, seeds: &[u64]) -> Evaluation {
        let returns: Vec<f64> = seeds.par_iter().map(|&seed| greedy_return(nets, norm, seed)).collect();
        let mean = returns.iter().sum::<f64>() / returns.len().max(1) as f64;
        Evaluation { metrics: vec![("episodic_return".into(), mean)], score: mean }
    }

    fn reference(&self, _seeds: &[u64]) -> Vec<(String, f64)> {
        Vec::new()
    }

    fn slo(&self) -> Option<(f64, f64)> {
        None
    }
}

/// One greedy CartPole episode's return.
pub fn greedy_return(nets: &ActorCritic, norm: &ObsNormalizer, seed: u64) -> f64 {
    let mut env = CartPole::default();
    let nvec = env.action_space().nvec;
    let (mut obs, _) = env.reset(seed);
    let mut normalized = vec![0.0; obs.len()];
    let mut frames = FrameHistory::new(1, obs.len(), frames_read(nets, norm));
    let mut input = vec![0.0; nets.actor.inputs()];
    let mut scratch = vec![0.0; 2 * nets.actor.max_width()];
    let mut logits = vec![0.0; nets.actor.outputs()];
    let mask = vec![true; logits.len()];
    let mut action = vec![0; nvec.len()];
    let mut total = 0.0;
    loop {
        norm.normalize(&obs, &mut normalized);
        frames.stack(0, &normalized, &mut input);
        frames.push(0, &normalized);
        nets.actor.forward(&input, &mut scratch, &mut logits);
        masked_argmax(&logits, &mask, &nvec, &mut action);
        let step = env.step(&action);
        total += f64::from(step.reward);
        if step.terminated || step.truncated {
            return total;
        }
        obs = step.obs;
    }
}

/// The staged VM/FaaS system of one scenario.
pub struct ServingTask {
    /// The scenario policies are evaluated, selected and exported on.
    pub scenario: Arc<Scenario>,
    /// The scenario training episodes come from: `scenario`, or its system under the config's
    /// `training_workload`.
    pub training: Arc<Scenario>,
    /// Training episodes start with `0..=N` VMs per stage (`TrainConfig::random_initial_vms`).
    pub random_initial_vms: Option<u32>,
    /// What the actor's indices mean.
    pub action_set: ActionSet,
}

impl ServingTask {
    /// The task `config` trains for `scenario`, with episodes from `training` (the same system).
    pub fn new(scenario: Arc<Scenario>, training: Arc<Scenario>, config: &TrainConfig) -> Result<Self> {
        let action_set = action_set(&scenario, config)?;
        Ok(Self { scenario, training, random_initial_vms: config.random_initial_vms, action_set })
    }

    /// The greedy policy of `nets` on `scenario` (the task's own, or one workload of it).
    fn evaluate_on(
        &self,
        scenario: &Arc<Scenario>,
        nets: &ActorCritic,
        norm: &ObsNormalizer,
        seeds: &[u64],
    ) -> Evaluation {
        let file = policy_file(nets, norm, scenario, &self.action_set, String::new());
        let reports: Vec<_> = seeds
            .par_iter()
            .map(|&seed| {
                let mut policy =
                    Learned::new(file.clone()).expect("the trainer's own networks fit the schema");
                run_episode(scenario, &mut policy, seed, |_, _| {})
            })
            .collect();
        let means = EpisodeMeans::of(&reports);
        // Cheapest wins among policies at the target; below it, every 0.1 % of attainment short
        // outweighs a dollar.
        let shortfall = (scenario.config.slo.attainment_target - means.slo_attainment).max(0.0);
        Evaluation { metrics: means.metrics(""), score: -means.cost - 1e3 * shortfall }
    }
}

/// The action set of a run: VM changes when `config.vm_need_multiples` is empty, else VM targets as
/// those multiples of each stage's need, in units of one VM's throughput (the scenario's profile);
/// `config.vm_shares` when given.
pub fn action_set(scenario: &Scenario, config: &TrainConfig) -> Result<ActionSet> {
    // The config's fields are the set's, named without the prefix.
    let choices = ActionChoices {
        vm_need_multiples: config.vm_need_multiples.clone(),
        vm_shares: config.vm_shares.clone(),
        vm_scale_in_tolerance: config.vm_scale_in_tolerance,
        vm_need_leads: config.vm_need_leads.clone(),
        vm_offer_slo_capacity: config.vm_offer_slo_capacity,
        vm_scale_in_window: config.vm_scale_in_window,
    };
    action_set_for(scenario, &choices).map_err(|e| Error::new(e.replace("action_set.", "")))
}

/// Means over evaluation episodes of the serving environment: what `eval/*` logs.
#[derive(Clone, Copy, Debug, PartialEq)]
struct EpisodeMeans {
    cost: f64,
    slo_attainment: f64,
    p99_ms: f64,
    vm_hours: f64,
    faas_share: f64,
}

impl EpisodeMeans {
    fn of(reports: &[EpisodeReport]) -> Self {
        let n = reports.len().max(1) as f64;
        let mean = |f: &dyn Fn(&EpisodeReport) -> f64| reports.iter().map(f).sum::<f64>() / n;
        let (cost, slo_attainment) = mean_cost_and_attainment(&reports.iter().collect::<Vec<_>>());
        Self {
            cost,
            slo_attainment,
            p99_ms: mean(&|r| r.slo.p99_ms),
            vm_hours: mean(&|r| r.vm_seconds / 3600.0),
            faas_share: mean(&|r| {
                r.invocations.faas as f64 / (r.invocations.faas + r.invocations.vm).max(1) as f64
            }),
        }
    }

    fn metrics(&self, prefix: &str) -> Vec<(String, f64)> {
        [
            ("cost", self.cost),
            ("slo_attainment", self.slo_attainment),
            ("p99_ms", self.p99_ms),
            ("vm_hours", self.vm_hours),
            ("faas_share", self.faas_share),
        ]
        .into_iter()
        .map(|(name, value)| (format!("{prefix}{name}"), value))
        .collect()
    }
}

impl TrainTask for ServingTask {
    type Env = ServingEnv;

    fn make_env(&self) -> ServingEnv {
        let env = ServingEnv::new(self.training.clone())
            .with_action_set(self.action_set.clone())
            .expect("checked when the task was made");
        match self.random_initial_vms {
            Some(up_to) => env.with_random_initial_vms(up_to),
            None => env,
        }
    }

    fn evaluate(&self, nets: &ActorCritic, norm: &ObsNormalizer, seeds: &[u64]) -> Evaluation {
        self.evaluate_on(&self.scenario, nets, norm, seeds)
    }

    fn evaluate_per_workload(
        &self,
        nets: &ActorCritic,
        norm: &ObsNormalizer,
        seeds: &[u64],
    ) -> Vec<(String, Evaluation)> {
        let components = self.scenario.mixture_components();
        components
            .into_iter()
            .map(|(name, part)| (name, self.evaluate_on(&part, nets, norm, seeds)))
            .collect()
    }

    fn reference(&self, seeds: &[u64]) -> Vec<(String, f64)> {
        let registry = PolicyRegistry::new(&self.scenario);
        let reports =
            serflow_env::comparison::run_policy(&self.scenario, &registry, "serflow", seeds, &[], &|| {})
                .expect("serflow is a built-in policy");
        EpisodeMeans::of(&reports).metrics("heuristic_")
    }

    fn slo(&self) -> Option<(f64, f64)> {
        let c = &self.scenario.config;
        Some((c.reward.violation_penalty, c.slo.attainment_target))
    }

    fn credit(&self, mode: CreditMode, dims: usize) -> Result<Credit, String> {
        match mode {
            CreditMode::Joint => Ok(Credit::joint(dims)),
            CreditMode::PerStage => {
                Ok(Credit::per_stage(self.scenario.n_stages(), dims / self.scenario.n_stages()))
            }
        }
    }

    /// Per stage: the stage's cost part, then the SLO part with `weight` (the parts of
    /// `serflow_env::reward`, which add up to the environment's reward). Joint: the reward with the
    /// multiplier in place of the fixed penalty.
    fn reward_parts(
        &self,
        _reward: f32,
        info: &IntervalReport,
        violation_weight: Option<f64>,
        credit: &Credit,
        out: &mut [f32],
    ) {
        let r = &self.scenario.config.reward;
        let weight = violation_weight.unwrap_or(r.violation_penalty);
        if credit.components == 1 {
            // With the fixed penalty this is the environment's own `reward`, bit for bit.
            out[0] = r.reward(info, weight);
            return;
        }
        for (o, &cost) in out.iter_mut().zip(&info.stage_costs) {
            *o = r.stage_part(cost);
        }
        out[credit.components - 1] = r.slo_part(info, weight);
    }

    fn imitate(&self, run: &mut ImitationRun<'_>) -> std::result::Result<Option<Imitated>, String> {
        crate::imitation::run(self, run)
    }

    /// Keep the VM count (or follow the need) and offer VMs all traffic (what VMs cannot take spills
    /// to FaaS).
    fn default_action(&self) -> Option<Vec<usize>> {
        Some(self.action_set.default_indices(self.scenario.n_stages()))
    }
}
