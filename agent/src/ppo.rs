//! PPO's configuration and update, in CleanRL's order (`cleanrl/ppo.py`): for each epoch, shuffle;
//! for each minibatch, recompute log-probabilities and values, clipped surrogate, clipped value loss,
//! entropy bonus, one gradient step with global norm clipping; stop early past `target_kl`.

use crate::adam::{Adam, clip_grad_norm};
use crate::credit::{Credit, CreditMode};
use crate::networks::{ActorCritic, ActorCriticConfig, BurnMlp, matrix};
use crate::rollout::RolloutBuffer;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};
use serflow_env::rng::SimRng;
use std::fmt;

/// PPO hyper-parameters, named as in CleanRL; defaults are CleanRL's `ppo.py` (CartPole) values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PpoConfig {
    /// Total environment steps of the run.
    pub total_timesteps: u64,
    /// Adam learning rate (the start value when annealed).
    pub learning_rate: f64,
    /// Parallel environments.
    pub num_envs: usize,
    /// Steps per environment per rollout.
    pub num_steps: usize,
    /// Anneal the learning rate linearly to 0 over the run.
    pub anneal_lr: bool,
    /// Discount factor.
    pub gamma: f64,
    /// GAE lambda.
    pub gae_lambda: f64,
    /// Minibatches per epoch.
    pub num_minibatches: usize,
    /// Epochs over each rollout.
    pub update_epochs: usize,
    /// Normalise advantages per minibatch.
    pub norm_adv: bool,
    /// Surrogate clipping coefficient.
    pub clip_coef: f64,
    /// Clip the value loss around the rollout values.
    pub clip_vloss: bool,
    /// Entropy bonus coefficient.
    pub ent_coef: f64,
    /// Value loss coefficient.
    pub vf_coef: f64,
    /// Global gradient-norm bound.
    pub max_grad_norm: f64,
    /// Stop the epochs of an update once the approximate KL exceeds this.
    pub target_kl: Option<f64>,
    /// Adam epsilon.
    pub adam_eps: f64,
    /// Normalise observations with running statistics (saved and exported).
    pub norm_obs: bool,
    /// Scale rewards by the running std of the discounted return (saved).
    pub norm_reward: bool,
    /// One advantage for the joint action, or per-stage credit (see [`crate::credit`]).
    pub credit: CreditMode,
    /// Network sizes and initialisation.
    pub network: ActorCriticConfig,
}

impl Default for PpoConfig {
    fn default() -> Self {
        Self {
            total_timesteps: 500_000,
            learning_rate: 2.5e-4,
            num_envs: 4,
            num_steps: 128,
            anneal_lr: true,
            gamma: 0.99,
            gae_lambda: 0.95,
            num_minibatches: 4,
            update_epochs: 4,
            norm_adv: true,
            clip_coef: 0.2,
            clip_vloss: true,
            ent_coef: 0.01,
            vf_coef: 0.5,
            max_grad_norm: 0.5,
            target_kl: None,
            adam_eps: 1e-5,
            norm_obs: false,
            norm_reward: false,
            credit: CreditMode::Joint,
            network: ActorCriticConfig::default(),
        }
    }
}

impl PpoConfig {
    /// Derived: transitions per rollout (`num_envs x num_steps`).
    pub fn batch_size(&self) -> usize {
        self.num_envs * self.num_steps
    }

    /// Derived: transitions per minibatch.
    pub fn minibatch_size(&self) -> usize {
        self.batch_size() / self.num_minibatches
    }

    /// Derived: rollouts in the run.
    pub fn num_iterations(&self) -> u64 {
        self.total_timesteps / self.batch_size() as u64
    }

    /// The learning rate for iteration `iteration` (1-based), annealed linearly if configured.
    pub fn learning_rate_at(&self, iteration: u64) -> f64 {
        if self.anneal_lr {
            let frac = 1.0 - (iteration as f64 - 1.0) / self.num_iterations().max(1) as f64;
            frac * self.learning_rate
        } else {
            self.learning_rate
        }
    }

