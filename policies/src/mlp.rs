//! A plain multilayer perceptron in `f32`: the deployable form of a trained network, with a
//! hand-written forward pass that allocates nothing.
//!
//! Weights are row-major `[inputs][outputs]` (the layout of Burn's `Linear`), so `y = x W + b`.
//! Hidden layers use tanh; the last layer is linear.
//!
//! The forward pass is written for speed on any x86-64 or ARM CPU without target-specific code:
//! outputs are computed in blocks of accumulators that stay in vector registers while the inputs
//! stream past (each output still sums `b + x0 w0 + x1 w1 + ...` in input order, so results do
//! not depend on the block size), and tanh is a rational approximation that vectorises instead of a
//! libm call per unit (within 5e-7 of `f32::tanh`; see its test).

use serde::{Deserialize, Serialize};

/// One fully connected layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// `inputs x outputs` weights, row-major.
    pub weights: Vec<f32>,
    /// `outputs` biases.
    pub biases: Vec<f32>,
}

impl Dense {
    /// `y = x W + b`: blocks of 32 outputs (8 independent SSE accumulators, enough to hide the
    /// adder's latency), then blocks of 8, then one by one.
    pub fn apply(&self, x: &[f32], y: &mut [f32]) {
        let done = self.apply_blocks::<32>(x, y, 0);
        let done = self.apply_blocks::<8>(x, y, done);
        self.apply_blocks::<1>(x, y, done);
    }

    /// Computes outputs `first..` in blocks of `N` while a whole block fits; returns where it stopped.
    fn apply_blocks<const N: usize>(&self, x: &[f32], y: &mut [f32], mut first: usize) -> usize {
        while first + N <= self.outputs {
            let mut acc: [f32; N] = self.biases[first..first + N].try_into().expect("N biases");
            for (xi, row) in x.iter().zip(self.weights.chunks_exact(self.outputs)) {
                let w: &[f32; N] = row[first..first + N].try_into().expect("N weights");
                for (a, wj) in acc.iter_mut().zip(w) {
                    *a += xi * wj;
                }
            }
            y[first..first + N].copy_from_slice(&acc);
            first += N;
        }
        first
    }
}

/// tanh as a [13/6] rational function on `[-7.9053, 7.9053]` (±1 beyond, to `f32` precision), the
/// approximation Eigen and XNNPACK use; it compiles to branch-free arithmetic that vectorises.
#[inline]
pub fn tanh(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    const ALPHA: [f32; 7] = [
        4.893_524_6e-3,
        6.372_619_3e-4,
        1.485_722_4e-5,
        5.122_297e-8,
        -8.604_672e-11,
        2.000_188e-13,
        -2.760_768_5e-16,
    ];
    const BETA: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347_1e-4, 1.198_258_4e-6];
    let x = x.clamp(-CLAMP, CLAMP);
    let x2 = x * x;
    let mut p = ALPHA[6];
    for a in ALPHA[..6].iter().rev() {
        p = p * x2 + a;
    }
    let mut q = BETA[3];
    for b in BETA[..3].iter().rev() {
        q = q * x2 + b;
    }
    x * p / q
}

/// Layers applied in order, tanh between them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mlp {
    /// The layers.
    pub layers: Vec<Dense>,
}

