//! The training loop, in CleanRL's order: anneal the learning rate, roll out `num_steps` in every
//! environment, bootstrap and compute GAE, run the PPO update, log; evaluate and checkpoint on a
//! schedule.
//!
//! Everything that determines the future of a run lives in [`TrainState`]: parameters, Adam moments,
//! the learning-rate schedule position (iteration), the step counter, the random stream, the
//! normalisers, the stacked frames, the Lagrange multiplier and where every environment is (replayed
//! on resume). Saving it and loading it again continues the same curve, bit for bit.

use crate::adam::Adam;
use crate::checkpoint::{self, BEST, LATEST};
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::frames::FrameHistory;
use crate::imitation::RoundReport;
use crate::logging::RunLog;
use crate::networks::ActorCritic;
use crate::normalizer::{ObsNormalizer, RewardScaler};
use crate::plan::ResolvedScenario;
use crate::ppo::{self, NonFiniteLoss};
use crate::rollout::{BufferWidths, RolloutBuffer, compute_gae};
use crate::task::{Domain, DomainStep, ImitationRun, TrainTask};
use serde::{Deserialize, Serialize};
use serflow_env::metrics::{attainment, violation_rate};
use serflow_env::rng::{SimRng, Stream};
use serflow_env::{VecEnv, VecEnvState};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Per-environment bookkeeping of the episode in progress.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpisodeProgress {
    /// Sum of environment rewards.
    pub reward: f64,
    /// Steps.
    pub length: u64,
    /// Dollars.
    pub cost: f64,
    /// Requests finished.
    pub finished: u64,
    /// SLO violations.
    pub violations: u64,
    /// Sum of per-step FaaS shares.
    pub faas_share_sum: f64,
    /// Cold starts.
    pub cold_starts: u64,
}

impl EpisodeProgress {
    fn add(&mut self, reward: f32, domain: Option<DomainStep>) {
        self.reward += f64::from(reward);
        self.length += 1;
        if let Some(d) = domain {
            self.cost += d.cost;
            self.finished += d.finished;
            self.violations += d.violations;
            self.faas_share_sum += d.faas_share;
            self.cold_starts += d.cold_starts;
        }
    }
}

/// Everything a run needs to continue exactly where it stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// The run's configuration.
    pub config: TrainConfig,
    /// The scenario the serving environment trains on, resolved when the run started (none for
    /// CartPole): resuming and exporting use it instead of looking the names up again.
    pub scenario: Option<ResolvedScenario>,
    /// Name of the run (its log directory).
    pub run_name: String,
    /// TensorBoard directory of the run.
    pub log_dir: PathBuf,
    /// Where checkpoints go.
    pub checkpoint_dir: PathBuf,
    /// Completed PPO iterations (the learning-rate schedule position).
    pub iteration: u64,
    /// Environment steps taken (all environments).
    pub global_step: u64,
    /// The networks.
    pub nets: ActorCritic,
    /// The optimiser.
    pub adam: Adam,
    /// Observation statistics.
    pub obs_norm: ObsNormalizer,
    /// Reward statistics.
    pub reward_scaler: RewardScaler,
    /// Each environment's frames before its current observation (`config.frame_stack`; none for 1,
    /// and checkpoints written before stacking hold none).
    #[serde(default)]
    pub frames: FrameHistory,
    /// Sampling and shuffling stream.
    pub rng: SimRng,
    /// Current SLO-violation multiplier.
    pub lambda: f64,
    /// Where every environment is.
    pub envs: VecEnvState,
    /// Episodes in progress.
    pub episodes: Vec<EpisodeProgress>,
    /// Best evaluation score so far.
    pub best_score: Option<f64>,
    /// Whether the configured imitation phase has run (it runs once, before the first update).
    #[serde(default)]
    pub imitated: bool,
}

/// How a call to [`train`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The configured number of steps was reached.
    Finished,
    /// `stop_after` iterations were run (the run can be resumed).
    Paused,
    /// The interrupt flag was raised (Ctrl-C); a checkpoint was written.
    Interrupted,
}

/// What a run reports while it trains. The library prints nothing itself: the command line draws a
/// progress bar and eval lines from these calls.
pub trait TrainObserver {
    /// Training (re)starts at `global_step` of `total_steps`.
    fn started(&self, global_step: u64, total_steps: u64) {
        let _ = (global_step, total_steps);
    }

    /// `global_step` environment steps are done.
    fn stepped(&self, global_step: u64) {
        let _ = global_step;
    }

    /// An iteration ended; `last_return` is the return of the latest finished episode.
    fn iterated(&self, last_return: f64) {
        let _ = last_return;
    }

