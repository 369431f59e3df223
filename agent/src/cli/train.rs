//! `serflow train`: PPO on the serving environment (or CartPole), TensorBoard curves under
//! `runs/<run-name>/`, checkpoints that resume exactly.

use anyhow::{Context, Result};
use clap::Args;
use serflow_agent::checkpoint::{self, write_atomic};
use serflow_agent::networks::Backend;
use serflow_agent::task::{CartPoleTask, ServingTask, TrainTask};
use serflow_agent::train::{EnvKind, Stop, TrainConfig, TrainOptions, TrainState, init_state, train};
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
    #[arg(long, value_enum, conflicts_with = "resume")]
    env: Option<EnvKind>,
    /// Scenario (built-in name or .ron file) for the serving environment.
    #[arg(long, conflicts_with = "resume")]
    scenario: Option<String>,
    /// Replay this trace instead of the scenario's workload.
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    trace: Option<String>,
    /// Total environment steps.
    #[arg(long, value_name = "N", conflicts_with = "resume")]
    steps: Option<u64>,
    /// Seed of the run.
    #[arg(long, conflicts_with = "resume")]
    seed: Option<u64>,
    /// Burn backend for the updates.
    #[arg(long, value_enum, conflicts_with = "resume")]
    backend: Option<Backend>,
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
        if self.trace.is_some() {
            config.trace = self.trace.clone();
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
        let source = match &self.config {
            Some(path) => path.clone(),
            None => format!("the embedded {:?} config", config.env).to_lowercase(),
        };
        config.validate().with_context(|| source)?;
        Ok(config)
    }
}

/// The serving task of a config (scenario loaded and validated).
pub fn serving_task(config: &TrainConfig) -> Result<ServingTask> {
    let args = super::ScenarioArgs {
        scenario: config.scenario.clone(),
        trace: config.trace.clone(),
        trace_scale: 1.0,
        duration: None,
    };
    let mut scenario = args.load()?;
    if config.trace.is_some() {
        // Train on the scenario's horizon: episodes are windows of the trace at random offsets.
        let mut cfg = scenario.config.clone();
        cfg.horizon_s = serflow_env::scenario::load_config(&config.scenario)?.0.horizon_s;
        if let serflow_env::workload::WorkloadConfig::Trace { random_offset, .. } = &mut cfg.workload {
            *random_offset = true;
        }
        scenario = Arc::new(serflow_env::Scenario::from_config(
            cfg,
            &scenario.source,
            std::path::Path::new("."),
            serflow_env::Horizon::AsConfigured,
        )?);
    }
    Ok(ServingTask { scenario, random_initial_vms: config.random_initial_vms })
}

pub fn run(args: TrainArgs) -> Result<()> {
    let state = match &args.resume {
        Some(dir) => {
            let state = checkpoint::load(dir)?;
            state.config.validate()?;
            state
        }
        None => {
            let config = args.config()?;
            let run_name = args.run_name.clone().unwrap_or_else(|| default_run_name(&config));
            let log_dir = args.logdir.join(&run_name);
            let checkpoint_dir = args.checkpoint_dir.clone().unwrap_or_else(|| log_dir.join("checkpoints"));
            let header = format!(
                "// serflow train: run {run_name}, seed {}, git {}\n",
                config.seed,
                git_revision().unwrap_or_else(|| "unknown".into())
            );
            let text = ron::ser::to_string_pretty(&config, ron::ser::PrettyConfig::default())?;
            // Everything is checked (scenario, trace, credit) before the run directory appears.
            let state = match config.env {
                EnvKind::Cartpole => {
                    init_state(&CartPoleTask, config, run_name, log_dir.clone(), checkpoint_dir.clone())?
                }
                EnvKind::Serflow => {
                    let task = serving_task(&config)?;
                    init_state(&task, config, run_name, log_dir.clone(), checkpoint_dir.clone())?
                }
            };
            write_atomic(&log_dir.join("config.ron"), &(header + &text))?;
            eprintln!(
                "run {}: logs in {}, checkpoints in {}",
                state.run_name,
                log_dir.display(),
                checkpoint_dir.display()
            );
            state
        }
    };
    let interrupt = Arc::new(AtomicBool::new(false));
    watch_ctrl_c(interrupt.clone());
    let options = TrainOptions { stop_after: args.stop_after, interrupt, progress: true, tensorboard: true };
    match state.config.env {
        EnvKind::Cartpole => finish(&CartPoleTask, state, &options),
        EnvKind::Serflow => {
            let task = serving_task(&state.config)?;
            finish(&task, state, &options)
        }
    }
}

fn finish<T: TrainTask>(task: &T, state: TrainState, options: &TrainOptions) -> Result<()> {
    let outcome = train(task, state, options)?;
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
    for p in outcome
        .log
        .points
        .iter()
        .filter(|p| p.tag.starts_with("eval/"))
        .rev()
        .take(12)
        .collect::<Vec<_>>()
        .iter()
        .rev()
    {
        eprintln!("  {:<32} {:>12.5}  (step {})", p.tag, p.value, p.step);
    }
    Ok(())
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
