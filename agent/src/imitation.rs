//! Imitation of the forecast oracle before PPO (DAgger: Ross, Gordon and Bagnell, AISTATS 2011).
//!
//! Why: from a prior equal to the best calibrated rule, PPO found no local gradient towards a better
//! rule (`checkpoints/production/report.md`), while the oracle, which knows every future arrival,
//! costs a third less. A student cannot see the future, but it can learn what the oracle does in the
//! situations its observation tells apart, from a label at every decision instead of one noisy
//! reward. Each round runs episodes in which a decision is the teacher's with probability
//! `teacher_decay^round` and the student's own otherwise (so the data covers the states the student
//! reaches, not only the oracle's), labels every decision with the choices of the run's action set
//! that come nearest the oracle's, and fits the actor to the aggregate of all rounds by maximising
//! the probability it gives those choices. The round whose student scores best on the selection
//! seeds is kept; PPO then starts from it.

use crate::adam::{Adam, clip_grad_norm};
use crate::export::policy_file;
use crate::frames::frames_read;
use crate::networks::{BurnMlp, matrix};
use crate::normalizer::ObsNormalizer;
use crate::task::{Evaluation, ImitationRun, ServingTask, TrainTask};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serflow_env::comparison::stage_arrivals;
use serflow_env::registry::PolicyRegistry;
use serflow_env::rng::{SimRng, Stream};
use serflow_env::run_episode;
use serflow_policies::learned::{Learned, LearnedPolicyFile};
use serflow_policies::mlp::Mlp;
use serflow_policies::policy::Policy;
use serflow_policies::schema::{Action, ActionSet, DecodeMemory, Observation};

/// How the actor imitates the oracle before PPO (`imitation:` in a training config).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImitationConfig {
    /// DAgger rounds: collect, label, fit, evaluate.
    pub rounds: usize,
    /// Episodes collected per round (training seeds, one after another over the rounds).
    pub episodes_per_round: usize,
    /// Passes over all data collected so far, per round.
    pub epochs: usize,
    /// Decisions per gradient step.
    pub minibatch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// The teacher makes a round's decisions with probability `teacher_decay^round` (1 in round 0).
    pub teacher_decay: f64,
}

impl ImitationConfig {
    /// Checks ranges; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("rounds", self.rounds),
            ("episodes_per_round", self.episodes_per_round),
            ("epochs", self.epochs),
            ("minibatch_size", self.minibatch_size),
        ] {
            if v == 0 {
                return Err(format!("imitation.{name}: must be at least 1"));
            }
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(format!("imitation.learning_rate: must be > 0, got {}", self.learning_rate));
        }
        if !(0.0..=1.0).contains(&self.teacher_decay) {
            return Err(format!("imitation.teacher_decay: must lie in [0, 1], got {}", self.teacher_decay));
        }
        Ok(())
    }

    /// The training seeds of round `round`'s episodes, after `first` (the run's seed).
    fn seeds(&self, first: u64, round: usize) -> Vec<u64> {
        let start = first + (round * self.episodes_per_round) as u64;
        (start..start + self.episodes_per_round as u64).collect()
    }
}

/// What one round measured (logged as `imitation/*` at the round's number).
#[derive(Clone, Debug, PartialEq)]
pub struct RoundReport {
    /// Decisions collected so far (all rounds).
    pub samples: usize,
    /// Fraction of this round's decisions where the student, before fitting, chose as the teacher
    /// would have in every action dimension.
    pub agreement: f64,
    /// Mean negative log-probability of the teacher's choices after fitting (last epoch).
    pub loss: f64,
    /// The selection-seed evaluation of the fitted student.
    pub metrics: Vec<(String, f64)>,
    /// Its score (higher is better).
    pub score: f64,
    /// Whether it missed the scenario's SLO attainment target there.
    pub below_target: bool,
}

/// A finished imitation phase: every round's report and the round whose student goes on.
#[derive(Clone, Debug, PartialEq)]
pub struct Imitated {
    /// One report per round.
    pub rounds: Vec<RoundReport>,
    /// The round (0-based) that scored best first: its student is left in the networks.
    pub kept: usize,
}

