//! The Gymnasium-style contract, stated once, and the serving environment built on the simulator.
//!
//! Semantics (Gymnasium 1.x, `gymnasium/core.py`):
//! - [`Env::reset`]`(seed)` starts a new episode whose every random draw derives from `seed`: the same
//!   seed gives a bit-identical episode for the same sequence of actions.
//! - [`Env::step`] applies one action and returns a [`Step`]: the next observation; the reward for the
//!   transition; `terminated`, true when the MDP reached a terminal state (no bootstrapping past it);
//!   `truncated`, true when the episode was cut by a condition outside the MDP, such as the time
//!   horizon (the value of the final observation should be bootstrapped); and `info`, diagnostics that
//!   are not part of the observation.
//! - Calling `step` after `terminated` or `truncated` without `reset` is a logic error of the caller.

use crate::expert::{Expert, ExpertModel};
use crate::metrics::EpisodeReport;
use crate::profile::profile;
use crate::rng::{SimRng, Stream};
use crate::scenario::Scenario;
use crate::sim::{IntervalReport, Simulator};
use serflow_policies::schema::{DecodeMemory, feature_names};
use serflow_policies::{Action, ActionSet};
use std::sync::Arc;

/// A box of `f32` values with per-dimension bounds (infinite when unbounded).
#[derive(Clone, Debug, PartialEq)]
pub struct BoxSpace {
    /// Lower bounds.
    pub low: Vec<f32>,
    /// Upper bounds.
    pub high: Vec<f32>,
}

impl BoxSpace {
    /// Dimensions.
    pub fn dim(&self) -> usize {
        self.low.len()
    }

    /// True if `x` has the right length and lies within the bounds.
    pub fn contains(&self, x: &[f32]) -> bool {
        x.len() == self.dim()
            && x.iter().zip(&self.low).zip(&self.high).all(|((v, lo), hi)| lo <= v && v <= hi)
    }
}

/// Several independent discrete choices; choice i takes values `0..nvec[i]`. `Discrete(n)` is the
/// special case `nvec = [n]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultiDiscrete {
    /// Choices per dimension.
    pub nvec: Vec<usize>,
}

impl MultiDiscrete {
    /// `Discrete(n)`.
    pub fn discrete(n: usize) -> Self {
        Self { nvec: vec![n] }
    }

    /// Total logits a policy head needs (sum of `nvec`).
    pub fn total_choices(&self) -> usize {
        self.nvec.iter().sum()
    }

    /// True if `a` picks a valid value in every dimension.
    pub fn contains(&self, a: &[usize]) -> bool {
        a.len() == self.nvec.len() && a.iter().zip(&self.nvec).all(|(v, n)| v < n)
    }
}

/// The result of one [`Env::step`].
#[derive(Clone, Debug, PartialEq)]
pub struct Step<I> {
    /// Observation after the step.
    pub obs: Vec<f32>,
    /// Reward for the transition.
    pub reward: f32,
    /// The MDP reached a terminal state.
    pub terminated: bool,
    /// The episode was cut short (time limit); bootstrap from `obs`.
    pub truncated: bool,
    /// Diagnostics.
    pub info: I,
}

/// A reinforcement-learning environment with a multi-discrete action space and an action mask.
pub trait Env: Send {
    /// Per-step diagnostics.
    type Info: Clone + Send + Default;

    /// The observation space.
    fn observation_space(&self) -> BoxSpace;

    /// The action space.
    fn action_space(&self) -> MultiDiscrete;

    /// Starts an episode seeded with `seed`; returns the first observation.
    fn reset(&mut self, seed: u64) -> (Vec<f32>, Self::Info);

    /// Applies `action` (one index per dimension of the action space).
    fn step(&mut self, action: &[usize]) -> Step<Self::Info>;

    /// Writes which choices are allowed now, laid out like concatenated logits (`total_choices`).
    fn action_mask(&self, mask: &mut [bool]) {
        mask.fill(true);
    }
}