    /// Checks ranges; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("learning_rate", self.learning_rate),
            ("clip_coef", self.clip_coef),
            ("max_grad_norm", self.max_grad_norm),
            ("adam_eps", self.adam_eps),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("ppo.{name}: must be > 0, got {v}"));
            }
        }
        for (name, v) in [("gamma", self.gamma), ("gae_lambda", self.gae_lambda)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("ppo.{name}: must be within [0, 1], got {v}"));
            }
        }
        for (name, v) in [("ent_coef", self.ent_coef), ("vf_coef", self.vf_coef)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("ppo.{name}: must be >= 0, got {v}"));
            }
        }
        for (name, v) in [
            ("num_envs", self.num_envs),
            ("num_steps", self.num_steps),
            ("num_minibatches", self.num_minibatches),
            ("update_epochs", self.update_epochs),
        ] {
            if v == 0 {
                return Err(format!("ppo.{name}: must be at least 1"));
            }
        }
        if !self.batch_size().is_multiple_of(self.num_minibatches) {
            return Err(format!(
                "ppo.num_minibatches: {} does not divide the batch of {} (num_envs x num_steps)",
                self.num_minibatches,
                self.batch_size()
            ));
        }
        if self.num_iterations() == 0 {
            return Err(format!(
                "ppo.total_timesteps: {} is less than one batch ({})",
                self.total_timesteps,
                self.batch_size()
            ));
        }
        if self.network.hidden.is_empty() || self.network.hidden.contains(&0) {
            return Err("ppo.network.hidden: needs at least one layer, each wider than 0".into());
        }
        Ok(())
    }
}

/// What one update measured (the `losses/*` curves).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateStats {
    /// Value loss of the last minibatch.
    pub value_loss: f64,
    /// Policy loss of the last minibatch.
    pub policy_loss: f64,
    /// Mean entropy of the last minibatch.
    pub entropy: f64,
    /// `mean(-logratio)` of the last minibatch.
    pub old_approx_kl: f64,
    /// `mean((ratio - 1) - logratio)` of the last minibatch.
    pub approx_kl: f64,
    /// Fraction of clipped ratios over all minibatches.
    pub clipfrac: f64,
    /// `1 - Var(returns - values) / Var(returns)` of the rollout.
    pub explained_variance: f64,
    /// Epochs run (fewer than configured after a KL early stop).
    pub epochs: usize,
}

/// The update produced a non-finite loss; the parameters were left as they were before that step.
#[derive(Clone, Debug, PartialEq)]
pub struct NonFiniteLoss {
    /// Which loss.
    pub what: &'static str,
    /// Its value.
    pub value: f64,
}

impl fmt::Display for NonFiniteLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {} became {} during the PPO update", self.what, self.value)
    }
}

impl std::error::Error for NonFiniteLoss {}

/// One rollout ready for the update.
pub struct Batch<'a> {
    /// The experience.
    pub buffer: &'a RolloutBuffer,
    /// GAE advantages, `[step][env][component]`.
    pub advantages: &'a [f32],
    /// Value targets, `[step][env][component]`.
    pub returns: &'a [f32],
    /// Choices per action dimension.
    pub nvec: &'a [usize],
    /// Which advantages each group of action dimensions is judged by.
    pub credit: &'a Credit,
}