/// Decisions of one episode: raw observations, the choices allowed and the teacher's choices.
#[derive(Default)]
struct Collected {
    obs: Vec<f32>,
    allowed: Vec<bool>,
    labels: Vec<bool>,
    agreed: usize,
}

/// Acts as the teacher with probability `teacher_prob`, else as the student, and records every
/// decision with the teacher's choices.
struct Mixture {
    teacher: Box<dyn Policy>,
    student: Learned,
    set: ActionSet,
    max_vms: Vec<u32>,
    nvec: Vec<usize>,
    memory: DecodeMemory,
    teacher_prob: f64,
    rng: SimRng,
    teacher_action: Action,
    indices: Vec<usize>,
    collected: Collected,
}

impl Policy for Mixture {
    fn name(&self) -> &str {
        "dagger"
    }

    fn reset(&mut self) {
        self.teacher.reset();
        self.student.reset();
        self.memory.clear();
    }

    fn act(&mut self, obs: &Observation, action: &mut Action) {
        let n_logits: usize = self.nvec.iter().sum();
        let mut allowed = vec![false; n_logits];
        self.set.mask(obs, &self.max_vms, &mut allowed);
        self.teacher.act(obs, &mut self.teacher_action);
        let mut labels = vec![false; n_logits];
        self.set.nearest_choices(
            obs,
            &self.max_vms,
            &self.memory,
            &self.teacher_action,
            &allowed,
            &mut labels,
        );
        self.indices.copy_from_slice(self.student.choose(obs));
        let mut start = 0;
        let mut agrees = true;
        let by_teacher = self.rng.uniform() < self.teacher_prob;
        for (d, &n) in self.nvec.iter().enumerate() {
            let row = &labels[start..start + n];
            agrees &= row[self.indices[d]];
            if by_teacher {
                self.indices[d] = row.iter().position(|&l| l).unwrap_or(self.indices[d]);
            }
            start += n;
        }
        let c = &mut self.collected;
        c.obs.extend_from_slice(obs.values());
        c.allowed.extend_from_slice(&allowed);
        c.labels.extend_from_slice(&labels);
        c.agreed += usize::from(agrees);
        self.set.decode(&self.indices, obs, &self.max_vms, &mut self.memory, action);
    }
}

/// The data of all rounds so far: the actor's inputs (each decision's last `frame_stack`
/// normalised observations, oldest first, zeros before its episode's first, as the trainer and the
/// exported runtime stack them), the choices allowed and the teacher's.
struct Dataset {
    inputs: Vec<f32>,
    allowed: Vec<bool>,
    labels: Vec<bool>,
    features: usize,
    frame_stack: usize,
    n_logits: usize,
}

impl Dataset {
    fn input_dim(&self) -> usize {
        self.features * self.frame_stack
    }

    fn len(&self) -> usize {
        self.inputs.len() / self.input_dim()
    }

    /// Appends one episode's decisions, normalised by `norm`.
    fn append(&mut self, episode: Collected, norm: &ObsNormalizer) {
        let mut frames = vec![0.0f32; self.input_dim()];
        let newest = frames.len() - self.features;
        for raw in episode.obs.chunks(self.features) {
            frames.copy_within(self.features.., 0);
            norm.normalize(raw, &mut frames[newest..]);
            self.inputs.extend_from_slice(&frames);
        }
        self.allowed.extend(episode.allowed);
        self.labels.extend(episode.labels);
    }

    /// `0` where `flags` (of rows `rows`) is set, a large negative bias elsewhere.
    fn bias(&self, flags: &[bool], rows: &[usize]) -> Vec<f32> {
        let w = self.n_logits;
        rows.iter()
            .flat_map(|&i| flags[i * w..(i + 1) * w].iter().map(|&f| if f { 0.0 } else { -1e9 }))
            .collect()
    }
}