/// The staged VM/FaaS system as an [`Env`].
///
/// - Observation: the named feature vector of `serflow_policies::schema` (raw units; normalise in
///   the agent).
/// - Action: per stage, a VM choice (a change of the count, or a multiple of the stage's need: see
///   [`ActionSet`]) and an index into `action_set.vm_shares`. The mask forbids changes that leave
///   `[0, vm.max_per_stage]`.
/// - Reward: `-(interval cost)/reward.cost_scale - reward.violation_penalty x violations/finished`.
/// - Episode end: reaching `horizon_s` (Truncation). There is no terminal state.
/// - Start: the scenario's initial VMs, or random counts ([`ServingEnv::with_random_initial_vms`]).
pub struct ServingEnv {
    scenario: Arc<Scenario>,
    action_set: ActionSet,
    max_vms: Vec<u32>,
    initial_vms_up_to: Option<u32>,
    sim: Simulator,
    action: Action,
    /// What decoding the action set remembers within an episode.
    memory: DecodeMemory,
    /// The oracle projected onto the action set, when asked for ([`ServingEnv::with_expert`]).
    expert: Option<Box<Expert>>,
}

/// A learner's action set as a training config (or the Python builders) states it, before the
/// scenario's profile gives needs and offers their units. Each field is the [`ActionSet`]'s of the
/// same name, but `vm_offer_slo_capacity`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ActionChoices {
    /// Need multiples (empty: VM-count changes of -2..=2).
    pub vm_need_multiples: Vec<f32>,
    /// VM shares (empty: 0, 0.25, 0.5, 0.75, 1).
    pub vm_shares: Vec<f32>,
    /// Scale-in tolerance of need-relative targets.
    pub vm_scale_in_tolerance: f32,
    /// Forecast leads of the need, in control intervals.
    pub vm_need_leads: Vec<f32>,
    /// Offer each ready VM at most its SLO-feasible capacity (the profile's), FaaS taking the rest.
    pub vm_offer_slo_capacity: bool,
    /// Decisions a scale-in waits out.
    pub vm_scale_in_window: u32,
}

/// The action set a learner picks from on `scenario`: VM changes (`vm_need_multiples` empty) or
/// need-relative VM targets whose unit of need is each stage's busy-VM throughput from the scenario's
/// profile; `vm_shares` replaces the default shares when given. `Err` names the bad field.
pub fn action_set_for(scenario: &Scenario, choices: &ActionChoices) -> Result<ActionSet, String> {
    let stages = profile(scenario).stages;
    let mut set = if choices.vm_need_multiples.is_empty() {
        ActionSet { vm_scale_in_tolerance: choices.vm_scale_in_tolerance, ..ActionSet::default() }
    } else {
        let capacity = stages.iter().map(|s| s.vm_throughput_rps as f32).collect();
        ActionSet::need_relative(choices.vm_need_multiples.clone(), capacity, choices.vm_scale_in_tolerance)
    };
    set.vm_need_leads = choices.vm_need_leads.clone();
    set.vm_scale_in_window = choices.vm_scale_in_window;
    if choices.vm_offer_slo_capacity {
        set.vm_offer_limit_rps = stages.iter().map(|s| s.vm_slo_capacity_rps as f32).collect();
    }
    if !choices.vm_shares.is_empty() {
        set.vm_shares = choices.vm_shares.clone();
    }
    set.check(scenario.n_stages()).map(|()| set)
}

