//! Running statistics for observation normalisation and reward scaling (Stable-Baselines3's
//! `RunningMeanStd` and `VecNormalize`). Their state is saved in checkpoints and the observation
//! statistics travel with an exported policy.

use serde::{Deserialize, Serialize};

/// Running mean and variance with Chan's parallel update, in `f64`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunningMeanStd {
    /// Per-dimension mean.
    pub mean: Vec<f64>,
    /// Per-dimension (population) variance.
    pub var: Vec<f64>,
    /// Samples seen (starts at a tiny epsilon, as SB3 does).
    pub count: f64,
}

impl RunningMeanStd {
    /// Mean 0, variance 1, count 1e-4.
    pub fn new(dim: usize) -> Self {
        Self { mean: vec![0.0; dim], var: vec![1.0; dim], count: 1e-4 }
    }

    /// Folds in a batch of rows (`batch.len()` a multiple of the dimension).
    pub fn update(&mut self, batch: &[f32]) {
        let dim = self.mean.len();
        let n = (batch.len() / dim) as f64;
        if n == 0.0 {
            return;
        }
        for d in 0..dim {
            let column = batch.iter().skip(d).step_by(dim).map(|&x| f64::from(x));
            let batch_mean = column.clone().sum::<f64>() / n;
            let batch_var = column.map(|x| (x - batch_mean).powi(2)).sum::<f64>() / n;
            let delta = batch_mean - self.mean[d];
            let total = self.count + n;
            self.mean[d] += delta * n / total;
            let m2 = self.var[d] * self.count + batch_var * n + delta * delta * self.count * n / total;
            self.var[d] = m2 / total;
        }
        self.count += n;
    }
}

/// `clip((x - mean) / sqrt(var + epsilon), -clip, clip)` per dimension.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObsNormalizer {
    /// The statistics.
    pub stats: RunningMeanStd,
    /// Clip bound (SB3: 10).
    pub clip: f64,
    /// Added to the variance (SB3: 1e-8).
    pub epsilon: f64,
}

impl ObsNormalizer {
    /// Fresh statistics for `dim` features.
    pub fn new(dim: usize) -> Self {
        Self { stats: RunningMeanStd::new(dim), clip: 10.0, epsilon: 1e-8 }
    }

    /// Normalises rows of `raw` into `out`, in `f32` exactly as an exported policy does (so the
    /// actor sees the same inputs in training and in deployment).
    pub fn normalize(&self, raw: &[f32], out: &mut [f32]) {
        let (mean, std) = self.mean_std();
        let clip = self.clip as f32;
        for (i, (x, o)) in raw.iter().zip(out.iter_mut()).enumerate() {
            let d = i % mean.len();
            *o = ((x - mean[d]) / std[d]).clamp(-clip, clip);
        }
    }

    /// Mean and standard deviation as `f32`, for an exported policy.
    pub fn mean_std(&self) -> (Vec<f32>, Vec<f32>) {
        let mean = self.stats.mean.iter().map(|&m| m as f32).collect();
        let std = self.stats.var.iter().map(|&v| (v + self.epsilon).sqrt() as f32).collect();
        (mean, std)
    }
}

/// Divides rewards by the standard deviation of a running discounted return (not by the reward's
/// own), then clips: SB3's `VecNormalize(norm_reward=True)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RewardScaler {
    /// Statistics of the discounted return.
    pub stats: RunningMeanStd,
    /// Per-environment discounted return so far.
    pub returns: Vec<f64>,
    /// Discount.
    pub gamma: f64,
    /// Clip bound (SB3: 10).
    pub clip: f64,
    /// Added to the variance.
    pub epsilon: f64,
}

impl RewardScaler {
    /// For `num_envs` environments and discount `gamma`.
    pub fn new(num_envs: usize, gamma: f64) -> Self {
        Self { stats: RunningMeanStd::new(1), returns: vec![0.0; num_envs], gamma, clip: 10.0, epsilon: 1e-8 }
    }

    /// Scales one step's rewards in place: `rewards` holds `components` parts per environment, all
    /// divided by the same running std of the discounted total. `dones` resets the return of finished
    /// episodes.
    pub fn scale(&mut self, rewards: &mut [f32], components: usize, dones: &[bool]) {
        for (ret, parts) in self.returns.iter_mut().zip(rewards.chunks(components)) {
            let total: f64 = parts.iter().map(|&r| f64::from(r)).sum();
            *ret = *ret * self.gamma + total;
        }
        let batch: Vec<f32> = self.returns.iter().map(|&r| r as f32).collect();
        self.stats.update(&batch);
        let std = self.std();
        for ((parts, ret), &done) in rewards.chunks_mut(components).zip(self.returns.iter_mut()).zip(dones) {
            for r in parts {
                *r = (f64::from(*r) / std).clamp(-self.clip, self.clip) as f32;
            }
            if done {
                *ret = 0.0;
            }
        }
    }

    /// The current divisor (for bootstrapped values, which live in scaled units).
    pub fn std(&self) -> f64 {
        (self.stats.var[0] + self.epsilon).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_updates_equal_one_pass_statistics() {
        let data: Vec<f32> = (0..200).map(|i| ((i * 37) % 101) as f32 * 0.5 - 10.0).collect();
        let mut rms = RunningMeanStd::new(2);
        for chunk in data.chunks(14) {
            rms.update(chunk);
        }
        for d in 0..2 {
            let col: Vec<f64> = data.iter().skip(d).step_by(2).map(|&x| f64::from(x)).collect();
            let mean = col.iter().sum::<f64>() / col.len() as f64;
            let var = col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / col.len() as f64;
            assert!((rms.mean[d] - mean).abs() < 1e-3, "{} vs {mean}", rms.mean[d]);
            assert!((rms.var[d] / var - 1.0).abs() < 1e-3);
        }
    }

    #[test]
    fn normalised_observations_are_clipped_z_scores() {
        let mut n = ObsNormalizer::new(1);
        n.stats = RunningMeanStd { mean: vec![5.0], var: vec![4.0], count: 10.0 };
        let mut out = [0.0; 3];
        n.normalize(&[7.0, 5.0, 1000.0], &mut out);
        assert!((out[0] - 1.0).abs() < 1e-6 && out[1] == 0.0 && out[2] == 10.0);
    }

    #[test]
    fn reward_scaler_resets_returns_at_episode_end() {
        let mut s = RewardScaler::new(2, 0.9);
        let mut r = [1.0, 1.0];
        s.scale(&mut r, 1, &[true, false]);
        assert_eq!(s.returns, vec![0.0, 1.0]);
        assert!(r[0] > 0.0 && r[0] == r[1]);
    }

    #[test]
    fn reward_components_share_the_divisor_of_their_total() {
        let mut s = RewardScaler::new(2, 0.9);
        let mut r = [1.0, 3.0, 4.0, 4.0];
        s.scale(&mut r, 2, &[false, false]);
        assert_eq!(s.returns, vec![4.0, 8.0]);
        assert!(r[1] < 10.0, "not clipped: {r:?}");
        assert!((r[0] * 3.0 - r[1]).abs() < 1e-6 && r[2] == r[3], "{r:?}");
        assert!(((r[0] + r[1]) * 2.0 - (r[2] + r[3])).abs() < 1e-5, "{r:?}");
    }
}