/// Runs `run.config`'s rounds on `task`: leaves in `run.nets` the student that scored best on the
/// selection seeds and returns every round's report with the round kept, or `None` when
/// `run.interrupted` stopped it between rounds (the networks and normaliser then hold a partly
/// fitted student).
pub fn run(task: &ServingTask, run: &mut ImitationRun<'_>) -> Result<Option<Imitated>, String> {
    let (cfg, seed, device) = (run.config, run.seed, run.device);
    let scenario = &task.scenario;
    // The teacher plans the training episodes, so on their scenario.
    let registry = PolicyRegistry::new(&task.training);
    let nvec = task.action_set.nvec(scenario.n_stages());
    let mut rng = SimRng::new(seed, Stream::Imitation);
    let frame_stack = frames_read(run.nets, run.norm);
    let mut data = Dataset {
        inputs: Vec::new(),
        allowed: Vec::new(),
        labels: Vec::new(),
        features: run.nets.actor.inputs() / frame_stack,
        frame_stack,
        n_logits: run.nets.actor.outputs(),
    };
    let lengths: Vec<usize> = run.nets.actor.tensors().iter().map(|t| t.len()).collect();
    let mut adam = Adam::new(&lengths, 1e-5);
    let mut reports = Vec::with_capacity(cfg.rounds);
    let mut best: Option<(usize, f64, Mlp)> = None;
    for round in 0..cfg.rounds {
        if (run.interrupted)() {
            return Ok(None);
        }
        let teacher_prob = cfg.teacher_decay.powi(round as i32);
        let student = policy_file(run.nets, run.norm, scenario, &task.action_set, String::new());
        let episodes = cfg
            .seeds(seed, round)
            .par_iter()
            .map(|&episode_seed| collect(task, &registry, &student, episode_seed, teacher_prob))
            .collect::<Result<Vec<Collected>, String>>()?;
        if round == 0 && run.fit_norm {
            let observations: Vec<f32> = episodes.iter().flat_map(|e| e.obs.iter().copied()).collect();
            run.norm.stats.update(&observations);
        }
        let decisions = episodes.iter().map(|e| e.labels.len()).sum::<usize>() / data.n_logits;
        let agreement = episodes.iter().map(|e| e.agreed).sum::<usize>() as f64 / decisions.max(1) as f64;
        for episode in episodes {
            data.append(episode, run.norm);
        }
        let mut loss = f64::NAN;
        let mut order: Vec<usize> = (0..data.len()).collect();
        for _ in 0..cfg.epochs {
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let (mut sum, mut seen) = (0.0, 0usize);
            for mb in order.chunks(cfg.minibatch_size) {
                let mean =
                    fit_step(&mut run.nets.actor, &mut adam, &data, mb, &nvec, cfg.learning_rate, device)?;
                sum += mean * mb.len() as f64;
                seen += mb.len();
            }
            loss = sum / seen.max(1) as f64;
        }
        let Evaluation { metrics, score } = task.evaluate(run.nets, run.norm, run.eval_seeds);
        if best.as_ref().is_none_or(|(_, b, _)| score > *b) {
            best = Some((round, score, run.nets.actor.clone()));
        }
        let attained = metrics.iter().find(|(name, _)| name == "slo_attainment").map(|(_, v)| *v);
        let below_target = attained.is_some_and(|a| a < scenario.config.slo.attainment_target);
        let report = RoundReport { samples: data.len(), agreement, loss, metrics, score, below_target };
        (run.on_round)(round, &report);
        reports.push(report);
    }
    let (kept, _, actor) = best.ok_or("imitation.rounds: must be at least 1")?;
    run.nets.actor = actor;
    Ok(Some(Imitated { rounds: reports, kept }))
}