impl Mlp {
    /// A network with the given widths (`[in, hidden.., out]`), all parameters zero.
    pub fn zeros(widths: &[usize]) -> Self {
        let layers = widths
            .windows(2)
            .map(|w| Dense {
                inputs: w[0],
                outputs: w[1],
                weights: vec![0.0; w[0] * w[1]],
                biases: vec![0.0; w[1]],
            })
            .collect();
        Self { layers }
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.layers.first().map_or(0, |l| l.inputs)
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.outputs)
    }

    /// The widest layer output: the scratch size [`Mlp::forward`] needs.
    pub fn max_width(&self) -> usize {
        self.layers.iter().map(|l| l.outputs).max().unwrap_or(0).max(self.inputs())
    }

    /// Checks that layer shapes chain and every parameter is finite; `Err` names the problem.
    pub fn check(&self) -> Result<(), String> {
        if self.layers.is_empty() {
            return Err("network has no layers".into());
        }
        for (i, l) in self.layers.iter().enumerate() {
            if l.weights.len() != l.inputs * l.outputs || l.biases.len() != l.outputs {
                return Err(format!(
                    "layer {i}: {} weights and {} biases for a {}x{} layer",
                    l.weights.len(),
                    l.biases.len(),
                    l.inputs,
                    l.outputs
                ));
            }
            if i > 0 && self.layers[i - 1].outputs != l.inputs {
                return Err(format!(
                    "layer {i} takes {} inputs, layer {} gives {}",
                    l.inputs,
                    i - 1,
                    self.layers[i - 1].outputs
                ));
            }
            if l.weights.iter().chain(&l.biases).any(|v| !v.is_finite()) {
                return Err(format!("layer {i} has a non-finite parameter"));
            }
        }
        Ok(())
    }

    /// `out = f(input)`. `scratch` must hold `2 x max_width()` values; `out` `outputs()` values.
    pub fn forward(&self, input: &[f32], scratch: &mut [f32], out: &mut [f32]) {
        let width = self.max_width();
        let (a, b) = scratch.split_at_mut(width);
        a[..input.len()].copy_from_slice(input);
        let (mut cur, mut next) = (a, b);
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            let y = &mut next[..layer.outputs];
            layer.apply(&cur[..layer.inputs], y);
            if i < last {
                y.iter_mut().for_each(|v| *v = tanh(*v));
            }
            std::mem::swap(&mut cur, &mut next);
        }
        out.copy_from_slice(&cur[..self.outputs()]);
    }

    /// Every parameter tensor as a flat slice, in a fixed order (weights then biases, layer by layer).
    pub fn tensors(&self) -> Vec<&[f32]> {
        self.layers.iter().flat_map(|l| [l.weights.as_slice(), l.biases.as_slice()]).collect()
    }

    /// Mutable access in the order of [`Mlp::tensors`].
    pub fn tensors_mut(&mut self) -> Vec<&mut [f32]> {
        self.layers.iter_mut().flat_map(|l| [l.weights.as_mut_slice(), l.biases.as_mut_slice()]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_is_xw_plus_b_with_tanh_between_layers() {
        let mut net = Mlp::zeros(&[2, 2, 1]);
        net.layers[0].weights = vec![1.0, 0.0, 0.0, 2.0]; // h = tanh([x0, 2 x1] + b)
        net.layers[0].biases = vec![0.5, 0.0];
        net.layers[1].weights = vec![1.0, -1.0];
        net.layers[1].biases = vec![0.25];
        let mut scratch = vec![0.0; 2 * net.max_width()];
        let mut out = [0.0];
        net.forward(&[1.0, 0.5], &mut scratch, &mut out);
        let expected = 1.5f32.tanh() - 1.0f32.tanh() + 0.25;
        assert!((out[0] - expected).abs() < 1e-6);
        assert!(net.check().is_ok());
    }

    #[test]
    fn blocked_product_equals_the_plain_sum_for_any_width() {
        for outputs in [1, 15, 16, 17, 40, 64] {
            let inputs = 5;
            let layer = Dense {
                inputs,
                outputs,
                weights: (0..inputs * outputs).map(|i| ((i * 7919) % 97) as f32 / 13.0 - 3.0).collect(),
                biases: (0..outputs).map(|j| j as f32 * 0.1).collect(),
            };
            let x = [0.3, -1.7, 2.2, 0.0, 5.5];
            let mut y = vec![0.0; outputs];
            layer.apply(&x, &mut y);
            for (j, yj) in y.iter().enumerate() {
                let mut expected = layer.biases[j];
                for (i, xi) in x.iter().enumerate() {
                    expected += xi * layer.weights[i * outputs + j];
                }
                assert_eq!(*yj, expected, "output {j} of {outputs}");
            }
        }
    }

    #[test]
    fn fast_tanh_is_within_5e7_of_libm_everywhere() {
        let mut worst = 0.0f32;
        for i in -200_000..=200_000 {
            let x = i as f32 * 1e-4; // [-20, 20]
            worst = worst.max((tanh(x) - x.tanh()).abs());
        }
        assert!(worst < 5e-7, "max error {worst}");
        assert_eq!(tanh(0.0), 0.0);
        assert!(tanh(1e30) <= 1.0 && tanh(-1e30) >= -1.0);
        assert!(tanh(f32::NAN).is_nan());
    }

    #[test]
    fn check_names_bad_shapes_and_nan() {
        let mut net = Mlp::zeros(&[3, 4, 2]);
        net.layers[1].inputs = 5;
        assert!(net.check().unwrap_err().contains("layer 1"));
        let mut net = Mlp::zeros(&[3, 2]);
        net.layers[0].biases[1] = f32::NAN;
        assert!(net.check().unwrap_err().contains("non-finite"));
    }
}
