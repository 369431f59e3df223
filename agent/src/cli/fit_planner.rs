//! `serflow fit-planner`: fit the forecaster of a learned-forecast planner on a scenario's training
//! seeds and write the planner file (`--policy FILE` runs it; on `production` the main job fits the
//! one `learned` resolves to), with the fit's curves in TensorBoard.

use super::{ScenarioArgs, progress_bar};
use anyhow::Result;
use clap::Args;
use serflow_agent::forecaster::{FitObserver, PlannerRecipe, fit_planner};
use serflow_agent::logging::RunLog;
use serflow_env::registry::SHIPPED_PLANNERS;
use serflow_policies::ForecastPlannerFile;
use serflow_policies::files::check_writable;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Arguments of `serflow fit-planner`.
#[derive(Args, Debug)]
pub struct FitPlannerArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Training-seed episodes the forecaster is fitted on.
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    episodes: u64,
    /// Passes over the training windows (the epoch that fits the selection seeds best is kept).
    #[arg(long, value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    epochs: u64,
    /// Interval rates the forecaster reads (and forecasts).
    #[arg(long, value_name = "N", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(2..=1000))]
    history: u64,
    /// Forecasts are multiplied by X before planning.
    #[arg(long, value_name = "X", default_value_t = PlannerRecipe::default().planner.margin,
          value_parser = positive, allow_negative_numbers = true)]
    margin: f64,
    /// Fit this quantile of the future rates (pinball loss) instead of their mean.
    #[arg(long, value_name = "Q", value_parser = fraction, allow_negative_numbers = true)]
    quantile: Option<f64>,
    /// Never hand noisy intervals to the calibrated tuned-hpa rule.
    #[arg(long)]
    no_gate: bool,
    /// Never replay a stage's last period, even where its rates repeat (the forecaster alone).
    #[arg(long)]
    no_seasonal: bool,
    /// Directory holding one directory per run.
    #[arg(long, value_name = "DIR", default_value = "runs")]
    logdir: PathBuf,
    /// Name of the run (default: planner__<scenario>__<unix time>); the file is
    /// <logdir>/<run-name>/planner.ron.
    #[arg(long, value_parser = super::train::run_name)]
    run_name: Option<String>,
}

fn positive(text: &str) -> std::result::Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x > 0.0)
        .ok_or(format!("`{text}` is not a positive number"))
}

fn fraction(text: &str) -> std::result::Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|q| *q > 0.0 && *q < 1.0)
        .ok_or(format!("`{text}` is not between 0 and 1"))
}

impl FitPlannerArgs {
    fn recipe(&self) -> PlannerRecipe {
        let mut recipe = PlannerRecipe {
            episodes: self.episodes,
            history: self.history as usize,
            leads: self.history as usize,
            epochs: self.epochs as usize,
            quantile: self.quantile,
            ..PlannerRecipe::default()
        };
        recipe.planner.margin = self.margin;
        if self.no_gate {
            recipe.planner.gate = None;
        }
        if self.no_seasonal {
            recipe.planner.seasonal = None;
        }
        recipe
    }
}

pub fn run(args: FitPlannerArgs) -> Result<()> {
    let scenario = args.scenario.load()?;
    let run_name = args.run_name.clone().unwrap_or_else(|| default_run_name(&scenario.config.name));
    // The shipped planner's recipe on its built-in scenario, unchanged: the file should be the shipped one.
    let as_shipped = args.scenario.flags() == format!("--scenario {}", args.scenario.scenario)
        && args.scenario.calibration.is_none()
        && args.recipe() == PlannerRecipe::default()
        && scenario.differences_from_builtin() == Some(vec![]);
    let shipped =
        as_shipped.then(|| SHIPPED_PLANNERS.iter().find(|p| p.scenario == scenario.config.name)).flatten();
    let registry = args.scenario.registry(&scenario)?;
    let dir = args.logdir.join(run_name);
    fit(&scenario, &registry, &args.recipe(), &dir, shipped.map(|s| (s.path, s.text)), None)
}

/// `planner__<scenario>__<unix time>`.
pub fn default_run_name(scenario: &str) -> String {
    let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("planner__{scenario}__{time}")
}

/// Fits `recipe` on `scenario`, writes `dir/planner.ron` and the fit's TensorBoard curves in
/// `dir`, and, given the shipped file it should reproduce (`(path, text)`), says whether it did.
/// Once `interrupt` is set, the fit stops after its epoch and writes nothing.
pub fn fit(
    scenario: &Arc<serflow_env::Scenario>,
    registry: &serflow_env::registry::PolicyRegistry,
    recipe: &PlannerRecipe,
    dir: &Path,
    shipped: Option<(&str, &str)>,
    interrupt: Option<&AtomicBool>,
) -> Result<()> {
    let out = dir.join("planner.ron");
    check_writable(&out).map_err(anyhow::Error::msg)?;
    let bar = progress_bar("fit-planner [{bar:30}] epoch {pos}/{len} ({per_sec}, eta {eta}) {msg}");
    bar.set_length(recipe.epochs as u64);
    bar.set_message(format!("replaying {} episodes of {}", recipe.episodes, scenario.config.name));
    let observer = Progress { bar, log: RefCell::new(RunLog::tensorboard(dir)?), interrupt };
    let fitted = fit_planner(scenario, registry, recipe, &observer)?;
    observer.bar.finish_and_clear();
    observer.log.borrow_mut().flush();
    let Some((file, fitted)) = fitted else {
        eprintln!("interrupted: the fit stopped, no planner written ({} has its curves)", dir.display());
        return Ok(());
    };
    file.save(&out).map_err(anyhow::Error::msg)?;
    eprintln!(
        "kept epoch {} of {} (selection loss {:.5}); wrote {}",
        fitted.epoch,
        recipe.epochs,
        fitted.selection_loss,
        out.display()
    );
    if let Some((path, text)) = shipped {
        let same = ron::from_str::<ForecastPlannerFile>(text)
            .is_ok_and(|other| ForecastPlannerFile { notes: file.notes.clone(), ..other } == file);
        if same {
            eprintln!("the shipped {path} reproduced bit for bit (only its notes differ)");
        } else {
            eprintln!(
                "this planner differs from the shipped {path} (another machine, toolchain or code revision)"
            );
        }
    }
    if fitted.epoch == 0 {
        eprintln!(
            "warning: no epoch fitted the selection seeds better than the initialisation: the planner \
             plans on an untrained forecast (more --episodes or --epochs?)"
        );
    }
    Ok(())
}

/// The fit's progress bar and curves.
struct Progress<'a> {
    bar: indicatif::ProgressBar,
    log: RefCell<RunLog>,
    interrupt: Option<&'a AtomicBool>,
}

impl FitObserver for Progress<'_> {
    fn windows(&self, train: usize, selection: usize, last_held: f64) {
        self.bar.set_message(format!("{train} training windows"));
        self.bar.suspend(|| {
            eprintln!(
                "{train} training windows, {selection} selection windows; selection loss of the last rate held: {last_held:.5}"
            )
        });
    }

    fn epoch(&self, epoch: usize, train_loss: f64, selection_loss: f64) -> bool {
        let mut log = self.log.borrow_mut();
        log.scalar("forecaster/train_loss", train_loss, epoch as u64);
        log.scalar("forecaster/selection_loss", selection_loss, epoch as u64);
        self.bar.set_position(epoch as u64);
        self.bar.suspend(|| {
            eprintln!("epoch {epoch}: training loss {train_loss:.5}, selection loss {selection_loss:.5}")
        });
        !self.interrupt.is_some_and(|flag| flag.load(Ordering::SeqCst))
    }
}
