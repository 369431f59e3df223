//! Adam with PyTorch's update rule and global gradient-norm clipping, over plain `f32` parameters.
//!
//! Burn computes the gradients; the step itself is applied here, to the same `f32` tensors the
//! policy ships as. That keeps the optimiser state a plain serialisable value (moments and step
//! count), so a checkpoint resumes bit for bit, and it clips by the norm over *all* parameters as
//! `torch.nn.utils.clip_grad_norm_` does (Burn's clipping is per tensor).

use serde::{Deserialize, Serialize};

/// Adam's state and hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator epsilon (CleanRL: 1e-5).
    pub eps: f64,
    /// Steps taken.
    pub step: u64,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl Adam {
    /// Zero moments for tensors of the given lengths.
    pub fn new(lengths: &[usize], eps: f64) -> Self {
        let zeros = || lengths.iter().map(|&n| vec![0.0; n]).collect();
        Self { beta1: 0.9, beta2: 0.999, eps, step: 0, m: zeros(), v: zeros() }
    }

    /// One update of `params` (same order and lengths as at construction) with `grads` at rate `lr`.
    pub fn step(&mut self, params: Vec<&mut [f32]>, grads: &[Vec<f32>], lr: f64) {
        self.step += 1;
        let t = self.step as i32;
        let bias1 = 1.0 - self.beta1.powi(t);
        let bias2_sqrt = (1.0 - self.beta2.powi(t)).sqrt();
        let step_size = (lr / bias1) as f32;
        let (b1, b2, eps) = (self.beta1 as f32, self.beta2 as f32, self.eps as f32);
        for (((p, g), m), v) in params.into_iter().zip(grads).zip(&mut self.m).zip(&mut self.v) {
            for i in 0..p.len() {
                m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                let denom = v[i].sqrt() / bias2_sqrt as f32 + eps;
                p[i] -= step_size * m[i] / denom;
            }
        }
    }
}

/// Scales `grads` so their global L2 norm is at most `max_norm`; returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut [Vec<f32>], max_norm: f64) -> f64 {
    let total = grads.iter().flatten().map(|&g| f64::from(g) * f64::from(g)).sum::<f64>().sqrt();
    let coef = max_norm / (total + 1e-6);
    if coef < 1.0 {
        grads.iter_mut().flatten().for_each(|g| *g = (f64::from(*g) * coef) as f32);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_steps_match_a_hand_computation() {
        // Step 1: m = 0.1 g, v = 0.001 g^2, m_hat = g, v_hat = g^2 -> p -= lr * g / (|g| + eps).
        let mut p = vec![1.0f32, -2.0];
        let mut adam = Adam::new(&[2], 1e-5);
        adam.step(vec![&mut p], &[vec![0.5, -4.0]], 0.1);
        assert!((p[0] - (1.0 - 0.1 * 0.5 / (0.5 + 1e-5))).abs() < 1e-6);
        assert!((p[1] - (-2.0 + 0.1 * 4.0 / (4.0 + 1e-5))).abs() < 1e-6);
        // Step 2 with g = 0: m = 0.09 g1, v = 0.000999 g1^2; m_hat = 0.09 g1 / 0.19, v_hat = 0.000999 g1^2 / 0.001999.
        let before = p[0];
        adam.step(vec![&mut p], &[vec![0.0, 0.0]], 0.1);
        let m_hat = 0.09 * 0.5 / 0.19;
        let v_hat = (0.000999f64 * 0.25 / 0.001999).sqrt();
        assert!((f64::from(before - p[0]) - 0.1 * m_hat / (v_hat + 1e-5)).abs() < 1e-5);
    }

    #[test]
    fn clipping_uses_the_global_norm() {
        let mut g = vec![vec![3.0f32], vec![4.0]];
        assert_eq!(clip_grad_norm(&mut g, 0.5), 5.0);
        assert!((g[0][0] - 0.3).abs() < 1e-5 && (g[1][0] - 0.4).abs() < 1e-5);
        let mut small = vec![vec![0.1f32]];
        clip_grad_norm(&mut small, 0.5);
        assert_eq!(small[0][0], 0.1);
    }
}
