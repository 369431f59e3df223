//! `serflow train`: PPO on the serving environment (or CartPole), TensorBoard curves under
//! `runs/<run-name>/`, checkpoints that resume exactly.

use super::export::export_checkpoint;
use super::fit_planner;
use super::progress_bar;
use anyhow::{Context, Result, bail};
use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use serflow_agent::config::{EnvKind, MAIN_JOB_SCENARIOS, TrainConfig};
use serflow_agent::export::is_same_policy;
use serflow_agent::files::write_atomic;
use serflow_agent::forecaster::PlannerRecipe;
use serflow_agent::imitation::RoundReport;
use serflow_agent::networks::Backend;
use serflow_agent::plan::{Task, TrainPlan};
use serflow_agent::train::{Stop, TrainObserver, TrainOptions};
use serflow_env::Scenario;
use serflow_env::registry::{PolicyRegistry, SHIPPED, SHIPPED_PLANNERS, ShippedFile};
use serflow_env::scenario::missing_traces;
use serflow_policies::learned::MAX_FRAME_STACK;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Arguments of `serflow train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// A training config (RON); without it the embedded one for the scenario (or --env) is used.
    /// With none of --config, --env, --scenario, --trace and --resume: the main job, which trains
    /// `default` on its embedded config and then fits `production`'s planner (when its traces are
    /// found; `serflow fit-planner`).
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
    /// Name of the run (default: <env>__<scenario>__<seed>__<unix time>): one directory name under
    /// --logdir.
    #[arg(long, conflicts_with = "resume", value_parser = run_name)]
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
    /// `serflow train` naming no config, environment, scenario, trace or run to resume: the main
    /// job, one run per scenario of [`MAIN_JOB_SCENARIOS`].
    fn is_main_job(&self) -> bool {
        self.config.is_none()
            && self.env.is_none()
            && self.scenario.is_none()
            && self.trace.is_empty()
            && self.resume.is_none()
    }

    /// The run's config: the file, else the embedded one for `scenario` (the main job's) or the
    /// flags' scenario or environment, with the flags applied.
    fn config(&self, scenario: Option<&str>) -> Result<TrainConfig> {
        let scenario = scenario.or(self.scenario.as_deref());
        let mut config = match (&self.config, self.env, scenario) {
            (Some(path), _, _) => TrainConfig::load(path)?,
            (None, Some(EnvKind::Cartpole), _) => TrainConfig::default_for(EnvKind::Cartpole),
            (None, _, Some(name)) => TrainConfig::embedded_for_scenario(name),
            (None, _, None) => TrainConfig::default_for(EnvKind::Serflow),
        };
        if let Some(env) = self.env {
            config.env = env;
        }
        if let Some(s) = scenario {
            config = config.with_scenario(s);
        }
        if !self.trace.is_empty() {
            config.traces = self.trace.clone();
            config.training_workload = None;
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
            None if config.env == EnvKind::Cartpole => "the embedded cartpole config".into(),
            None => format!("the embedded config for scenario {}", config.scenario),
        };
        config.validate().with_context(|| source)?;
        Ok(config)
    }

    /// A fresh run of `config`: its directory, the effective config file, the plan.
    fn start(&self, config: TrainConfig) -> Result<TrainPlan> {
        let run_name = self.run_name.clone().unwrap_or_else(|| default_run_name(&config));
        // Absolute, so a resume from another directory writes to the same place.
        let log_dir = std::path::absolute(self.logdir.join(&run_name))?;
        let checkpoint_dir = match &self.checkpoint_dir {
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
        if let Task::Serving(task) = &plan.task {
            super::note_scenario(&task.scenario);
        }
        write_atomic(&log_dir.join("config.ron"), &(header + &text))?;
        eprintln!(
            "run {}: logs in {}, checkpoints in {}",
            plan.state.run_name,
            log_dir.display(),
            checkpoint_dir.display()
        );
        Ok(plan)
    }
}

/// A parser for a flag whose values are the library's `names` (shown by `--help`).
fn names<T: Copy + Send + Sync + 'static>(names: [(&'static str, T); 2]) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(names.map(|(n, _)| n))
        .map(move |s| names.iter().find(|(n, _)| *n == s).map(|(_, v)| *v).expect("a possible value"))
}

pub fn run(args: TrainArgs) -> Result<()> {
    let interrupt = Arc::new(AtomicBool::new(false));
    watch_ctrl_c(interrupt.clone());
    if args.is_main_job() {
        return main_job(&args, &interrupt);
    }
    let plan = match &args.resume {
        Some(dir) => TrainPlan::resume(dir)?,
        None => args.start(args.config(None)?)?,
    };
    train(plan, &args, &interrupt)?;
    Ok(())
}

/// The main job: a run per scenario of [`MAIN_JOB_SCENARIOS`], one after the other: the fit of
/// the planner shipped for it, else PPO on its embedded config. A scenario whose traces are not found (serflow cannot ship LIBRA's) is skipped with
/// a line saying where to put them; every config is checked before the first run starts.
fn main_job(args: &TrainArgs, interrupt: &Arc<AtomicBool>) -> Result<()> {
    for (flag, given) in
        [("--run-name", args.run_name.is_some()), ("--checkpoint-dir", args.checkpoint_dir.is_some())]
    {
        if given {
            bail!(
                "{flag} names one run, and `serflow train` alone trains one per scenario ({}): add --scenario NAME",
                MAIN_JOB_SCENARIOS.join(", ")
            );
        }
    }
    let mut jobs = Vec::new();
    for scenario in MAIN_JOB_SCENARIOS {
        let missing = missing_traces(scenario)?;
        if missing.is_empty() {
            jobs.push(match SHIPPED_PLANNERS.iter().find(|p| p.scenario == scenario) {
                Some(shipped) => MainJob::Planner(Arc::new(Scenario::load(scenario)?), shipped),
                None => MainJob::Ppo(Box::new(args.config(Some(scenario))?)),
            });
        } else {
            eprintln!(
                "skipping scenario {scenario}: its workload replays {}, not found in $SERFLOW_TRACES, traces/ \
                 or ../shared/traces/ (where to get them: traces/README.md)",
                missing.join(", ")
            );
        }
    }
    for job in jobs {
        match job {
            MainJob::Ppo(config) => {
                if train(args.start(*config)?, args, interrupt)? == Stop::Interrupted {
                    break;
                }
            }
            MainJob::Planner(scenario, shipped) => {
                let registry = PolicyRegistry::new(&scenario);
                let dir = args.logdir.join(fit_planner::default_run_name(&scenario.config.name));
                let shipped = Some((shipped.path, shipped.text));
                fit_planner::fit(
                    &scenario,
                    &registry,
                    &PlannerRecipe::default(),
                    &dir,
                    shipped,
                    Some(interrupt),
                )?;
                if interrupt.load(Ordering::SeqCst) {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// One run of the main job: PPO on a scenario's embedded config, or the fit of the planner
/// shipped for a scenario.
enum MainJob {
    Ppo(Box<TrainConfig>),
    Planner(Arc<Scenario>, &'static ShippedFile),
}

/// Trains `plan` until its end, a pause or Ctrl-C, with a progress bar. A finished serving run
/// exports its best checkpoint's policy to `<run>/policy.ron` and, when trained on the embedded
/// config of a scenario serflow ships a policy for, says whether it reproduced that policy.
fn train(plan: TrainPlan, args: &TrainArgs, interrupt: &Arc<AtomicBool>) -> Result<Stop> {
    let bar =
        TrainBar(progress_bar("train [{bar:30}] {human_pos}/{human_len} steps ({per_sec}, eta {eta}) {msg}"));
    let options = TrainOptions {
        stop_after: args.stop_after,
        interrupt: interrupt.clone(),
        observer: &bar,
        tensorboard: true,
    };
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
    if outcome.stop == Stop::Finished && s.config.env == EnvKind::Serflow {
        let file = export_checkpoint(&s.checkpoint_dir, &s.log_dir.join("policy.ron"))?;
        let shipped = SHIPPED.iter().find(|f| f.scenario == s.config.scenario);
        if let Some(shipped) =
            shipped.filter(|_| s.config == TrainConfig::embedded_for_scenario(&s.config.scenario))
        {
            if is_same_policy(&file, shipped.text) {
                eprintln!("the shipped {} reproduced bit for bit (only its notes differ)", shipped.path);
            } else {
                eprintln!(
                    "this policy differs from the shipped {} (another machine, toolchain or code revision)",
                    shipped.path
                );
            }
        }
    }
    Ok(outcome.stop)
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

    fn imitated(&self, round: usize, report: &RoundReport) {
        let summary: Vec<String> = report.metrics.iter().map(|(n, v)| format!("{n} {v:.4}")).collect();
        self.0.suspend(|| {
            eprintln!(
                "imitation round {}: {} decisions, agreement {:.3}, loss {:.4}; eval {}",
                round + 1,
                report.samples,
                report.agreement,
                report.loss,
                summary.join(", ")
            )
        });
    }

    fn imitation_ended(&self, kept: usize, rounds: &[RoundReport]) {
        let missed: Vec<String> = rounds
            .iter()
            .enumerate()
            .filter(|(_, r)| r.below_target)
            .map(|(i, _)| (i + 1).to_string())
            .collect();
        let mut line = format!(
            "imitation: kept round {} of {}, the best on the selection seeds",
            kept + 1,
            rounds.len()
        );
        if !missed.is_empty() {
            // A student is at best its teacher: when most rounds miss the target, the teacher
            // itself may (a queueing bound that many stages add past the SLO: the scenario note).
            line += &format!(
                "; round{} {} missed the SLO target there: if most do, check the teacher meets it \
                 (serflow compare --policies oracle on this scenario)",
                if missed.len() == 1 { "" } else { "s" },
                missed.join(", ")
            );
        }
        self.0.suspend(|| eprintln!("{line}"));
    }

    fn finished(&self) {
        self.0.finish_and_clear();
    }
}

/// A run name is one directory under `--logdir`: an empty name would write the run into the log
/// directory itself, among other runs, and a path would nest it or leave the log directory.
pub(super) fn run_name(name: &str) -> std::result::Result<String, String> {
    let components: Vec<Component<'_>> = Path::new(name).components().collect();
    if matches!(components[..], [Component::Normal(_)]) && !name.contains(['/', '\\']) {
        Ok(name.to_string())
    } else {
        let shown = if name.is_empty() { "an empty name".to_string() } else { format!("`{name}`") };
        Err(format!("{shown} is not one directory name (no separators, not empty, `.` or `..`)"))
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
                "\ninterrupted: finishing the iteration (or imitation round) and saving a checkpoint \
                 (Ctrl-C again to abort)"
            );
            flag.store(true, Ordering::SeqCst);
            if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
                std::process::exit(130);
            }
        }
    });
}