impl ActionChoices {
    /// The choices that give `set` back through [`action_set_for`] on the scenario it was made for:
    /// how to build an environment that steps in a learned policy's action set. `Err` when `set`
    /// changes VM counts by other steps than the default -2..=2, which no environment option gives.
    pub fn of(set: &ActionSet) -> Result<Self, String> {
        if !set.is_need_relative() && set.vm_deltas != ActionSet::default().vm_deltas {
            return Err(format!(
                "action_set.vm_deltas: {:?} is not an environment option (only -2..=2 or vm_need_multiples)",
                set.vm_deltas
            ));
        }
        Ok(Self {
            vm_need_multiples: set.vm_need_multiples.clone(),
            vm_shares: set.vm_shares.clone(),
            vm_scale_in_tolerance: set.vm_scale_in_tolerance,
            vm_need_leads: set.vm_need_leads.clone(),
            vm_offer_slo_capacity: !set.vm_offer_limit_rps.is_empty(),
            vm_scale_in_window: set.vm_scale_in_window,
        })
    }
}

impl ServingEnv {
    /// An environment over `scenario` with the default action set.
    pub fn new(scenario: Arc<Scenario>) -> Self {
        let sim = Simulator::new(scenario.clone(), 0);
        let max_vms = vec![scenario.config.vm.max_per_stage; scenario.n_stages()];
        let action = Action::faas_only(scenario.n_stages());
        let action_set = ActionSet::default();
        let memory = DecodeMemory::new(&action_set, scenario.n_stages());
        Self { scenario, action_set, max_vms, initial_vms_up_to: None, sim, action, memory, expert: None }
    }

    /// Starts every episode from `0..=up_to` ready VMs per stage (uniform, drawn from the episode's
    /// seed) instead of the scenario's `vm.initial_per_stage`: training visits many VM counts from
    /// the first step instead of only those its exploration wanders to. Takes effect at the next
    /// reset.
    pub fn with_random_initial_vms(mut self, up_to: u32) -> Self {
        self.initial_vms_up_to = Some(up_to);
        self
    }

    /// Decides with `set` instead of the default VM changes (for example need-relative VM targets);
    /// `Err` says which field does not fit the scenario.
    pub fn with_action_set(mut self, set: ActionSet) -> Result<Self, String> {
        let n = self.scenario.n_stages();
        set.check(n)?;
        self.memory = DecodeMemory::new(&set, n);
        self.expert = self.expert.take().map(|expert| Box::new(Expert::new(expert.model(), &set, n)));
        self.action_set = set;
        Ok(self)
    }

    /// Plans the forecast oracle at every reset (a FaaS-only pass over the episode, as long as a
    /// FaaS-only `simulate`) and offers its decision for each observation as a choice of the action
    /// set: [`Self::expert_choice`]. `model` is [`ExpertModel::new`] of this scenario.
    pub fn with_expert(mut self, model: Arc<ExpertModel>) -> Self {
        self.expert = Some(Box::new(Expert::new(model, &self.action_set, self.scenario.n_stages())));
        self
    }

    /// Whether it was made [`Self::with_expert`].
    pub fn has_expert(&self) -> bool {
        self.expert.is_some()
    }

    /// The expert's choice for the latest observation (one index per action dimension, allowed by
    /// the mask): the oracle's decision projected onto the action set (the choices decoding nearest
    /// its VM targets, a target above winning a tie, and its share). `None` without
    /// [`Self::with_expert`] or before the first reset.
    pub fn expert_choice(&self) -> Option<&[usize]> {
        self.expert.as_ref().and_then(|e| e.choice())
    }

    fn ask_expert(&mut self) {
        if let Some(expert) = self.expert.as_mut() {
            expert.decide(&self.action_set, self.sim.observation(), &self.max_vms, &self.memory);
        }
    }

    /// The discrete action set.
    pub fn action_set(&self) -> &ActionSet {
        &self.action_set
    }

    /// Per-stage VM maxima.
    pub fn max_vms(&self) -> &[u32] {
        &self.max_vms
    }

    /// The simulator (for reports at the end of an episode).
    pub fn simulator(&self) -> &Simulator {
        &self.sim
    }

    /// The scenario simulated.
    pub fn scenario(&self) -> &Arc<Scenario> {
        &self.scenario
    }