/// One PPO update of `nets` (and `adam`) over `batch` at learning rate `lr`.
pub fn update(
    cfg: &PpoConfig,
    nets: &mut ActorCritic,
    adam: &mut Adam,
    batch: &Batch<'_>,
    lr: f64,
    device: &Device,
    rng: &mut SimRng,
) -> Result<UpdateStats, NonFiniteLoss> {
    let (buffer, returns) = (batch.buffer, batch.returns);
    let batch_len = buffer.len();
    let mb_size = cfg.minibatch_size();
    let mut inds: Vec<usize> = (0..batch_len).collect();
    let mut stats = UpdateStats::default();
    let (mut clipped, mut seen) = (0.0, 0.0);
    for epoch in 0..cfg.update_epochs {
        for i in (1..inds.len()).rev() {
            inds.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for mb in inds.chunks(mb_size) {
            let out = minibatch_step(cfg, nets, adam, batch, mb, lr, device)?;
            clipped += out.clipfrac * mb.len() as f64;
            seen += mb.len() as f64;
            stats.value_loss = out.value_loss;
            stats.policy_loss = out.policy_loss;
            stats.entropy = out.entropy;
            stats.old_approx_kl = out.old_approx_kl;
            stats.approx_kl = out.approx_kl;
        }
        stats.epochs = epoch + 1;
        if cfg.target_kl.is_some_and(|t| stats.approx_kl > t) {
            break;
        }
    }
    stats.clipfrac = clipped / seen.max(1.0);
    let total =
        |parts: &[f32]| -> Vec<f32> { parts.chunks(buffer.components).map(|c| c.iter().sum()).collect() };
    stats.explained_variance = explained_variance(&total(&buffer.values), &total(returns));
    Ok(stats)
}

/// `1 - Var(y - y_pred) / Var(y)` (NaN when the returns do not vary, as in CleanRL).
pub fn explained_variance(values: &[f32], returns: &[f32]) -> f64 {
    let var = |xs: &mut dyn Iterator<Item = f64>| {
        let v: Vec<f64> = xs.collect();
        let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len().max(1) as f64
    };
    let var_y = var(&mut returns.iter().map(|&r| f64::from(r)));
    let var_diff = var(&mut returns.iter().zip(values).map(|(&r, &v)| f64::from(r - v)));
    if var_y == 0.0 { f64::NAN } else { 1.0 - var_diff / var_y }
}

fn minibatch_step(
    cfg: &PpoConfig,
    nets: &mut ActorCritic,
    adam: &mut Adam,
    batch: &Batch<'_>,
    mb: &[usize],
    lr: f64,
    device: &Device,
) -> Result<UpdateStats, NonFiniteLoss> {
    let Batch { buffer, advantages, returns, nvec, credit } = *batch;
    let n = mb.len();
    let (obs_dim, n_logits, dims) = (buffer.obs_dim, buffer.n_logits, buffer.act_dims);
    let (components, groups) = (buffer.components, buffer.groups);
    let gather = |src: &[f32], width: usize| -> Vec<f32> {
        mb.iter().flat_map(|&i| src[i * width..(i + 1) * width].iter().copied()).collect()
    };
    let obs = gather(&buffer.obs, obs_dim);
    let mask_bias: Vec<f32> = mb
        .iter()
        .flat_map(|&i| {
            buffer.masks[i * n_logits..(i + 1) * n_logits].iter().map(|&m| if m { 0.0 } else { -1e9 })
        })
        .collect();
    // Each group's advantage (the sum of its components'), normalised per group over the minibatch.
    let mut adv = vec![0.0f32; n * groups];
    for (out, &i) in adv.chunks_mut(groups).zip(mb) {
        credit.group_advantages(&advantages[i * components..(i + 1) * components], out);
    }
    if cfg.norm_adv && n > 1 {
        for g in 0..groups {
            let column = || adv.iter().skip(g).step_by(groups).map(|&a| f64::from(a));
            let mean = column().sum::<f64>() / n as f64;
            let std = (column().map(|a| (a - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt();
            adv.iter_mut()
                .skip(g)
                .step_by(groups)
                .for_each(|a| *a = ((f64::from(*a) - mean) / (std + 1e-8)) as f32);
        }
    }

    let actor = BurnMlp::new(&nets.actor, device, true);
    let critic = BurnMlp::new(&nets.critic, device, true);
    let logits = actor.forward(matrix(obs.clone(), obs_dim, device)) + matrix(mask_bias, n_logits, device);
    let mut group_logprob: Vec<Option<Tensor<2>>> = vec![None; groups];
    let mut entropy = matrix(vec![0.0; n], 1, device);
    let mut start = 0;
    for ((d, &choices), &g) in nvec.iter().enumerate().zip(&credit.group_of_dims(dims)) {
        let logp = log_softmax(logits.clone().narrow(1, start, choices), 1);
        let chosen: Vec<i64> = mb.iter().map(|&i| buffer.actions[i * dims + d] as i64).collect();
        let idx = Tensor::<2, Int>::from_data(TensorData::new(chosen, [n, 1]), device);
        let chosen_logp = logp.clone().gather(1, idx);
        group_logprob[g] = Some(match group_logprob[g].take() {
            Some(sum) => sum + chosen_logp,
            None => chosen_logp,
        });
        entropy = entropy - (logp.clone().exp() * logp).sum_dim(1);
        start += choices;
    }
    let new_logprob =
        Tensor::cat(group_logprob.into_iter().map(|t| t.expect("every group has a dimension")).collect(), 1);
    // Per group: ratio and clipped surrogate; the KL early stop watches the joint ratio.
    let logratio = new_logprob - matrix(gather(&buffer.logprobs, groups), groups, device);
    let ratio = logratio.clone().exp();
    let adv = matrix(adv, groups, device);
    let pg_loss1 = adv.clone().neg() * ratio.clone();
    let pg_loss2 = adv.neg() * ratio.clone().clamp(1.0 - cfg.clip_coef, 1.0 + cfg.clip_coef);
    let pg_loss = pg_loss1.max_pair(pg_loss2).mean();
    let joint_logratio = logratio.clone().sum_dim(1);

    let new_value = critic.forward(matrix(obs, obs_dim, device));
    let returns = matrix(gather(returns, components), components, device);
    let v_loss = if cfg.clip_vloss {
        let old_values = matrix(gather(&buffer.values, components), components, device);
        let unclipped = (new_value.clone() - returns.clone()).powi_scalar(2);
        let clipped = old_values.clone() + (new_value - old_values).clamp(-cfg.clip_coef, cfg.clip_coef);
        unclipped.max_pair((clipped - returns).powi_scalar(2)).mean() * 0.5
    } else {
        (new_value - returns).powi_scalar(2).mean() * 0.5
    };
    let entropy_loss = entropy.mean();
    let loss = pg_loss.clone() - entropy_loss.clone() * cfg.ent_coef + v_loss.clone() * cfg.vf_coef;

    let scalar = |t: Tensor<1>| f64::from(t.detach().into_scalar::<f32>());
    let stats = UpdateStats {
        value_loss: scalar(v_loss),
        policy_loss: scalar(pg_loss),
        entropy: scalar(entropy_loss),
        old_approx_kl: scalar(joint_logratio.clone().neg().mean()),
        approx_kl: scalar(((joint_logratio.clone().exp() - 1.0) - joint_logratio).mean()),
        clipfrac: scalar((ratio - 1.0).abs().greater_elem(cfg.clip_coef).float().mean()),
        ..UpdateStats::default()
    };
    let loss_value = scalar(loss.clone());
    if !loss_value.is_finite() {
        return Err(NonFiniteLoss { what: "PPO loss", value: loss_value });
    }
    let grads = loss.backward();
    let mut all = actor.gradients(&grads);
    all.extend(critic.gradients(&grads));
    let norm = clip_grad_norm(&mut all, cfg.max_grad_norm);
    if !norm.is_finite() {
        return Err(NonFiniteLoss { what: "gradient norm", value: norm });
    }
    let mut params = nets.actor.tensors_mut();
    params.extend(nets.critic.tensors_mut());
    adam.step(params, &all, lr);
    Ok(stats)
}

/// Adam state for `nets`: actor tensors, then critic tensors.
pub fn adam_for(nets: &ActorCritic, eps: f64) -> Adam {
    let lengths: Vec<usize> =
        nets.actor.tensors().iter().chain(nets.critic.tensors().iter()).map(|t| t.len()).collect();
    Adam::new(&lengths, eps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_sizes_follow_the_config() {
        let c = PpoConfig::default();
        assert_eq!((c.batch_size(), c.minibatch_size(), c.num_iterations()), (512, 128, 976));
        assert_eq!(c.learning_rate_at(1), 2.5e-4);
        assert!(c.learning_rate_at(976) < 1e-6);
        assert!(c.validate().is_ok());
        let bad = PpoConfig { num_minibatches: 3, ..PpoConfig::default() };
        assert!(bad.validate().unwrap_err().contains("num_minibatches"));
    }

    #[test]
    fn explained_variance_is_one_for_perfect_values() {
        assert!((explained_variance(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]) - 1.0).abs() < 1e-12);
        assert!(explained_variance(&[0.0, 0.0], &[1.0, 1.0]).is_nan());
    }
}
