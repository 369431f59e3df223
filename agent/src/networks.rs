//! The actor and critic: two separate tanh MLPs (CleanRL's `Agent`), orthogonally initialised.
//!
//! Parameters live as plain `f32` [`Mlp`]s, the same type an exported policy ships as: rollouts run
//! them with the allocation-free forward pass of `serflow-policies` (no autodiff), and each PPO
//! minibatch loads them into Burn tensors ([`BurnMlp`]) on the training device for the forward and
//! backward pass. Only the binary picks the device (`--backend`).

use burn::prelude::*;
use burn::tensor::Gradients;
use serde::{Deserialize, Serialize};
use serflow_env::rng::SimRng;
use serflow_policies::mlp::Mlp;

/// Which Burn CPU backend trains the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Backend {
    /// Flex, Burn's pure-Rust CPU backend (the faster here; see the README's benchmark).
    Flex,
    /// NdArray, Burn's older CPU backend.
    Ndarray,
}

impl Backend {
    /// The names `--backend` accepts, with their backends.
    pub const NAMES: [(&str, Backend); 2] = [("flex", Backend::Flex), ("ndarray", Backend::Ndarray)];

    /// The autodiff device of this backend.
    pub fn autodiff_device(self) -> Device {
        self.device().autodiff()
    }

    /// The plain (inference) device of this backend.
    #[allow(deprecated)] // NdArray is deprecated upstream in favour of Flex; it is what the user asked for
    pub fn device(self) -> Device {
        match self {
            Self::Flex => Device::flex(),
            Self::Ndarray => Device::ndarray(),
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = crate::error::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, b)| *b)
            .ok_or_else(|| crate::error::Error::new(format!("unknown backend `{s}` (flex or ndarray)")))
    }
}

/// Sizes and initialisation gains of the actor and critic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorCriticConfig {
    /// Hidden layer widths, shared by actor and critic (CleanRL: [64, 64]).
    pub hidden: Vec<usize>,
    /// Orthogonal gain of hidden layers (CleanRL: sqrt(2)).
    pub hidden_gain: f64,
    /// Orthogonal gain of the actor's output layer (CleanRL: 0.01, near-uniform initial policy).
    pub actor_head_gain: f64,
    /// Orthogonal gain of the critic's output layer (CleanRL: 1.0).
    pub critic_head_gain: f64,
    /// When the task names a default action (for the serving env: hold VM counts, offer VMs
    /// everything), the actor's output biases start so that each dimension picks its default with
    /// this probability (the rest uniform); 0 keeps CleanRL's uniform start. Autoscaling actions
    /// must persist for a VM to boot (~10 decisions), which uniform dithering almost never does.
    #[serde(default)]
    pub default_action_prob: f64,
}

impl Default for ActorCriticConfig {
    fn default() -> Self {
        Self {
            hidden: vec![64, 64],
            hidden_gain: std::f64::consts::SQRT_2,
            actor_head_gain: 0.01,
            critic_head_gain: 1.0,
            default_action_prob: 0.0,
        }
    }
}

/// The two networks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActorCritic {
    /// `[obs_dim] -> [n_logits]`: concatenated logits of every action dimension.
    pub actor: Mlp,
    /// `[obs_dim] -> [components]`: the state value of each reward component (one unless credit is
    /// split, see [`crate::credit`]).
    pub critic: Mlp,
}