    /// Ends the episode as [`crate::run_episode`] does (requests in flight complete and are billed)
    /// and returns its report under the policy name `policy`; reset before stepping again.
    pub fn finish(&mut self, policy: &str) -> EpisodeReport {
        let ended = std::mem::replace(&mut self.sim, Simulator::new(self.scenario.clone(), 0));
        ended.finish(policy)
    }

    /// The reward the scenario defines for one interval's report (see [`crate::reward`]).
    pub fn reward(&self, report: &IntervalReport) -> f32 {
        let r = &self.scenario.config.reward;
        r.reward(report, r.violation_penalty)
    }
}

impl Env for ServingEnv {
    type Info = IntervalReport;

    /// Every feature but `rate_trend` is a count, rate, fraction, latency or cost: at least 0. The
    /// bounds are finite (the largest `f32`) so that Gymnasium's checker accepts the space.
    fn observation_space(&self) -> BoxSpace {
        let names = feature_names(self.scenario.n_stages());
        let low = names.iter().map(|n| if n == "rate_trend" { f32::MIN } else { 0.0 }).collect();
        BoxSpace { low, high: vec![f32::MAX; names.len()] }
    }

    fn action_space(&self) -> MultiDiscrete {
        MultiDiscrete { nvec: self.action_set.nvec(self.scenario.n_stages()) }
    }

    fn reset(&mut self, seed: u64) -> (Vec<f32>, IntervalReport) {
        self.memory.clear();
        self.sim = match self.initial_vms_up_to {
            None => Simulator::new(self.scenario.clone(), seed),
            Some(up_to) => {
                let mut rng = SimRng::new(seed, Stream::InitialState);
                let initial: Vec<u32> = (0..self.scenario.n_stages())
                    .map(|k| rng.below(u64::from(up_to.min(self.max_vms[k])) + 1) as u32)
                    .collect();
                Simulator::starting_with(self.scenario.clone(), seed, &initial)
            }
        };
        if let Some(expert) = self.expert.as_mut() {
            expert.start(&self.scenario, seed);
        }
        self.ask_expert();
        (self.sim.observation().values().to_vec(), IntervalReport::default())
    }

    fn step(&mut self, action: &[usize]) -> Step<IntervalReport> {
        self.action_set.decode(
            action,
            self.sim.observation(),
            &self.max_vms,
            &mut self.memory,
            &mut self.action,
        );
        let info = self.sim.step(&self.action);
        self.ask_expert();
        Step {
            obs: self.sim.observation().values().to_vec(),
            reward: self.reward(&info),
            terminated: false,
            truncated: self.sim.at_horizon(),
            info,
        }
    }