/// One episode of `seed` under the teacher/student mixture.
fn collect(
    task: &ServingTask,
    registry: &PolicyRegistry<'_>,
    student: &LearnedPolicyFile,
    seed: u64,
    teacher_prob: f64,
) -> Result<Collected, String> {
    let scenario = &task.training;
    let arrivals = stage_arrivals(scenario, seed, &|| {});
    let teacher = registry.build_for_episode("oracle", &arrivals).map_err(|e| e.to_string())?;
    let max_vms = student.max_vms.clone();
    let student = Learned::new(student.clone())?;
    let n = scenario.n_stages();
    let nvec = task.action_set.nvec(n);
    let mut mixture = Mixture {
        teacher,
        student,
        set: task.action_set.clone(),
        max_vms,
        memory: DecodeMemory::new(&task.action_set, n),
        teacher_prob,
        rng: SimRng::new(seed, Stream::Imitation),
        teacher_action: Action::faas_only(n),
        indices: vec![0; nvec.len()],
        nvec,
        collected: Collected::default(),
    };
    run_episode(scenario, &mut mixture, seed, |_, _| {});
    Ok(mixture.collected)
}

/// One Adam step of `actor` towards the teacher's choices on rows `mb` of `data`: per action
/// dimension, the negative log of the probability the actor gives the teacher's choices (any of
/// them when several decode alike), among the allowed ones. Returns the minibatch's mean loss.
fn fit_step(
    actor: &mut Mlp,
    adam: &mut Adam,
    data: &Dataset,
    mb: &[usize],
    nvec: &[usize],
    lr: f64,
    device: &Device,
) -> Result<f64, String> {
    let width = data.input_dim();
    let inputs: Vec<f32> =
        mb.iter().flat_map(|&i| data.inputs[i * width..(i + 1) * width].iter().copied()).collect();
    let net = BurnMlp::new(actor, device, true);
    let logits = net.forward(matrix(inputs, width, device))
        + matrix(data.bias(&data.allowed, mb), data.n_logits, device);
    let labels = matrix(data.bias(&data.labels, mb), data.n_logits, device);
    let mut loss: Option<Tensor<1>> = None;
    let mut start = 0;
    for &choices in nvec {
        let logp = log_softmax(logits.clone().narrow(1, start, choices), 1);
        let on_labels = logp + labels.clone().narrow(1, start, choices);
        let peak = on_labels.clone().max_dim(1).detach();
        let log_mass = peak.clone() + (on_labels - peak).exp().sum_dim(1).log();
        let term = log_mass.mean().neg();
        loss = Some(match loss {
            Some(sum) => sum + term,
            None => term,
        });
        start += choices;
    }
    let loss = loss.ok_or("the action space has no dimension")?;
    let value = f64::from(loss.clone().detach().into_scalar::<f32>());
    if !value.is_finite() {
        return Err(format!(
            "imitation stopped: the loss became {value} (try a lower imitation.learning_rate)"
        ));
    }
    let mut grads = net.gradients(&loss.backward());
    clip_grad_norm(&mut grads, 1.0);
    adam.step(actor.tensors_mut(), &grads, lr);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_stack_each_episodes_normalised_observations_oldest_first_from_zeros() {
        let mut norm = ObsNormalizer::new(2);
        norm.stats.mean = vec![1.0, 0.0];
        norm.stats.var = vec![4.0, 1.0];
        let mut data = Dataset {
            inputs: Vec::new(),
            allowed: Vec::new(),
            labels: Vec::new(),
            features: 2,
            frame_stack: 2,
            n_logits: 1,
        };
        for obs in [vec![3.0, 1.0, 5.0, 2.0], vec![7.0, 3.0]] {
            let decisions = obs.len() / 2;
            let episode =
                Collected { obs, allowed: vec![true; decisions], labels: vec![true; decisions], agreed: 0 };
            data.append(episode, &norm);
        }
        assert_eq!(data.len(), 3);
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(&data.inputs[..4], &[0.0, 0.0, 1.0, 1.0]), "{:?}", data.inputs);
        assert!(close(&data.inputs[4..8], &[1.0, 1.0, 2.0, 2.0]), "{:?}", data.inputs);
        assert!(close(&data.inputs[8..], &[0.0, 0.0, 3.0, 3.0]), "a new episode starts from zeros");
    }
}