impl ActorCriticConfig {
    /// Fresh networks for `obs_dim` inputs, the action space `nvec` and `value_outputs` reward
    /// components; weights orthogonal with the configured gains, drawn from `rng`; biases zero,
    /// except the actor's output biases when a `default_action` and `default_action_prob` are given.
    pub fn init(
        &self,
        obs_dim: usize,
        nvec: &[usize],
        value_outputs: usize,
        default_action: Option<&[usize]>,
        rng: &mut SimRng,
    ) -> ActorCritic {
        let n_logits: usize = nvec.iter().sum();
        let build = |out: usize, head_gain: f64, rng: &mut SimRng| {
            let mut widths = vec![obs_dim];
            widths.extend(&self.hidden);
            widths.push(out);
            let mut net = Mlp::zeros(&widths);
            let last = net.layers.len() - 1;
            for (i, layer) in net.layers.iter_mut().enumerate() {
                let gain = if i == last { head_gain } else { self.hidden_gain };
                layer.weights = orthogonal(layer.inputs, layer.outputs, gain, rng);
            }
            net
        };
        let mut actor = build(n_logits, self.actor_head_gain, rng);
        let critic = build(value_outputs, self.critic_head_gain, rng);
        if let (Some(defaults), true) =
            (default_action, self.default_action_prob > 0.0 && self.default_action_prob < 1.0)
        {
            let head = actor.layers.last_mut().expect("at least one layer");
            let mut start = 0;
            for (&n, &d) in nvec.iter().zip(defaults) {
                if n > 1 {
                    // softmax: e^b / (e^b + n - 1) = p
                    let p = self.default_action_prob;
                    head.biases[start + d] = (p * (n as f64 - 1.0) / (1.0 - p)).ln() as f32;
                }
                start += n;
            }
        }
        ActorCritic { actor, critic }
    }
}

/// A `rows x cols` (semi-)orthogonal matrix times `gain`, row-major: Gram-Schmidt on a Gaussian
/// matrix, as `torch.nn.init.orthogonal_` does with QR.
pub fn orthogonal(rows: usize, cols: usize, gain: f64, rng: &mut SimRng) -> Vec<f32> {
    let (tall, short) = (rows.max(cols), rows.min(cols));
    // `short` orthonormal vectors of length `tall`.
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(short);
    while basis.len() < short {
        let mut v: Vec<f64> = (0..tall).map(|_| rng.standard_normal()).collect();
        for b in &basis {
            let dot: f64 = v.iter().zip(b).map(|(x, y)| x * y).sum();
            v.iter_mut().zip(b).for_each(|(x, y)| *x -= dot * y);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-8 {
            v.iter_mut().for_each(|x| *x /= norm);
            basis.push(v);
        }
    }
    let mut out = vec![0.0f32; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            // Columns are the basis vectors when the matrix is tall, rows when it is wide.
            let value = if rows >= cols { basis[c][r] } else { basis[r][c] };
            out[r * cols + c] = (gain * value) as f32;
        }
    }
    out
}

/// An [`Mlp`] as Burn tensors on a device, for the training forward/backward pass.
pub struct BurnMlp {
    weights: Vec<Tensor<2>>,
    biases: Vec<Tensor<1>>,
}

impl BurnMlp {
    /// Loads `mlp` onto `device`; with `track`, the tensors require gradients.
    pub fn new(mlp: &Mlp, device: &Device, track: bool) -> Self {
        let leaf = |t: Tensor<2>| if track { t.require_grad() } else { t };
        let weights = mlp
            .layers
            .iter()
            .map(|l| {
                leaf(Tensor::<2>::from_data(
                    TensorData::new(l.weights.clone(), [l.inputs, l.outputs]),
                    device,
                ))
            })
            .collect();
        let biases = mlp
            .layers
            .iter()
            .map(|l| {
                let b = Tensor::<1>::from_data(TensorData::new(l.biases.clone(), [l.outputs]), device);
                if track { b.require_grad() } else { b }
            })
            .collect();
        Self { weights, biases }
    }

    /// `[batch, inputs] -> [batch, outputs]`: tanh after every layer but the last.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.weights.len() - 1;
        let mut h = x;
        for (i, (w, b)) in self.weights.iter().zip(&self.biases).enumerate() {
            h = h.matmul(w.clone()) + b.clone().unsqueeze::<2>();
            if i < last {
                h = h.tanh();
            }
        }
        h
    }

    /// The gradient of every parameter, flattened in [`Mlp::tensors`] order (zeros where a
    /// parameter did not take part).
    pub fn gradients(&self, grads: &Gradients) -> Vec<Vec<f32>> {
        let flat = |t: Option<Vec<f32>>, len: usize| t.unwrap_or_else(|| vec![0.0; len]);
        self.weights
            .iter()
            .zip(&self.biases)
            .flat_map(|(w, b)| {
                let [r, c] = w.dims();
                let gw = w.grad(grads).and_then(|g| g.into_data().try_to_vec::<f32>().ok());
                let gb = b.grad(grads).and_then(|g| g.into_data().try_to_vec::<f32>().ok());
                [flat(gw, r * c), flat(gb, c)]
            })
            .collect()
    }
}