    /// A deterministic evaluation at `step` gave `metrics`.
    fn evaluated(&self, step: u64, metrics: &[(String, f64)]) {
        let _ = (step, metrics);
    }

    /// Imitation round `round` (0-based) ended with `report`.
    fn imitated(&self, round: usize, report: &RoundReport) {
        let _ = (round, report);
    }

    /// Imitation ended with `rounds`; the student of round `kept` (0-based) goes on.
    fn imitation_ended(&self, kept: usize, rounds: &[RoundReport]) {
        let _ = (kept, rounds);
    }

    /// The call to [`train`] is about to return.
    fn finished(&self) {}
}

/// Reports nothing.
pub struct Quiet;

impl TrainObserver for Quiet {}

/// Options of one call to [`train`] that are not part of the run itself.
pub struct TrainOptions<'a> {
    /// Stop (and checkpoint) after this many iterations in total.
    pub stop_after: Option<u64>,
    /// Raised by a signal handler to stop cleanly.
    pub interrupt: Arc<AtomicBool>,
    /// Told of progress and evaluations.
    pub observer: &'a dyn TrainObserver,
    /// Write TensorBoard files (off: keep the curve in memory only).
    pub tensorboard: bool,
}

/// The end of a call to [`train`].
pub struct TrainOutcome {
    /// The state at the end.
    pub state: TrainState,
    /// Why it ended.
    pub stop: Stop,
    /// Every scalar logged by this call.
    pub log: RunLog,
}

/// A fresh state for `config` (nothing trained yet; environments reset).
pub fn init_state<T: TrainTask>(
    task: &T,
    config: TrainConfig,
    scenario: Option<ResolvedScenario>,
    run_name: String,
    log_dir: PathBuf,
    checkpoint_dir: PathBuf,
) -> Result<TrainState> {
    config.validate()?;
    let mut venv = VecEnv::new((0..config.ppo.num_envs).map(|_| task.make_env()).collect());
    let obs_dim = venv.observation_space().dim();
    let nvec = venv.action_space().nvec;
    let credit = task.credit(config.ppo.credit, nvec.len()).map_err(Error::new)?;
    let mut rng = SimRng::new(config.seed, Stream::Training);
    let nets = config.ppo.network.init(
        obs_dim * config.frame_stack,
        &nvec,
        credit.components,
        task.default_action().as_deref(),
        &mut rng,
    );
    let adam = ppo::adam_for(&nets, config.ppo.adam_eps);
    let first_obs = venv.reset(config.seed);
    let mut obs_norm = ObsNormalizer::new(obs_dim);
    if config.ppo.norm_obs {
        obs_norm.stats.update(&first_obs);
    }
    Ok(TrainState {
        reward_scaler: RewardScaler::new(config.ppo.num_envs, config.ppo.gamma),
        frames: FrameHistory::new(config.ppo.num_envs, obs_dim, config.frame_stack),
        lambda: config.lagrangian.as_ref().map_or(0.0, |l| l.initial),
        envs: venv.state(),
        episodes: vec![EpisodeProgress::default(); config.ppo.num_envs],
        iteration: 0,
        global_step: 0,
        best_score: None,
        imitated: false,
        config,
        scenario,
        run_name,
        log_dir,
        checkpoint_dir,
        nets,
        adam,
        obs_norm,
        rng,
    })
}

/// Samples one action per dimension from masked logits into `out`, and its log-probability into
/// `logprobs`.
fn sample(
    logits: &[f32],
    mask: &[bool],
    nvec: &[usize],
    rng: &mut SimRng,
    out: &mut [usize],
    logprobs: &mut [f32],
) {
    let mut start = 0;
    for (d, &n) in nvec.iter().enumerate() {
        let seg = &logits[start..start + n];
        let allowed = &mask[start..start + n];
        let max =
            seg.iter().zip(allowed).filter(|(_, a)| **a).map(|(l, _)| *l).fold(f32::NEG_INFINITY, f32::max);
        let total: f32 = seg.iter().zip(allowed).filter(|(_, a)| **a).map(|(l, _)| (l - max).exp()).sum();
        let mut u = rng.uniform() as f32 * total;
        let mut choice = 0;
        for (i, (l, a)) in seg.iter().zip(allowed).enumerate() {
            if !*a {
                continue;
            }
            choice = i;
            u -= (l - max).exp();
            if u <= 0.0 {
                break;
            }
        }
        out[d] = choice;
        logprobs[d] = seg[choice] - max - total.ln();
        start += n;
    }
}

