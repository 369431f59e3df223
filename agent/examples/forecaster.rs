//! A learned forecaster of a stage's interval rate, for the oracle's planner to plan on (the
//! `learned` forecast of `env/examples/forecast_planner.rs`): an MLP from a stage's last `--history`
//! interval rates (30), each divided by their mean, to its next `--leads` rates (30) over that mean,
//! through two tanh layers of `--hidden` units (64). It is fitted on the stages of `--episodes` (100)
//! training-seed episodes of `--scenario` (`production`; their FaaS-only replays, the arrivals
//! every policy sees) by mean squared error, or with `--quantile Q` by the pinball loss of the Q
//! quantile (a forecast that errs high by design), with Adam for `--epochs` (20), keeping the epoch
//! that fits the selection seeds best, and written to `--out` (`runs/forecaster.ron`) as the RON of an
//! `Mlp`. One model for every stage and every shape of the workload: the question is whether a
//! nonlinear model over minutes of history tells the shapes apart where a linear one (the
//! production report's ridge) averaged them. The same arguments give the same file, bit for bit.
//!
//! ```sh
//! cargo run --release -p serflow-agent --example forecaster -- --out runs/forecaster.ron   # 2 min on 2 cores
//! cargo run --release -p serflow-env --example forecast_planner -- \
//!     --forecast learned --forecaster runs/forecaster.ron --margins 1.2 --gate 12,0.5
//! ```

use rayon::prelude::*;
use serflow_agent::adam::{Adam, clip_grad_norm};
use serflow_agent::networks::{Backend, BurnMlp, matrix, orthogonal};
use serflow_env::comparison::stage_arrivals;
use serflow_env::rng::{SimRng, Stream};
use serflow_env::{ScenarioOptions, seeds};
use serflow_policies::files::{check_writable, write_atomic};
use serflow_policies::mlp::Mlp;
use std::path::PathBuf;

/// The largest future rate a target holds, as a multiple of its window's mean.
const MAX_RATIO: f64 = 10.0;

/// Input and target rows of every window of every stage of some episodes.
struct Windows {
    history: usize,
    leads: usize,
    inputs: Vec<f32>,
    targets: Vec<f32>,
}

impl Windows {
    fn new(history: usize, leads: usize) -> Self {
        Self { history, leads, inputs: Vec::new(), targets: Vec::new() }
    }

    /// Every window of `history` rates followed by `leads` more, per stage, each divided by the
    /// window's mean. Windows averaging under 1 req/s are skipped (a near-silent stage's ratios
    /// are noise the size of the burst that ends the silence, and cost nothing to get wrong), and
    /// targets are capped at [`MAX_RATIO`].
    fn add(&mut self, rates: &[Vec<f64>]) {
        let (history, leads) = (self.history, self.leads);
        for series in rates {
            for end in history..=series.len().saturating_sub(leads) {
                let past = &series[end - history..end];
                let mean = past.iter().sum::<f64>() / history as f64;
                if mean < 1.0 {
                    continue;
                }
                self.inputs.extend(past.iter().map(|r| (r / mean) as f32));
                self.targets
                    .extend(series[end..end + leads].iter().map(|r| (r / mean).min(MAX_RATIO) as f32));
            }
        }
    }

    fn rows(&self) -> usize {
        self.targets.len() / self.leads
    }

    fn input(&self, row: usize) -> &[f32] {
        &self.inputs[row * self.history..(row + 1) * self.history]
    }

    fn target(&self, row: usize) -> &[f32] {
        &self.targets[row * self.leads..(row + 1) * self.leads]
    }

    /// The mean squared error of holding the last rate: what a reactive rule assumes.
    fn last_held_mse(&self) -> f64 {
        let sum: f64 = (0..self.rows())
            .map(|r| {
                let last = f64::from(self.input(r)[self.history - 1]);
                self.target(r).iter().map(|&t| (f64::from(t) - last).powi(2)).sum::<f64>()
            })
            .sum();
        sum / self.targets.len().max(1) as f64
    }
}

/// A `history -> hidden -> hidden -> leads` tanh MLP fitted to `train` by mean squared error, or with
/// a `quantile` by the pinball loss of that quantile (Adam at 1e-3 annealed to 0 over `epochs`,
/// minibatches of 256, gradients clipped to norm 1), keeping the epoch with the lowest loss on
/// `selection`. Returns that model, its epoch (0: the initialisation) and its selection loss; `log`
/// hears each epoch's training and selection loss.
fn fit(
    train: &Windows,
    selection: &Windows,
    hidden: usize,
    epochs: usize,
    quantile: Option<f64>,
    log: &mut dyn FnMut(usize, f64, f64),
) -> (Mlp, usize, f64) {
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
    let mut best = (mlp.clone(), 0, selection_loss(&mlp));
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
        log(epoch, loss_sum / rows.max(1) as f64, held);
        if held < best.2 {
            best = (mlp.clone(), epoch, held);
        }
    }
    best
}