    fn action_mask(&self, mask: &mut [bool]) {
        self.action_set.mask(self.sim.observation(), &self.max_vms, mask);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_env() -> ServingEnv {
        env_lasting(60.0)
    }

    /// `default`, cut to `horizon_s`.
    fn env_lasting(horizon_s: f64) -> ServingEnv {
        let mut cfg = crate::scenario::parse("t", crate::scenario::BUILTINS[0].1).unwrap();
        cfg.horizon_s = horizon_s;
        let s = Scenario::from_config(
            cfg,
            "t",
            std::path::Path::new("."),
            crate::scenario::Horizon::AsConfigured,
        )
        .unwrap();
        ServingEnv::new(Arc::new(s))
    }

    #[test]
    fn seeding_rules_same_seed_same_episode_other_seed_other_episode() {
        let run = |seed| {
            let mut env = small_env();
            let (first, _) = env.reset(seed);
            let n = env.action_space().nvec.len();
            let mut out = vec![first];
            loop {
                let s = env.step(&vec![3; n]);
                out.push(s.obs);
                if s.truncated || s.terminated {
                    return out;
                }
            }
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn a_forecasting_action_set_replays_an_episode_after_reset() {
        let mut env = small_env();
        let choices = ActionChoices {
            vm_need_multiples: vec![8.0],
            vm_need_leads: vec![6.0],
            vm_offer_slo_capacity: true,
            vm_scale_in_window: 3,
            ..ActionChoices::default()
        };
        let set = action_set_for(env.scenario(), &choices).unwrap();
        assert_eq!(set.vm_offer_limit_rps.len(), 4, "the profile's SLO capacity per stage");
        env = env.with_action_set(set).unwrap();
        let mut run = |seed| {
            env.reset(seed);
            let n = env.action_space().nvec.len();
            (0..6).map(|_| env.step(&vec![1; n]).obs).collect::<Vec<_>>()
        };
        let first = run(3);
        run(4);
        assert_eq!(run(3), first);
    }

    #[test]
    fn action_choices_rebuild_a_set_and_refuse_vm_steps_no_option_gives() {
        let env = small_env();
        let default = action_set_for(env.scenario(), &ActionChoices::default()).unwrap();
        assert_eq!(action_set_for(env.scenario(), &ActionChoices::of(&default).unwrap()).unwrap(), default);
        let wide = ActionSet { vm_deltas: vec![-8, 0, 8], ..ActionSet::default() };
        let err = ActionChoices::of(&wide).unwrap_err();
        assert!(err.starts_with("action_set.vm_deltas: [-8, 0, 8]"), "{err}");
    }

    /// Whatever the policy asks (random VM targets, zero included, and shares), every request of
    /// the episode completes or fails: none is lost in a queue.
    #[test]
    fn random_actions_lose_no_request() {
        let mut env = env_lasting(600.0);
        // VMs offered everything at exactly the need: queues form, and the next choice may be zero.
        let choices = ActionChoices {
            vm_need_multiples: vec![0.0, 1.0],
            vm_shares: vec![1.0],
            ..ActionChoices::default()
        };
        let targets = action_set_for(env.scenario(), &choices).unwrap();
        let mut rng = SimRng::new(9, Stream::Training);
        for (episode, set) in [ActionSet::default(), targets].into_iter().cycle().take(16).enumerate() {
            env = env.with_action_set(set).unwrap();
            env.reset(episode as u64);
            let nvec = env.action_space().nvec;
            loop {
                let action: Vec<usize> = nvec.iter().map(|&n| rng.below(n as u64) as usize).collect();
                if env.step(&action).truncated {
                    break;
                }
            }
            let report = env.finish("random");
            let r = &report.requests;
            assert_eq!(r.completed + r.failed, r.total, "episode {episode}: {r:?}");
        }
    }

    #[test]
    fn horizon_truncates_never_terminates() {
        let mut env = small_env();
        env.reset(1);
        let n = env.action_space().nvec.len();
        let steps: Vec<_> = (0..6).map(|_| env.step(&vec![2; n])).collect();
        assert!(steps[..5].iter().all(|s| !s.truncated && !s.terminated));
        assert!(steps[5].truncated && !steps[5].terminated);
        assert!(env.observation_space().contains(&steps[5].obs));
    }

    #[test]
    fn random_initial_vms_are_bounded_seeded_and_varied() {
        let initial = |env: &mut ServingEnv, seed| {
            env.reset(seed);
            let obs = env.simulator().observation();
            (0..env.max_vms().len()).map(|k| obs.committed_vms(k)).collect::<Vec<u32>>()
        };
        let mut plain = small_env();
        assert_eq!(initial(&mut plain, 1), vec![2; 4]); // the scenario's vm.initial_per_stage
        let mut random = small_env().with_random_initial_vms(3);
        let starts: Vec<Vec<u32>> = (0..40).map(|seed| initial(&mut random, seed)).collect();
        assert!(starts.iter().flatten().all(|&n| n <= 3));
        for n in 0..=3 {
            assert!(starts.iter().flatten().any(|&c| c == n), "{n} VMs never drawn: {starts:?}");
        }
        assert_eq!(initial(&mut random, 7), starts[7], "same seed, same start");
    }
}