/// Runs (or continues) training until the step budget, `stop_after`, or an interrupt.
pub fn train<T: TrainTask>(
    task: &T,
    mut state: TrainState,
    options: &TrainOptions<'_>,
) -> Result<TrainOutcome> {
    let cfg = state.config.clone();
    let p = &cfg.ppo;
    let mut venv = VecEnv::new((0..p.num_envs).map(|_| task.make_env()).collect());
    let mut obs_raw = venv
        .restore(&state.envs)
        .ok_or_else(|| Error::new("checkpoint does not match the number of environments"))?;
    let obs_dim = venv.observation_space().dim();
    if !state.frames.fits(p.num_envs, obs_dim, cfg.frame_stack) {
        return Err(Error::new("checkpoint's stacked frames do not match its frame_stack and environments"));
    }
    let input_dim = obs_dim * cfg.frame_stack;
    let nvec = venv.action_space().nvec;
    let n_logits: usize = nvec.iter().sum();
    let dims = nvec.len();
    let credit = task.credit(p.credit, dims).map_err(Error::new)?;
    let components = credit.components;
    let groups = credit.groups.len();
    let device = cfg.backend.autodiff_device();
    let mut log =
        if options.tensorboard { RunLog::tensorboard(&state.log_dir)? } else { RunLog::in_memory() };
    let eval_seeds = cfg.eval_seeds();
    let reference = task.reference(&eval_seeds);
    let total_iterations = p.num_iterations();
    let observer = options.observer;
    observer.started(state.global_step, total_iterations * p.batch_size() as u64);

    if let Some(imitation) = cfg.imitation.as_ref().filter(|_| !state.imitated) {
        let before = (state.nets.clone(), state.obs_norm.clone());
        let mut on_round = |round: usize, report: &RoundReport| {
            let step = round as u64;
            log.scalar("imitation/agreement", report.agreement, step);
            log.scalar("imitation/loss", report.loss, step);
            log.scalar("imitation/samples", report.samples as f64, step);
            for (name, value) in &report.metrics {
                log.scalar(&format!("imitation/{name}"), *value, step);
            }
            observer.imitated(round, report);
        };
        let interrupted = || options.interrupt.load(Ordering::SeqCst);
        let outcome = task
            .imitate(&mut ImitationRun {
                config: imitation,
                seed: cfg.seed,
                nets: &mut state.nets,
                norm: &mut state.obs_norm,
                fit_norm: p.norm_obs,
                eval_seeds: &eval_seeds,
                device: &device,
                on_round: &mut on_round,
                interrupted: &interrupted,
            })
            .map_err(Error::new)?;
        let Some(imitated) = outcome else {
            // Resuming runs the whole phase again, from where it started.
            (state.nets, state.obs_norm) = before;
            checkpoint::save(&state, &state.checkpoint_dir, LATEST)?;
            observer.finished();
            log.flush();
            return Ok(TrainOutcome { state, stop: Stop::Interrupted, log });
        };
        state.imitated = true;
        state.best_score = Some(imitated.rounds[imitated.kept].score);
        observer.imitation_ended(imitated.kept, &imitated.rounds);
        checkpoint::save(&state, &state.checkpoint_dir, BEST)?;
        checkpoint::save(&state, &state.checkpoint_dir, LATEST)?;
        log.flush();
    }

    let widths = BufferWidths { obs_dim: input_dim, act_dims: dims, n_logits, components, groups };
    let mut buffer = RolloutBuffer::new(p.num_steps, p.num_envs, widths);
    let mut obs = vec![0.0f32; obs_raw.len()];
    let mut input = vec![0.0f32; input_dim];
    let mut final_obs_normalized = vec![0.0f32; obs_dim];
    let mut logits = vec![0.0f32; n_logits];
    let mut logprobs = vec![0.0f32; dims];
    let mut value = vec![0.0f32; components];
    let mut rewards = vec![0.0f32; p.num_envs * components];
    let mut scratch = vec![0.0f32; 2 * state.nets.actor.max_width().max(state.nets.critic.max_width())];
    let mut masks = vec![true; p.num_envs * n_logits];
    let mut actions: Vec<Vec<usize>> = vec![vec![0; dims]; p.num_envs];
    let started = Instant::now();
    let steps_at_start = state.global_step;
    let mut last_return = f64::NAN;
    let mut stop = Stop::Finished;

    while state.iteration < total_iterations {
        if options.stop_after.is_some_and(|n| state.iteration >= n) {
            stop = Stop::Paused;
            break;
        }
        if options.interrupt.load(Ordering::SeqCst) {
            stop = Stop::Interrupted;
            break;
        }
        let iteration = state.iteration + 1;
        let lr = p.learning_rate_at(iteration);
        let mut rollout_violations = 0u64;
        let mut rollout_finished = 0u64;
        for t in 0..p.num_steps {
            state.global_step += p.num_envs as u64;
            state.obs_norm.normalize(&obs_raw, &mut obs);
            venv.action_masks(&mut masks);
            for e in 0..p.num_envs {
                state.frames.stack(e, &obs[e * obs_dim..(e + 1) * obs_dim], &mut input);
                let mask = &masks[e * n_logits..(e + 1) * n_logits];
                state.nets.actor.forward(&input, &mut scratch, &mut logits);
                sample(&logits, mask, &nvec, &mut state.rng, &mut actions[e], &mut logprobs);
                let i = t * p.num_envs + e;
                state.nets.critic.forward(
                    &input,
                    &mut scratch,
                    &mut buffer.values[i * components..(i + 1) * components],
                );
                buffer.obs[i * input_dim..(i + 1) * input_dim].copy_from_slice(&input);
                buffer.masks[i * n_logits..(i + 1) * n_logits].copy_from_slice(mask);
                buffer.actions[i * dims..(i + 1) * dims].copy_from_slice(&actions[e]);
                credit.group_logprobs(&logprobs, &mut buffer.logprobs[i * groups..(i + 1) * groups]);
            }
            let step = venv.step(&actions);
            let dones: Vec<bool> =
                step.terminated.iter().zip(&step.truncated).map(|(a, b)| *a || *b).collect();
            let violation_weight = cfg.lagrangian.as_ref().map(|_| state.lambda);
            for (e, (info, episode)) in step.infos.iter().zip(state.episodes.iter_mut()).enumerate() {
                let domain = info.domain();
                if let Some(d) = domain {
                    rollout_violations += d.violations;
                    rollout_finished += d.finished;
                }
                episode.add(step.rewards[e], domain);
                let parts = &mut rewards[e * components..(e + 1) * components];
                task.reward_parts(step.rewards[e], info, violation_weight, &credit, parts);
            }
            if p.norm_reward {
                state.reward_scaler.scale(&mut rewards, components, &dones);
            }
            for e in 0..p.num_envs {
                let parts = &mut rewards[e * components..(e + 1) * components];
                state.frames.push(e, &obs[e * obs_dim..(e + 1) * obs_dim]);
                if let (true, false, Some(final_obs)) =
                    (step.truncated[e], step.terminated[e], &step.final_obs[e])
                {
                    state.obs_norm.normalize(final_obs, &mut final_obs_normalized);
                    state.frames.stack(e, &final_obs_normalized, &mut input);
                    state.nets.critic.forward(&input, &mut scratch, &mut value);
                    parts.iter_mut().zip(&value).for_each(|(r, v)| *r += p.gamma as f32 * v);
                }
                if dones[e] {
                    state.frames.clear(e);
                }
                let i = t * p.num_envs + e;
                buffer.rewards[i * components..(i + 1) * components].copy_from_slice(parts);
                buffer.dones[i] = dones[e];
                if dones[e] {
                    let ep = std::mem::take(&mut state.episodes[e]);
                    last_return = ep.reward;
                    log_episode(&mut log, &ep, state.global_step);
                }
            }
            obs_raw = step.obs;
            if p.norm_obs {
                state.obs_norm.stats.update(&obs_raw);
            }
            observer.stepped(state.global_step);
        }
        // Bootstrap from the observation after the last step.
        state.obs_norm.normalize(&obs_raw, &mut obs);
        let mut last_values = vec![0.0f32; p.num_envs * components];
        for (e, (row, out)) in obs.chunks(obs_dim).zip(last_values.chunks_mut(components)).enumerate() {
            state.frames.stack(e, row, &mut input);
            state.nets.critic.forward(&input, &mut scratch, out);
        }
        let (advantages, returns) = compute_gae(
            &buffer.rewards,
            &buffer.values,
            &buffer.dones,
            &last_values,
            p.gamma as f32,
            p.gae_lambda as f32,
        );
        let batch = ppo::Batch {
            buffer: &buffer,
            advantages: &advantages,
            returns: &returns,
            nvec: &nvec,
            credit: &credit,
        };
        let stats = match ppo::update(
            p,
            &mut state.nets,
            &mut state.adam,
            &batch,
            lr,
            &device,
            &mut state.rng,
        ) {
            Ok(stats) => stats,
            Err(NonFiniteLoss { what, value }) => {
                log.flush();
                observer.finished();
                return Err(Error::new(format!(
                    "training stopped at iteration {iteration} (step {}): the {what} became {value}; the last checkpoint in {} is intact (try a lower learning rate)",
                    state.global_step,
                    state.checkpoint_dir.display()
                )));
            }
        };
        if let (Some(l), Some((_, target))) = (&cfg.lagrangian, task.slo())
            && rollout_finished > 0
        {
            let rate = violation_rate(rollout_violations, rollout_finished);
            state.lambda = l.update(state.lambda, rate, target);
        }
        state.iteration = iteration;
        state.envs = venv.state();
        let step = state.global_step;
        let sps = (step - steps_at_start) as f64 / started.elapsed().as_secs_f64().max(1e-9);
        log.scalar("charts/learning_rate", lr, step);
        log.scalar("charts/SPS", sps, step);
        log.scalar("losses/value_loss", stats.value_loss, step);
        log.scalar("losses/policy_loss", stats.policy_loss, step);
        log.scalar("losses/entropy", stats.entropy, step);
        log.scalar("losses/old_approx_kl", stats.old_approx_kl, step);
        log.scalar("losses/approx_kl", stats.approx_kl, step);
        log.scalar("losses/clipfrac", stats.clipfrac, step);
        log.scalar("losses/explained_variance", stats.explained_variance, step);
        if cfg.lagrangian.is_some() {
            log.scalar("charts/lagrange_multiplier", state.lambda, step);
        }
        observer.iterated(last_return);

        let last = iteration == total_iterations;
        if last || (cfg.eval_every > 0 && iteration.is_multiple_of(cfg.eval_every)) {
            let eval = task.evaluate(&state.nets, &state.obs_norm, &eval_seeds);
            for (name, value) in eval.metrics.iter().chain(&reference) {
                log.scalar(&format!("eval/{name}"), *value, step);
            }
            observer.evaluated(step, &eval.metrics);
            if state.best_score.is_none_or(|b| eval.score > b) {
                state.best_score = Some(eval.score);
                checkpoint::save(&state, &state.checkpoint_dir, BEST)?;
            }
            if last {
                for (workload, eval) in task.evaluate_per_workload(&state.nets, &state.obs_norm, &eval_seeds)
                {
                    let named: Vec<_> =
                        eval.metrics.iter().map(|(name, v)| (format!("{workload}/{name}"), *v)).collect();
                    for (name, value) in &named {
                        log.scalar(&format!("eval/{name}"), *value, step);
                    }
                    observer.evaluated(step, &named);
                }
            }
        }
        if last || (cfg.checkpoint_every > 0 && iteration.is_multiple_of(cfg.checkpoint_every)) {
            checkpoint::save(&state, &state.checkpoint_dir, LATEST)?;
        }
        log.flush();
    }
    if stop != Stop::Finished {
        checkpoint::save(&state, &state.checkpoint_dir, LATEST)?;
    }
    observer.finished();
    log.flush();
    Ok(TrainOutcome { state, stop, log })
}

