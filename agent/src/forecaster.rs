//! The forecaster the shipped `production` policy plans on, and its fit: an MLP from a stage's last
//! `history` interval rates, each over their mean, to its next `leads` rates over that mean, through
//! two tanh layers. One model serves every stage and every shape of the workload; it is fitted on
//! the stages of training-seed episodes (their FaaS-only replays, the arrivals every policy sees)
//! by mean squared error (or the pinball loss of a quantile), with the trainer's Adam on Burn, and
//! the epoch that fits the selection seeds best is kept. The same recipe gives the same file, bit
//! for bit. [`fit_planner`] wraps it in the planner file `learned` resolves to on `production`.

use crate::adam::{Adam, clip_grad_norm};
use crate::networks::{Backend, BurnMlp, matrix, orthogonal};
use rayon::prelude::*;
use serflow_env::comparison::stage_arrivals;
use serflow_env::registry::{PlannerSettings, PolicyRegistry};
use serflow_env::rng::{SimRng, Stream};
use serflow_env::{Scenario, ScenarioError, seeds};
use serflow_policies::ForecastPlannerFile;
use serflow_policies::mlp::Mlp;
use serflow_policies::planner::{QUIET_RATE, SeasonalConfig};
use std::sync::Arc;

/// The largest future rate a target holds, as a multiple of its window's mean.
pub const MAX_RATIO: f64 = 10.0;

/// Input and target rows of every window of every stage of some episodes.
#[derive(Clone, Debug)]
pub struct Windows {
    history: usize,
    leads: usize,
    inputs: Vec<f32>,
    targets: Vec<f32>,
}

impl Windows {
    /// No windows yet of `history` rates followed by `leads`.
    pub fn new(history: usize, leads: usize) -> Self {
        Self { history, leads, inputs: Vec::new(), targets: Vec::new() }
    }

    /// Every window of `history` rates followed by `leads` more, per stage, each divided by the
    /// window's mean. Windows averaging under [`QUIET_RATE`] are skipped (a near-silent stage's
    /// ratios are noise the size of the burst that ends the silence, and cost nothing to get
    /// wrong; the planner does not forecast them either), and targets are capped at [`MAX_RATIO`].
    pub fn add(&mut self, rates: &[Vec<f64>]) {
        let (history, leads) = (self.history, self.leads);
        for series in rates {
            for end in history..=series.len().saturating_sub(leads) {
                let past = &series[end - history..end];
                let mean = past.iter().sum::<f64>() / history as f64;
                if mean < QUIET_RATE {
                    continue;
                }
                self.inputs.extend(past.iter().map(|r| (r / mean) as f32));
                self.targets
                    .extend(series[end..end + leads].iter().map(|r| (r / mean).min(MAX_RATIO) as f32));
            }
        }
    }

    /// Windows held.
    pub fn rows(&self) -> usize {
        self.targets.len() / self.leads
    }

    fn input(&self, row: usize) -> &[f32] {
        &self.inputs[row * self.history..(row + 1) * self.history]
    }

    fn target(&self, row: usize) -> &[f32] {
        &self.targets[row * self.leads..(row + 1) * self.leads]
    }

    /// The mean squared error of holding the last rate: what a reactive rule assumes.
    pub fn last_held_mse(&self) -> f64 {
        let sum: f64 = (0..self.rows())
            .map(|r| {
                let last = f64::from(self.input(r)[self.history - 1]);
                self.target(r).iter().map(|&t| (f64::from(t) - last).powi(2)).sum::<f64>()
            })
            .sum();
        sum / self.targets.len().max(1) as f64
    }
}

/// What [`fit`] kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Fitted {
    /// The model of the kept epoch.
    pub model: Mlp,
    /// That epoch (0: the initialisation).
    pub epoch: usize,
    /// Its loss on the selection windows.
    pub selection_loss: f64,
}