/// A batch of rows as a `[rows, cols]` tensor.
pub fn matrix(values: Vec<f32>, cols: usize, device: &Device) -> Tensor<2> {
    let rows = values.len() / cols.max(1);
    Tensor::<2>::from_data(TensorData::new(values, [rows, cols]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serflow_env::rng::Stream;

    #[test]
    fn orthogonal_columns_are_orthonormal_times_gain() {
        let mut rng = SimRng::new(1, Stream::Training);
        for (rows, cols) in [(8, 3), (3, 8), (5, 5)] {
            let w = orthogonal(rows, cols, 2.0, &mut rng);
            let (n, m) = if rows >= cols { (cols, rows) } else { (rows, cols) };
            for i in 0..n {
                for j in 0..n {
                    let dot: f64 = (0..m)
                        .map(|k| {
                            let (a, b) = if rows >= cols {
                                (w[k * cols + i], w[k * cols + j])
                            } else {
                                (w[i * cols + k], w[j * cols + k])
                            };
                            f64::from(a) * f64::from(b)
                        })
                        .sum();
                    let expected = if i == j { 4.0 } else { 0.0 };
                    assert!((dot - expected).abs() < 1e-5, "{rows}x{cols} ({i},{j}): {dot}");
                }
            }
        }
    }

    #[test]
    fn default_action_prior_sets_the_initial_choice_probability() {
        let mut rng = SimRng::new(4, Stream::Training);
        let config = ActorCriticConfig { default_action_prob: 0.6, ..ActorCriticConfig::default() };
        let net = config.init(3, &[5, 3], 1, Some(&[2, 0]), &mut rng).actor;
        let mut scratch = vec![0.0; 2 * net.max_width()];
        let mut logits = vec![0.0; 8];
        net.forward(&[0.0, 0.0, 0.0], &mut scratch, &mut logits);
        let softmax = |xs: &[f32], i: usize| xs[i].exp() / xs.iter().map(|x| x.exp()).sum::<f32>();
        assert!((softmax(&logits[..5], 2) - 0.6).abs() < 1e-4);
        assert!((softmax(&logits[5..], 0) - 0.6).abs() < 1e-4);
    }

    #[test]
    fn burn_forward_matches_the_plain_forward_on_both_backends() {
        let mut rng = SimRng::new(2, Stream::Training);
        let net = ActorCriticConfig::default().init(6, &[5], 1, None, &mut rng).actor;
        let input: Vec<f32> = (0..12).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut scratch = vec![0.0; 2 * net.max_width()];
        let mut plain = vec![0.0; 10];
        for (row, out) in input.chunks(6).zip(plain.chunks_mut(5)) {
            net.forward(row, &mut scratch, out);
        }
        for backend in [Backend::Flex, Backend::Ndarray] {
            let device = backend.device();
            let burn = BurnMlp::new(&net, &device, false).forward(matrix(input.clone(), 6, &device));
            let got = burn.into_data().try_to_vec::<f32>().unwrap();
            for (a, b) in got.iter().zip(&plain) {
                assert!((a - b).abs() < 1e-5, "{backend:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn gradients_come_back_in_tensor_order() {
        let mut rng = SimRng::new(3, Stream::Training);
        let net = ActorCriticConfig::default().init(3, &[2], 1, None, &mut rng).critic;
        let device = Backend::Flex.autodiff_device();
        let burn = BurnMlp::new(&net, &device, true);
        let loss = burn.forward(matrix(vec![0.1, 0.2, 0.3], 3, &device)).sum();
        let grads = burn.gradients(&loss.backward());
        let shapes: Vec<usize> = net.tensors().iter().map(|t| t.len()).collect();
        assert_eq!(grads.iter().map(Vec::len).collect::<Vec<_>>(), shapes);
        // d(sum of output)/d(last bias) = 1
        assert!((grads.last().unwrap()[0] - 1.0).abs() < 1e-6);
    }
}