fn log_episode(log: &mut RunLog, ep: &EpisodeProgress, step: u64) {
    log.scalar("charts/episodic_return", ep.reward, step);
    log.scalar("charts/episodic_length", ep.length as f64, step);
    if ep.finished > 0 || ep.cost > 0.0 {
        log.scalar("env/cost", ep.cost, step);
        log.scalar("env/slo_attainment", attainment(ep.violations, ep.finished), step);
        log.scalar("env/faas_share", ep.faas_share_sum / ep.length.max(1) as f64, step);
        log.scalar("env/cold_starts", ep.cold_starts as f64, step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_respects_masks_and_returns_the_log_probability() {
        let mut rng = SimRng::new(1, Stream::Training);
        let logits = [0.0, 1.0, 2.0, 5.0, 5.0];
        let mask = [true, false, true, true, true];
        let mut out = [0, 0];
        let mut logprobs = [0.0; 2];
        let mut counts = [0usize; 3];
        for _ in 0..3000 {
            sample(&logits, &mask, &[3, 2], &mut rng, &mut out, &mut logprobs);
            let lp = logprobs[0] + logprobs[1];
            assert_ne!(out[0], 1, "masked choice sampled");
            counts[out[0]] += 1;
            let p0 = if out[0] == 0 { 1.0 / (1.0 + 2f32.exp()) } else { 2f32.exp() / (1.0 + 2f32.exp()) };
            assert!((lp - (p0 * 0.5).ln()).abs() < 1e-5);
        }
        let frac = counts[2] as f64 / 3000.0;
        assert!((frac - 0.8808).abs() < 0.03, "{frac}");
    }
}