/// A `history -> hidden -> hidden -> leads` tanh MLP fitted to `train` by mean squared error, or with
/// a `quantile` by the pinball loss of that quantile (Adam at 1e-3 annealed to 0 over `epochs`,
/// minibatches of 256, gradients clipped to norm 1), keeping the epoch with the lowest loss on
/// `selection`; `log` hears each epoch's training and selection loss, and returns false to stop
/// before the next epoch.
pub fn fit(
    train: &Windows,
    selection: &Windows,
    hidden: usize,
    epochs: usize,
    quantile: Option<f64>,
    log: &mut dyn FnMut(usize, f64, f64) -> bool,
) -> Fitted {
    let (history, leads) = (train.history, train.leads);
    let mut rng = SimRng::new(1, Stream::Training);
    let mut mlp = Mlp::zeros(&[history, hidden, hidden, leads]);
    for (i, layer) in mlp.layers.iter_mut().enumerate() {
        let gain = if i == 2 { 1.0 } else { 2f64.sqrt() };
        layer.weights = orthogonal(layer.inputs, layer.outputs, gain, &mut rng);
    }
    let device = Backend::Flex.autodiff_device();
    let mut adam = Adam::new(&mlp.tensors().iter().map(|t| t.len()).collect::<Vec<_>>(), 1e-5);
    let loss_of = |mlp: &Mlp, x: Vec<f32>, y: Vec<f32>, track: bool| {
        let net = BurnMlp::new(mlp, &device, track);
        let miss = matrix(y, leads, &device) - net.forward(matrix(x, history, &device));
        let loss = match quantile {
            None => miss.clone().mul(miss).mean(),
            Some(q) => miss.clone().mul_scalar(q).max_pair(miss.mul_scalar(q - 1.0)).mean(),
        };
        (loss, net)
    };
    let selection_loss = |mlp: &Mlp| {
        let (loss, _) = loss_of(mlp, selection.inputs.clone(), selection.targets.clone(), false);
        f64::from(loss.into_scalar::<f32>())
    };
    let (rows, batch, lr) = (train.rows(), 256, 1e-3);
    let mut order: Vec<usize> = (0..rows).collect();
    let mut best = Fitted { selection_loss: selection_loss(&mlp), model: mlp.clone(), epoch: 0 };
    for epoch in 1..=epochs {
        for i in (1..rows).rev() {
            order.swap(i, (rng.uniform() * (i + 1) as f64) as usize);
        }
        let mut loss_sum = 0.0;
        for mb in order.chunks(batch) {
            let x = mb.iter().flat_map(|&i| train.input(i).iter().copied()).collect();
            let y = mb.iter().flat_map(|&i| train.target(i).iter().copied()).collect();
            let (loss, net) = loss_of(&mlp, x, y, true);
            loss_sum += f64::from(loss.clone().detach().into_scalar::<f32>()) * mb.len() as f64;
            let mut grads = net.gradients(&loss.backward());
            clip_grad_norm(&mut grads, 1.0);
            adam.step(mlp.tensors_mut(), &grads, lr * (1.0 - (epoch - 1) as f64 / epochs as f64));
        }
        let held = selection_loss(&mlp);
        if held < best.selection_loss {
            best = Fitted { model: mlp.clone(), epoch, selection_loss: held };
        }
        if !log(epoch, loss_sum / rows.max(1) as f64, held) {
            break;
        }
    }
    best
}

/// Per stage, the interval rates of the episode of `seed`.
pub fn stage_rates(scenario: &Arc<Scenario>, seed: u64) -> Vec<Vec<f64>> {
    let replay = stage_arrivals(scenario, seed, &|| {});
    let interval_s = scenario.config.control_interval_s;
    let per_interval = replay.per_interval();
    (0..scenario.n_stages())
        .map(|k| per_interval.iter().map(|counts| counts[k] as f64 / interval_s).collect())
        .collect()
}

/// How the shipped planner's forecaster is fitted and planned on.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannerRecipe {
    /// Training-seed episodes fitted on (the selection seeds pick the epoch: 5 episodes).
    pub episodes: u64,
    /// Rates the forecaster reads.
    pub history: usize,
    /// Rates it forecasts.
    pub leads: usize,
    /// Units of each hidden layer.
    pub hidden: usize,
    /// Passes over the training windows.
    pub epochs: usize,
    /// The quantile fitted by the pinball loss; none: the mean, by squared error.
    pub quantile: Option<f64>,
    /// How the planner plans on the forecast.
    pub planner: PlannerSettings,
}

impl Default for PlannerRecipe {
    /// The shipped `production` planner's: 30 rates in and out, 64 units, 20 epochs on 100
    /// episodes; forecasts x1.3 planned 20 intervals ahead, gated to tuned-hpa while stage 1's
    /// last 12 rates are more than half noise, and a stage's last period replayed where its
    /// rates repeat (picked on 20 selection seeds).
    fn default() -> Self {
        Self {
            episodes: 100,
            history: 30,
            leads: 30,
            hidden: 64,
            epochs: 20,
            quantile: None,
            planner: PlannerSettings {
                lookahead: 20,
                margin: 1.3,
                gate: Some((12, 0.5, 1)),
                seasonal: Some(SeasonalConfig::default()),
            },
        }
    }
}

/// Progress of [`fit_planner`].
pub trait FitObserver {
    /// The windows are built: training and selection rows, and the selection loss of holding
    /// the last rate.
    fn windows(&self, train: usize, selection: usize, last_held: f64);
    /// One epoch ended with these losses; false stops the fit (Ctrl-C).
    fn epoch(&self, epoch: usize, train_loss: f64, selection_loss: f64) -> bool;
}

