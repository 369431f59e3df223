//! A training run resolved once: the config checked, the scenario loaded with its overrides, the task
//! built, the state made (or loaded). The resolved scenario travels in the run's state, so resuming
//! and exporting never look a scenario or trace up by name again, wherever they are run from.

use crate::config::{EnvKind, TrainConfig};
use crate::error::{Error, Result};
use crate::task::{CartPoleTask, ServingTask};
use crate::train::{TrainOptions, TrainOutcome, TrainState, init_state, train};
use serde::{Deserialize, Serialize};
use serflow_env::scenario::{Horizon, Scenario, ScenarioConfig, load_config};
use serflow_env::workload::WorkloadConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A scenario as a run trains on it: the configuration with every override applied, its source label
/// and the absolute directory its relative trace path resolves against.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResolvedScenario {
    /// The configuration, overrides applied.
    pub config: ScenarioConfig,
    /// Where it came from (`builtin:default` or a path), for messages.
    pub source: String,
    /// The directory a relative trace path resolves against.
    pub base: PathBuf,
}

impl ResolvedScenario {
    /// `scenario` (a built-in name or a RON file), with `traces` (relative to the working directory)
    /// replacing its workload: episodes are then windows of a trace at random offsets, as long as
    /// the scenario's horizon. Returns the resolution and the loaded scenario.
    pub fn resolve(scenario: &str, traces: &[String]) -> Result<(Self, Arc<Scenario>)> {
        let (mut config, source, mut base) = load_config(scenario)?;
        if !traces.is_empty() {
            config.use_traces(traces, None, 1.0, true);
            base = PathBuf::from(".");
        }
        let base = std::path::absolute(&base).map_err(|e| Error::io(&base, "cannot resolve", e))?;
        let resolved = Self { config, source, base };
        let loaded = resolved.load()?;
        Ok((resolved, loaded))
    }

    /// Loads and validates the scenario (reads its trace).
    pub fn load(&self) -> Result<Arc<Scenario>> {
        let scenario =
            Scenario::from_config(self.config.clone(), &self.source, &self.base, Horizon::AsConfigured)?;
        Ok(Arc::new(scenario))
    }

    /// The scenario training episodes are drawn from: `loaded` itself, or the same system under
    /// `workload` (its traces resolving as the scenario's do).
    fn training(&self, loaded: &Arc<Scenario>, workload: Option<&WorkloadConfig>) -> Result<Arc<Scenario>> {
        let Some(workload) = workload else { return Ok(loaded.clone()) };
        let config = ScenarioConfig { workload: workload.clone(), ..self.config.clone() };
        let source = format!("{} (training_workload)", self.source);
        Ok(Arc::new(Scenario::from_config(config, &source, &self.base, Horizon::AsConfigured)?))
    }
}

/// The environment family a run trains on, ready to make environments.
pub enum Task {
    /// CartPole-v1.
    CartPole(CartPoleTask),
    /// The serving system of one scenario.
    Serving(ServingTask),
}

/// A run ready to train: its task and its state.
pub struct TrainPlan {
    /// What it trains on.
    pub task: Task,
    /// Where it stands.
    pub state: TrainState,
}

impl TrainPlan {
    /// A fresh run of `config` (checked by `init_state`; scenario and trace loaded once). Nothing is
    /// written yet.
    pub fn start(
        config: TrainConfig,
        run_name: String,
        log_dir: PathBuf,
        checkpoint_dir: PathBuf,
    ) -> Result<Self> {
        Ok(match config.env {
            EnvKind::Cartpole => {
                let state = init_state(&CartPoleTask, config, None, run_name, log_dir, checkpoint_dir)?;
                Self { task: Task::CartPole(CartPoleTask), state }
            }
            EnvKind::Serflow => {
                let (resolved, scenario) = ResolvedScenario::resolve(&config.scenario, &config.traces)?;
                let training = resolved.training(&scenario, config.training_workload.as_ref())?;
                let task = ServingTask::new(scenario, training, &config)?;
                let state = init_state(&task, config, Some(resolved), run_name, log_dir, checkpoint_dir)?;
                Self { task: Task::Serving(task), state }
            }
        })
    }

    /// The run saved in the checkpoint at `path` (a file, or a directory holding `latest.ron`).
    pub fn resume(path: &Path) -> Result<Self> {
        let state: TrainState = crate::checkpoint::load(path)?;
        state.config.validate()?;
        let task = match (&state.config.env, &state.scenario) {
            (EnvKind::Cartpole, _) => Task::CartPole(CartPoleTask),
            (EnvKind::Serflow, Some(resolved)) => {
                let scenario = resolved.load()?;
                let training = resolved.training(&scenario, state.config.training_workload.as_ref())?;
                Task::Serving(ServingTask::new(scenario, training, &state.config)?)
            }
            (EnvKind::Serflow, None) => {
                let why =
                    "the checkpoint records no scenario (written before serflow saved it); start a new run";
                return Err(Error::new(format!("{}: {why}", path.display())));
            }
        };
        Ok(Self { task, state })
    }

    /// Trains until the step budget, `options.stop_after`, or an interrupt.
    pub fn train(self, options: &TrainOptions<'_>) -> Result<TrainOutcome> {
        match &self.task {
            Task::CartPole(task) => train(task, self.state, options),
            Task::Serving(task) => train(task, self.state, options),
        }
    }
}