/// Per stage, the interval rates of the episode of `seed`.
fn stage_rates(scenario: &std::sync::Arc<serflow_env::Scenario>, seed: u64) -> Vec<Vec<f64>> {
    let replay = stage_arrivals(scenario, seed, &|| {});
    let interval_s = scenario.config.control_interval_s;
    let per_interval = replay.per_interval();
    (0..scenario.n_stages())
        .map(|k| per_interval.iter().map(|counts| counts[k] as f64 / interval_s).collect())
        .collect()
}

struct Args {
    options: ScenarioOptions,
    episodes: u64,
    history: usize,
    leads: usize,
    hidden: usize,
    epochs: usize,
    quantile: Option<f64>,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        options: ScenarioOptions { scenario: "production".into(), ..ScenarioOptions::default() },
        episodes: 100,
        history: 30,
        leads: 30,
        hidden: 64,
        epochs: 20,
        quantile: None,
        out: PathBuf::from("runs/forecaster.ron"),
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let value = argv.next().ok_or_else(|| format!("{flag}: needs a value"))?;
        let count = || value.parse::<usize>().map_err(|_| format!("{flag}: `{value}` is not a count"));
        match flag.as_str() {
            "--scenario" => args.options.scenario = value,
            "--episodes" => args.episodes = count()? as u64,
            "--history" => args.history = count()?.max(2),
            "--leads" => args.leads = count()?.max(1),
            "--hidden" => args.hidden = count()?.max(1),
            "--epochs" => args.epochs = count()?,
            "--out" => args.out = PathBuf::from(value),
            "--quantile" => {
                let q = value.parse::<f64>().ok().filter(|q| *q > 0.0 && *q < 1.0);
                args.quantile = Some(q.ok_or_else(|| format!("{flag}: `{value}` is not between 0 and 1"))?);
            }
            _ => return Err(format!("{flag}: unknown option (see the example's doc comment)")),
        }
    }
    Ok(args)
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    check_writable(&args.out)?;
    let scenario =
        args.options.load(&|option| format!("--{}", option.replace('_', "-"))).map_err(|e| e.to_string())?;
    let windows = |first: &str, count: u64| -> Result<Windows, String> {
        let seeds = seeds::seed_range(seeds::named(first).unwrap_or(0), count, "first seed", "--episodes")?;
        let rates: Vec<_> = seeds.par_iter().map(|&seed| stage_rates(&scenario, seed)).collect();
        let mut w = Windows::new(args.history, args.leads);
        rates.iter().for_each(|r| w.add(r));
        Ok(w)
    };
    let train = windows("train", args.episodes)?;
    let selection = windows("selection", 5)?;
    println!(
        "{}: {} training windows, {} selection windows; selection MSE of the last rate held: {:.5}",
        scenario.source,
        train.rows(),
        selection.rows(),
        selection.last_held_mse()
    );
    let (model, epoch, error) =
        fit(&train, &selection, args.hidden, args.epochs, args.quantile, &mut |epoch, train, held| {
            println!("epoch {epoch}: training loss {train:.5}, selection loss {held:.5}")
        });
    println!("kept epoch {epoch} (selection loss {error:.5})");
    let text = ron::ser::to_string(&model).map_err(|e| format!("{}: {e}", args.out.display()))?;
    write_atomic(&args.out, &text)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2)
    }
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
        let (mean, ..) = fit(&train, &selection, 16, 20, None, &mut |_, _, _| {});
        let (high, ..) = fit(&train, &selection, 16, 20, Some(0.9), &mut |_, _, _| {});
        let (high, mean) = (mean_output(&high), mean_output(&mean));
        assert!(high > mean + 0.01, "{high} against {mean}");
    }

    #[test]
    fn a_fit_forecasts_a_sine_better_than_holding_its_last_rate_and_repeats_exactly() {
        let (train, selection) = (sines(1, 60), sines(2, 4));
        let mut epochs = 0;
        let (model, epoch, error) = fit(&train, &selection, 16, 20, None, &mut |_, _, _| epochs += 1);
        assert_eq!(epochs, 20);
        assert!(epoch > 0, "training improved on the initialisation");
        let held = selection.last_held_mse();
        assert!(error < held / 2.0, "selection MSE {error} against {held} for the last rate held");
        let (again, ..) = fit(&train, &selection, 16, 20, None, &mut |_, _, _| {});
        assert_eq!(model, again, "the same data and seed give the same model, bit for bit");
    }
}
