//! `serflow train`: PPO on the serving environment (or CartPole), TensorBoard curves under
//! `runs/<run-name>/`, checkpoints that resume exactly.

use super::progress_bar;
use anyhow::{Context, Result};
use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use serflow_agent::config::{EnvKind, TrainConfig};
use serflow_agent::files::write_atomic;
use serflow_agent::networks::Backend;
use serflow_agent::plan::TrainPlan;
use serflow_agent::train::{Stop, TrainObserver, TrainOptions};
use serflow_policies::learned::MAX_FRAME_STACK;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Arguments of `serflow train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// A training config (RON); without it the embedded default for --env is used.
    #[arg(long, value_name = "FILE.ron", conflicts_with = "resume")]
    config: Option<String>,
    /// Environment to train on.
    #[arg(long, conflicts_with = "resume", value_parser = names(EnvKind::NAMES))]
    env: Option<EnvKind>,
    /// Scenario (built-in name or .ron file) for the serving environment.
    #[arg(long, conflicts_with = "resume")]
    scenario: Option<String>,
    /// Train on this trace instead of the scenario's workload (repeat, or separate by commas, for
    /// several: one is drawn per episode); rescaled to the scenario's nominal mean rate if it has one.
    #[arg(long, value_name = "FILE", value_delimiter = ',', conflicts_with = "resume")]
    trace: Vec<String>,
    /// Total environment steps.
    #[arg(long, value_name = "N", conflicts_with = "resume")]
    steps: Option<u64>,
    /// Seed of the run.
    #[arg(long, conflicts_with = "resume")]
    seed: Option<u64>,
    /// Burn backend for the updates.
    #[arg(long, conflicts_with = "resume", value_parser = names(Backend::NAMES))]
    backend: Option<Backend>,
    /// Observations the networks read at once: the last N, oldest first (SB3's VecFrameStack);
    /// exported policies stack the same.
    #[arg(long, value_name = "N", conflicts_with = "resume",
          value_parser = clap::value_parser!(u64).range(1..=MAX_FRAME_STACK as u64))]
    frame_stack: Option<u64>,
    /// Directory holding one TensorBoard directory per run.
    #[arg(long, value_name = "DIR", default_value = "runs")]
    logdir: PathBuf,
    /// Name of the run (default: <env>__<scenario>__<seed>__<unix time>).
    #[arg(long, conflicts_with = "resume")]
    run_name: Option<String>,
    /// Where checkpoints go (default: <logdir>/<run-name>/checkpoints).
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    checkpoint_dir: Option<PathBuf>,
    /// Continue a run from its checkpoint directory (or a checkpoint file).
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// Stop after this many PPO iterations in total (checkpointed; continue later with --resume).
    #[arg(long, value_name = "N")]
    stop_after: Option<u64>,
}

impl TrainArgs {
    fn config(&self) -> Result<TrainConfig> {
        let mut config = match &self.config {
            Some(path) => TrainConfig::load(path)?,
            None => TrainConfig::default_for(self.env.unwrap_or(EnvKind::Serflow)),
        };
        if let Some(env) = self.env {
            config.env = env;
        }
        if let Some(s) = &self.scenario {
            config.scenario = s.clone();
        }
        if !self.trace.is_empty() {
            config.traces = self.trace.clone();
        }
        if let Some(n) = self.steps {
            config.ppo.total_timesteps = n;
        }
        if let Some(s) = self.seed {
            config.seed = s;
        }
        if let Some(b) = self.backend {
            config.backend = b;
        }
        if let Some(n) = self.frame_stack {
            config.frame_stack = n as usize;
        }
        let source = match &self.config {
            Some(path) => path.clone(),
            None => format!("the embedded {:?} config", config.env).to_lowercase(),
        };
        config.validate().with_context(|| source)?;
        Ok(config)
    }
}

/// A parser for a flag whose values are the library's `names` (shown by `--help`).
fn names<T: Copy + Send + Sync + 'static>(names: [(&'static str, T); 2]) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(names.map(|(n, _)| n))
        .map(move |s| names.iter().find(|(n, _)| *n == s).map(|(_, v)| *v).expect("a possible value"))
}

pub fn run(args: TrainArgs) -> Result<()> {
    let plan = match &args.resume {
        Some(dir) => TrainPlan::resume(dir)?,
        None => {
            let config = args.config()?;
            let run_name = args.run_name.clone().unwrap_or_else(|| default_run_name(&config));
            // Absolute, so a resume from another directory writes to the same place.
            let log_dir = std::path::absolute(args.logdir.join(&run_name))?;
            let checkpoint_dir = match &args.checkpoint_dir {
                Some(dir) => std::path::absolute(dir)?,
                None => log_dir.join("checkpoints"),
            };
            let header = format!(
                "// serflow train: run {run_name}, seed {}, git {}\n",
                config.seed,
                git_revision().unwrap_or_else(|| "unknown".into())
            );
            let text = ron::ser::to_string_pretty(&config, ron::ser::PrettyConfig::default())?;
            // Everything is checked (scenario, trace, credit) before the run directory appears.
            let plan = TrainPlan::start(config, run_name, log_dir.clone(), checkpoint_dir.clone())?;
            write_atomic(&log_dir.join("config.ron"), &(header + &text))?;
            eprintln!(
                "run {}: logs in {}, checkpoints in {}",
                plan.state.run_name,
                log_dir.display(),
                checkpoint_dir.display()
            );
            plan
        }
    };
    let interrupt = Arc::new(AtomicBool::new(false));
    watch_ctrl_c(interrupt.clone());
    let bar =
        TrainBar(progress_bar("train [{bar:30}] {human_pos}/{human_len} steps ({per_sec}, eta {eta}) {msg}"));
    let options = TrainOptions { stop_after: args.stop_after, interrupt, observer: &bar, tensorboard: true };
    let outcome = plan.train(&options)?;
    let s = &outcome.state;
    let dir = s.checkpoint_dir.display();
    match outcome.stop {
        Stop::Finished => {
            eprintln!("finished {} steps; checkpoints in {dir} (latest.ron, best.ron)", s.global_step)
        }
        Stop::Paused | Stop::Interrupted => eprintln!(
            "stopped at step {} (iteration {}); continue with: serflow train --resume {dir}",
            s.global_step, s.iteration
        ),
    }
    let evals: Vec<_> = outcome.log.points.iter().filter(|p| p.tag.starts_with("eval/")).collect();
    for p in &evals[evals.len().saturating_sub(12)..] {
        eprintln!("  {:<32} {:>12.5}  (step {})", p.tag, p.value, p.step);
    }
    Ok(())
}

/// The training progress bar, with a line per evaluation.
struct TrainBar(indicatif::ProgressBar);

impl TrainObserver for TrainBar {
    fn started(&self, global_step: u64, total_steps: u64) {
        self.0.set_length(total_steps);
        self.0.set_position(global_step);
    }

    fn stepped(&self, global_step: u64) {
        self.0.set_position(global_step);
    }

    fn iterated(&self, last_return: f64) {
        self.0.set_message(format!("return {last_return:.2}"));
    }

    fn evaluated(&self, step: u64, metrics: &[(String, f64)]) {
        let summary: Vec<String> = metrics.iter().map(|(n, v)| format!("{n} {v:.4}")).collect();
        self.0.suspend(|| eprintln!("step {step}: eval {}", summary.join(", ")));
    }

    fn finished(&self) {
        self.0.finish_and_clear();
    }
}

fn default_run_name(config: &TrainConfig) -> String {
    let env = match config.env {
        EnvKind::Serflow => format!("serflow__{}", super::file_safe_name(&config.scenario)),
        EnvKind::Cartpole => "cartpole".into(),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("{env}__{}__{now}", config.seed)
}

fn git_revision() -> Option<String> {
    let out = std::process::Command::new("git").args(["describe", "--always", "--dirty"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Raises `flag` on Ctrl-C (SIGINT), so the loop can checkpoint and exit cleanly.
fn watch_ctrl_c(flag: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
            eprintln!(
                "\ninterrupted: finishing the iteration and saving a checkpoint (Ctrl-C again to abort)"
            );
            flag.store(true, Ordering::SeqCst);
            if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
                std::process::exit(130);
            }
        }
    });
}
