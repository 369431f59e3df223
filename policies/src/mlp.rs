//! A plain multilayer perceptron in `f32`: the deployable form of a trained network, with a
//! hand-written forward pass that allocates nothing.
//!
//! Weights are row-major `[inputs][outputs]` (the layout of Burn's `Linear`), so `y = x W + b`.
//! Hidden layers use tanh; the last layer is linear.

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
            y.copy_from_slice(&layer.biases);
            for (x, row) in cur[..layer.inputs].iter().zip(layer.weights.chunks_exact(layer.outputs)) {
                for (yj, wj) in y.iter_mut().zip(row) {
                    *yj += x * wj;
                }
            }
            if i < last {
                y.iter_mut().for_each(|v| *v = v.tanh());
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
    fn check_names_bad_shapes_and_nan() {
        let mut net = Mlp::zeros(&[3, 4, 2]);
        net.layers[1].inputs = 5;
        assert!(net.check().unwrap_err().contains("layer 1"));
        let mut net = Mlp::zeros(&[3, 2]);
        net.layers[0].biases[1] = f32::NAN;
        assert!(net.check().unwrap_err().contains("non-finite"));
    }
}