/// Fits `recipe`'s forecaster on `scenario`'s training seeds and wraps it in a planner file for
/// the scenario (its prices and pools from `registry`, its gate's rule from the registry's
/// calibration); none when the observer stopped the fit.
pub fn fit_planner(
    scenario: &Arc<Scenario>,
    registry: &PolicyRegistry,
    recipe: &PlannerRecipe,
    observer: &dyn FitObserver,
) -> Result<Option<(ForecastPlannerFile, Fitted)>, ScenarioError> {
    let windows = |first: &str, count: u64| -> Result<Windows, ScenarioError> {
        let first = seeds::named(first).unwrap_or(0);
        let seeds = seeds::seed_range(first, count, "first seed", "episodes")
            .map_err(|e| ScenarioError::new("episodes", "", e))?;
        let rates: Vec<_> = seeds.par_iter().map(|&seed| stage_rates(scenario, seed)).collect();
        let mut w = Windows::new(recipe.history, recipe.leads);
        rates.iter().for_each(|r| w.add(r));
        Ok(w)
    };
    let (train, selection) = (windows("train", recipe.episodes)?, windows("selection", 5)?);
    let last_held = selection.last_held_mse();
    observer.windows(train.rows(), selection.rows(), last_held);
    if train.rows() == 0 || selection.rows() == 0 {
        return Err(ScenarioError::new(
            &scenario.source,
            "",
            format!(
                "no stage averages {QUIET_RATE} req/s over {} intervals followed by {}: nothing to fit a forecaster on",
                recipe.history, recipe.leads
            ),
        ));
    }
    let mut stopped = false;
    let fitted = fit(&train, &selection, recipe.hidden, recipe.epochs, recipe.quantile, &mut |e, t, s| {
        stopped = !observer.epoch(e, t, s);
        !stopped
    });
    if stopped {
        return Ok(None);
    }
    let loss = if recipe.quantile.is_some() { "pinball loss" } else { "MSE" };
    let notes = format!(
        "forecaster fitted on {} training episodes of {} ({} windows), epoch {} kept (selection {loss} \
         {:.5}; holding the last rate: {:.5})",
        recipe.episodes,
        scenario.source,
        train.rows(),
        fitted.epoch,
        fitted.selection_loss,
        last_held
    );
    let file = registry.planner_file(fitted.model.clone(), &recipe.planner, notes)?;
    Ok(Some((file, fitted)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_scaled_by_their_mean_skip_silence_and_cap_bursts() {
        let mut w = Windows::new(2, 1);
        w.add(&[vec![10.0, 30.0, 40.0, 0.2, 0.4, 1.0, 500.0]]);
        // [10, 30] -> 40 over mean 20; [30, 40] -> 0.2 over 35; [40, 0.2] -> 0.4 over 20.1;
        // [0.2, 0.4] averages under 1 req/s; [0.4, 1] too; none is left for [1, 500].
        assert_eq!(w.rows(), 3);
        assert_eq!(w.input(0), [0.5, 1.5]);
        assert_eq!(w.target(0), [2.0]);
        assert_eq!(w.target(1), [(0.2 / 35.0) as f32]);
        let mut burst = Windows::new(2, 1);
        burst.add(&[vec![1.0, 1.0, 500.0]]);
        assert_eq!(burst.target(0), [MAX_RATIO as f32]);
        let mut short = Windows::new(5, 3);
        short.add(&[vec![10.0; 7]]);
        assert_eq!(short.rows(), 0, "7 rates hold no window of 5 followed by 3");
    }

    /// Stage rates of a few sine episodes with random periods and phases.
    fn sines(seed: u64, episodes: usize) -> Windows {
        let mut rng = SimRng::new(seed, Stream::Training);
        let mut w = Windows::new(12, 6);
        for _ in 0..episodes {
            let (period, phase) = (20.0 + 40.0 * rng.uniform(), std::f64::consts::TAU * rng.uniform());
            let series =
                (0..120).map(|t| 100.0 + 60.0 * (phase + std::f64::consts::TAU * t as f64 / period).sin());
            w.add(&[series.collect()]);
        }
        w
    }

    #[test]
    fn a_high_quantile_forecasts_above_the_mean() {
        let (train, selection) = (sines(3, 60), sines(4, 4));
        let mean_output = |model: &Mlp| {
            let (mut scratch, mut out) = (vec![0.0; 2 * model.max_width()], vec![0.0; model.outputs()]);
            let mut sum = 0.0;
            for row in 0..selection.rows() {
                model.forward(selection.input(row), &mut scratch, &mut out);
                sum += out.iter().map(|&v| f64::from(v)).sum::<f64>();
            }
            sum / selection.targets.len() as f64
        };
        let mean = fit(&train, &selection, 16, 20, None, &mut |_, _, _| true).model;
        let high = fit(&train, &selection, 16, 20, Some(0.9), &mut |_, _, _| true).model;
        let (high, mean) = (mean_output(&high), mean_output(&mean));
        assert!(high > mean + 0.01, "{high} against {mean}");
    }

    #[test]
    fn a_fit_forecasts_a_sine_better_than_holding_its_last_rate_and_repeats_exactly() {
        let (train, selection) = (sines(1, 60), sines(2, 4));
        let mut epochs = 0;
        let fitted = fit(&train, &selection, 16, 20, None, &mut |_, _, _| {
            epochs += 1;
            true
        });
        assert_eq!(epochs, 20);
        assert!(fitted.epoch > 0, "training improved on the initialisation");
        let held = selection.last_held_mse();
        let error = fitted.selection_loss;
        assert!(error < held / 2.0, "selection MSE {error} against {held} for the last rate held");
        let again = fit(&train, &selection, 16, 20, None, &mut |_, _, _| true);
        assert_eq!(fitted, again, "the same data and seed give the same model, bit for bit");
    }
}
