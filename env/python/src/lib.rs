//! `serflow._serflow`: the Rust side of the Python package. It exposes the serving environment (one
//! and a rayon-parallel batch), policies by name or file, `simulate`, `compare` and the policy-file
//! writer, with plain types and numpy arrays; `serflow/__init__.py` dresses them as Gymnasium
//! classes. Every simulation runs without the GIL. Bad input raises `ValueError` with the one-line
//! message the command line prints.

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serflow_env::comparison::{compare as compare_policies, stage_arrivals};
use serflow_env::expert::ExpertModel;
use serflow_env::registry::{PolicyRegistry, learned_policy_file, load_learned, shipped_learned};
use serflow_env::seeds::{parse_first_seed, seed_range};
use serflow_env::{
    ActionChoices, BoxSpace, Env as _, IntervalReport, MultiDiscrete, Scenario, ScenarioOptions, ServingEnv,
    VecEnv as RustVecEnv, action_set_for, run_episode,
};
use serflow_policies::mlp::{Dense, Mlp};
use serflow_policies::schema::feature_names;
use serflow_policies::{Action, ActionSet, Learned, Observation, TrainedPolicy};
use std::fmt::Display;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

fn value_error(e: impl Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// How Python spells a scenario option: as the keyword argument.
fn keyword(option: &str) -> String {
    option.to_string()
}

/// The scenario keyword arguments every entry point shares (`serflow/__init__.py` builds the dict).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct ScenarioArgs {
    scenario: String,
    traces: Vec<String>,
    trace_scale: Option<f64>,
    time_scale: f64,
    duration: Option<f64>,
}

impl ScenarioArgs {
    fn options(&self) -> ScenarioOptions {
        ScenarioOptions {
            scenario: self.scenario.clone(),
            traces: self.traces.clone(),
            trace_scale: self.trace_scale,
            time_scale: self.time_scale,
            duration: self.duration,
        }
    }

    /// The scenario, all traces as one workload.
    fn load(&self) -> PyResult<Arc<Scenario>> {
        let scenario = self.options().load(&keyword).map_err(value_error)?;
        warn_about(&scenario)?;
        Ok(scenario)
    }
}

/// Raises a `UserWarning` with what a user should know about `scenario`'s system (as the CLI's
/// stderr note).
fn warn_about(scenario: &Scenario) -> PyResult<()> {
    match scenario.note() {
        Some(note) => warn(&note),
        None => Ok(()),
    }
}

fn warn(note: &str) -> PyResult<()> {
    let message = std::ffi::CString::new(note).map_err(value_error)?;
    Python::attach(|py| PyErr::warn(py, &py.get_type::<pyo3::exceptions::PyUserWarning>(), &message, 1))
}

/// The action-set keyword arguments (those of a training config).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct ActionArgs {
    vm_need_multiples: Vec<f32>,
    vm_shares: Vec<f32>,
    vm_scale_in_tolerance: f32,
    vm_need_leads: Vec<f32>,
    vm_offer_slo_capacity: bool,
    vm_scale_in_window: u32,
}

impl ActionArgs {
    fn action_set(&self, scenario: &Scenario) -> PyResult<ActionSet> {
        let choices = ActionChoices {
            vm_need_multiples: self.vm_need_multiples.clone(),
            vm_shares: self.vm_shares.clone(),
            vm_scale_in_tolerance: self.vm_scale_in_tolerance,
            vm_need_leads: self.vm_need_leads.clone(),
            vm_offer_slo_capacity: self.vm_offer_slo_capacity,
            vm_scale_in_window: self.vm_scale_in_window,
        };
        action_set_for(scenario, &choices).map_err(|e| value_error(e.replace("action_set.", "")))
    }
}

/// The policies of `scenario`, with a calibration file when given.
fn registry<'a>(scenario: &'a Arc<Scenario>, calibration: Option<&str>) -> PyResult<PolicyRegistry<'a>> {
    let registry = PolicyRegistry::new(scenario);
    match calibration {
        Some(path) => registry.with_calibration(Path::new(path)).map_err(value_error),
        None => Ok(registry),
    }
}

/// Checks `names` on `registry` and raises a `UserWarning` for each caveat (as the CLI's stderr note).
fn check_policies<'a>(
    registry: &PolicyRegistry<'_>,
    names: impl IntoIterator<Item = &'a str>,
) -> PyResult<()> {
    let names: Vec<&str> = names.into_iter().collect();
    registry.check_all(names.iter().copied()).map_err(value_error)?;
    names.into_iter().try_for_each(|name| warn_caveat(registry, name))
}

/// Raises a `UserWarning` with what a user should know before trusting `name`'s figures on
/// `registry`'s scenario (as the CLI's stderr note).
fn warn_caveat(registry: &PolicyRegistry<'_>, name: &str) -> PyResult<()> {
    registry.caveat(name).map_or(Ok(()), |note| warn(&note))
}

/// A builder of environments over the scenario and action set the keyword arguments describe (a
/// batch shares one loaded scenario).
fn serving_envs(
    scenario: &ScenarioArgs,
    actions: &ActionArgs,
    random_initial_vms: Option<u32>,
    expert: bool,
) -> PyResult<impl Fn() -> ServingEnv> {
    let scenario = scenario.load()?;
    let set = actions.action_set(&scenario)?; // checked against the scenario's stages
    let expert = expert.then(|| Arc::new(ExpertModel::new(&scenario))); // measured once per batch
    Ok(move || {
        let mut env = ServingEnv::new(scenario.clone())
            .with_action_set(set.clone())
            .expect("action_set_for checked it");
        if let Some(up_to) = random_initial_vms {
            env = env.with_random_initial_vms(up_to);
        }
        if let Some(model) = &expert {
            env = env.with_expert(model.clone());
        }
        env
    })
}

/// `env`'s expert choice, or why `method` cannot give one.
fn expert_choice<'a>(env: &'a ServingEnv, method: &str) -> PyResult<&'a [usize]> {
    if !env.has_expert() {
        return Err(value_error(format!("{method}: make the environment with expert=True")));
    }
    env.expert_choice().ok_or_else(|| value_error(format!("{method}: call reset first")))
}

/// Checks `action` against the action space: one index per dimension, each in range.
fn checked_action(space: &MultiDiscrete, action: &[i64]) -> PyResult<Vec<usize>> {
    let nvec = &space.nvec;
    if action.len() != nvec.len() {
        return Err(value_error(format!(
            "action: expected {} choices (MultiDiscrete {nvec:?}), got {}",
            nvec.len(),
            action.len()
        )));
    }
    action
        .iter()
        .zip(nvec)
        .enumerate()
        .map(|(i, (&a, &n))| {
            usize::try_from(a).ok().filter(|&a| a < n).ok_or_else(|| {
                value_error(format!("action[{i}]: {a} is outside 0..{n} (MultiDiscrete {nvec:?})"))
            })
        })
        .collect()
}

/// Checks every row of a 2-D array of actions.
fn action_rows(space: &MultiDiscrete, actions: &PyReadonlyArray2<'_, i64>) -> PyResult<Vec<Vec<usize>>> {
    actions
        .as_array()
        .rows()
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            checked_action(space, &row.to_vec()).map_err(|e| value_error(format!("row {i}: {e}")))
        })
        .collect()
}

/// An action given as a numpy array or any sequence of integers.
fn action_values(action: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    if let Ok(array) = action.extract::<PyReadonlyArray1<'_, i64>>() {
        return Ok(array.as_array().to_vec());
    }
    action
        .extract::<Vec<i64>>()
        .map_err(|_| value_error("action: expected a sequence of integers (one per MultiDiscrete dimension)"))
}

/// A named field of an interval's report.
type Field<T> = (&'static str, fn(&IntervalReport) -> T);

/// The scalar fields of an interval's report, in `info` order: dollars, times and fractions.
const FLOAT_FIELDS: [Field<f64>; 7] = [
    ("time_s", |r| r.time_s),
    ("cost", |r| r.cost),
    ("vm_cost", |r| r.vm_cost),
    ("faas_cost", |r| r.faas_cost),
    ("transfer_cost", |r| r.transfer_cost),
    ("faas_share", |r| r.faas_share),
    ("slo_attainment", |r| r.slo_attainment),
];

/// ... and counts.
const COUNT_FIELDS: [Field<u64>; 6] = [
    ("arrivals", |r| r.arrivals),
    ("finished", |r| r.finished),
    ("violations", |r| r.violations),
    ("throttled", |r| r.throttled),
    ("vm_cold_starts", |r| r.vm_cold_starts),
    ("faas_cold_starts", |r| r.faas_cold_starts),
];

/// One interval's report as a dict of Python numbers (`stage_costs` a float64 array).
fn info_dict<'py>(py: Python<'py>, r: &IntervalReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, field) in FLOAT_FIELDS {
        d.set_item(name, field(r))?;
    }
    for (name, field) in COUNT_FIELDS {
        d.set_item(name, field(r))?;
    }
    d.set_item("stage_costs", PyArray1::from_slice(py, &r.stage_costs))?;
    Ok(d)
}

/// The reports of a batch as a dict of arrays, one entry per environment (`stage_costs` 2-D).
fn info_arrays<'py>(py: Python<'py>, reports: &[IntervalReport]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, field) in FLOAT_FIELDS {
        d.set_item(name, PyArray1::from_iter(py, reports.iter().map(field)))?;
    }
    for (name, field) in COUNT_FIELDS {
        d.set_item(name, PyArray1::from_iter(py, reports.iter().map(|r| field(r) as i64)))?;
    }
    let stages = reports.first().map_or(0, |r| r.stage_costs.len());
    let costs: Vec<f64> = reports.iter().flat_map(|r| r.stage_costs.iter().copied()).collect();
    d.set_item("stage_costs", PyArray1::from_vec(py, costs).reshape([reports.len(), stages])?)?;
    Ok(d)
}

/// The serving environment: reset with a seed, step with one index per action dimension.
#[pyclass(module = "serflow._serflow")]
struct Env {
    env: ServingEnv,
    space: MultiDiscrete,
    /// Steps are allowed: reset was called and the episode has not ended.
    running: bool,
}

#[pymethods]
impl Env {
    #[new]
    #[pyo3(signature = (scenario, actions, random_initial_vms = None, expert = false))]
    fn new(
        scenario: ScenarioArgs,
        actions: ActionArgs,
        random_initial_vms: Option<u32>,
        expert: bool,
    ) -> PyResult<Self> {
        let env = serving_envs(&scenario, &actions, random_initial_vms, expert)?();
        Ok(Self { space: env.action_space(), env, running: false })
    }

    /// Raises unless `policy` is a learned policy whose `choose` indexes this environment's action set.
    fn check_policy(&self, policy: PyRef<'_, Policy>) -> PyResult<()> {
        policy.check_steps_in(self.env.action_set())
    }

    /// The expert's choice for the latest observation (one index per action dimension).
    fn expert_action<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let choice = expert_choice(&self.env, "expert_action")?;
        Ok(PyArray1::from_iter(py, choice.iter().map(|&c| c as i64)))
    }

    /// Starts an episode; returns its first observation (float32).
    fn reset<'py>(&mut self, py: Python<'py>, seed: u64) -> Bound<'py, PyArray1<f32>> {
        let env = &mut self.env;
        let (obs, _) = py.detach(|| env.reset(seed));
        self.running = true;
        PyArray1::from_vec(py, obs)
    }

    /// Applies one action: `(obs, reward, terminated, truncated, info)`.
    #[allow(clippy::type_complexity)] // Gymnasium's step tuple
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        action: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyArray1<f32>>, f64, bool, bool, Bound<'py, PyDict>)> {
        if !self.running {
            return Err(value_error(
                "step: no episode running (call reset first, and after an episode ends)",
            ));
        }
        let action = checked_action(&self.space, &action_values(action)?)?;
        let env = &mut self.env;
        let step = py.detach(|| env.step(&action));
        self.running = !(step.terminated || step.truncated);
        let info = info_dict(py, &step.info)?;
        Ok((PyArray1::from_vec(py, step.obs), f64::from(step.reward), step.terminated, step.truncated, info))
    }

    /// Which choices are allowed now, laid out like the concatenated logits (`sum(nvec)` booleans).
    fn action_masks<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<bool>> {
        let mut mask = vec![true; self.space.total_choices()];
        self.env.action_mask(&mut mask);
        PyArray1::from_vec(py, mask)
    }

    /// The episode's report as JSON (the `serflow simulate --json` object), once it has ended: in-flight
    /// requests are completed and billed, as `simulate` does. The environment needs a reset afterwards.
    fn episode_report(&mut self, py: Python<'_>, policy: &str) -> PyResult<String> {
        if !self.env.simulator().at_horizon() {
            return Err(value_error("episode_report: the episode has not reached its horizon"));
        }
        self.running = false;
        let env = &mut self.env;
        let report = py.detach(|| env.finish(policy));
        serde_json::to_string(&report).map_err(value_error)
    }

    /// Resets with `seed` and applies `actions` (`steps x len(nvec)`, within one episode) in a Rust
    /// loop: the observations (`steps + 1` rows, the first from the reset), the rewards and the wall
    /// time of the loop in seconds. What Python stepping is checked and timed against.
    #[allow(clippy::type_complexity)] // three results
    fn replay<'py>(
        &mut self,
        py: Python<'py>,
        seed: u64,
        actions: PyReadonlyArray2<'py, i64>,
    ) -> PyResult<(Bound<'py, PyArray2<f32>>, Bound<'py, PyArray1<f64>>, f64)> {
        let actions = action_rows(&self.space, &actions)?;
        let steps = self.env.scenario().steps_per_episode();
        if actions.len() > steps {
            return Err(value_error(format!("actions: {} steps, one episode has {steps}", actions.len())));
        }
        let env = &mut self.env;
        let (obs, rewards, seconds) = py.detach(|| {
            let started = Instant::now();
            let (mut obs, _) = env.reset(seed);
            let mut rewards = Vec::with_capacity(actions.len());
            for action in &actions {
                let step = env.step(action);
                obs.extend_from_slice(&step.obs);
                rewards.push(f64::from(step.reward));
            }
            (obs, rewards, started.elapsed().as_secs_f64())
        });
        self.running = actions.len() < steps;
        let dim = self.env.observation_space().dim();
        let obs = PyArray1::from_vec(py, obs).reshape([actions.len() + 1, dim])?;
        Ok((obs, PyArray1::from_vec(py, rewards), seconds))
    }

    /// The observation's feature names.
    #[getter]
    fn feature_names(&self) -> Vec<String> {
        feature_names(self.env.max_vms().len())
    }

    /// Choices per action dimension (VM choice, share choice, per stage).
    #[getter]
    fn nvec(&self) -> Vec<usize> {
        self.space.nvec.clone()
    }

    /// Per-feature bounds of the observation.
    #[getter]
    fn observation_bounds(&self) -> (Vec<f32>, Vec<f32>) {
        let space = self.env.observation_space();
        (space.low, space.high)
    }

    /// The scenario's name, control interval and horizon (s), and steps per episode.
    #[getter]
    fn scenario_info(&self) -> (String, f64, f64, usize) {
        let s = self.env.scenario();
        (s.config.name.clone(), s.config.control_interval_s, s.config.horizon_s, s.steps_per_episode())
    }
}

/// Several serving environments stepped in parallel by rayon (same-step autoreset; see
/// `serflow_env::vec_env`).
#[pyclass(module = "serflow._serflow")]
struct VecEnv {
    envs: RustVecEnv<ServingEnv>,
    space: MultiDiscrete,
    bounds: BoxSpace,
    obs_dim: usize,
    n_stages: usize,
    reset_done: bool,
}

#[pymethods]
impl VecEnv {
    #[new]
    #[pyo3(signature = (num_envs, scenario, actions, random_initial_vms = None, expert = false))]
    fn new(
        num_envs: usize,
        scenario: ScenarioArgs,
        actions: ActionArgs,
        random_initial_vms: Option<u32>,
        expert: bool,
    ) -> PyResult<Self> {
        if num_envs == 0 || num_envs > 4096 {
            return Err(value_error(format!("num_envs: must be between 1 and 4096, got {num_envs}")));
        }
        let build = serving_envs(&scenario, &actions, random_initial_vms, expert)?;
        let envs: Vec<ServingEnv> = (0..num_envs).map(|_| build()).collect();
        let space = envs[0].action_space();
        let bounds = envs[0].observation_space();
        let (obs_dim, n_stages) = (bounds.dim(), envs[0].max_vms().len());
        Ok(Self { envs: RustVecEnv::new(envs), space, bounds, obs_dim, n_stages, reset_done: false })
    }

    /// Raises unless `policy` is a learned policy whose `choose` indexes these environments' action set.
    fn check_policy(&self, policy: PyRef<'_, Policy>) -> PyResult<()> {
        let first = self.envs.envs().next().expect("num_envs >= 1");
        policy.check_steps_in(first.action_set())
    }

    /// Every environment's expert choice for its latest observation, `num_envs x len(nvec)`.
    fn expert_actions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<i64>>> {
        let mut choices = Vec::with_capacity(self.envs.num_envs() * self.space.nvec.len());
        for env in self.envs.envs() {
            let choice = expert_choice(env, "expert_actions")?;
            choices.extend(choice.iter().map(|&c| c as i64));
        }
        PyArray1::from_vec(py, choices).reshape([self.envs.num_envs(), self.space.nvec.len()])
    }

    /// Resets every environment (env `i` with `seed + i`); returns the `num_envs x obs_dim` observations.
    fn reset<'py>(&mut self, py: Python<'py>, seed: u64) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let envs = &mut self.envs;
        let obs = py.detach(|| envs.reset(seed));
        self.reset_done = true;
        PyArray1::from_vec(py, obs).reshape([self.envs.num_envs(), self.obs_dim])
    }

    /// Steps every environment: `(obs, rewards, terminated, truncated, final_obs, ended, infos)`, where
    /// `final_obs` holds, in the rows where `ended`, the observation each finished episode ended on
    /// (`obs` there is the next episode's first), and `infos` every environment's step report as arrays.
    #[allow(clippy::type_complexity)] // the batch's arrays
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        actions: PyReadonlyArray2<'py, i64>,
    ) -> PyResult<(
        Bound<'py, PyArray2<f32>>,
        Bound<'py, PyArray1<f64>>,
        Bound<'py, PyArray1<bool>>,
        Bound<'py, PyArray1<bool>>,
        Bound<'py, PyArray2<f32>>,
        Bound<'py, PyArray1<bool>>,
        Bound<'py, PyDict>,
    )> {
        if !self.reset_done {
            return Err(value_error("step: call reset first"));
        }
        let n = self.envs.num_envs();
        if actions.as_array().nrows() != n {
            let rows = actions.as_array().nrows();
            return Err(value_error(format!("actions: expected {n} rows (one per environment), got {rows}")));
        }
        let actions = action_rows(&self.space, &actions)?;
        let envs = &mut self.envs;
        let step = py.detach(|| envs.step(&actions));
        let ended: Vec<bool> = step.final_obs.iter().map(Option::is_some).collect();
        let mut final_obs = vec![0.0; n * self.obs_dim];
        for (row, last) in final_obs.chunks_mut(self.obs_dim).zip(&step.final_obs) {
            if let Some(last) = last {
                row.copy_from_slice(last);
            }
        }
        let shape = [n, self.obs_dim];
        Ok((
            PyArray1::from_vec(py, step.obs).reshape(shape)?,
            PyArray1::from_iter(py, step.rewards.iter().map(|&r| f64::from(r))),
            PyArray1::from_vec(py, step.terminated),
            PyArray1::from_vec(py, step.truncated),
            PyArray1::from_vec(py, final_obs).reshape(shape)?,
            PyArray1::from_vec(py, ended),
            info_arrays(py, &step.infos)?,
        ))
    }

    /// Resets with `seed` and applies `actions` (`steps x num_envs x len(nvec)`) in a Rust loop, with
    /// autoreset: the rewards (`steps x num_envs`) and the wall time of the loop in seconds.
    fn replay<'py>(
        &mut self,
        py: Python<'py>,
        seed: u64,
        actions: PyReadonlyArray3<'py, i64>,
    ) -> PyResult<(Bound<'py, PyArray2<f64>>, f64)> {
        let n = self.envs.num_envs();
        let array = actions.as_array();
        if array.shape()[1] != n {
            let found = array.shape()[1];
            return Err(value_error(format!("actions: expected {n} environments per step, got {found}")));
        }
        let steps: Vec<Vec<Vec<usize>>> = array
            .outer_iter()
            .map(|step| step.outer_iter().map(|row| checked_action(&self.space, &row.to_vec())).collect())
            .collect::<PyResult<_>>()?;
        let envs = &mut self.envs;
        let (rewards, seconds) = py.detach(|| {
            let started = Instant::now();
            envs.reset(seed);
            let mut rewards = Vec::with_capacity(steps.len() * n);
            for actions in &steps {
                rewards.extend(envs.step(actions).rewards.iter().map(|&r| f64::from(r)));
            }
            (rewards, started.elapsed().as_secs_f64())
        });
        self.reset_done = true;
        Ok((PyArray1::from_vec(py, rewards).reshape([steps.len(), n])?, seconds))
    }

    /// The observation's feature names.
    #[getter]
    fn feature_names(&self) -> Vec<String> {
        feature_names(self.n_stages)
    }

    /// Choices per action dimension (VM choice, share choice, per stage).
    #[getter]
    fn nvec(&self) -> Vec<usize> {
        self.space.nvec.clone()
    }

    /// Per-feature bounds of the observation.
    #[getter]
    fn observation_bounds(&self) -> (Vec<f32>, Vec<f32>) {
        (self.bounds.low.clone(), self.bounds.high.clone())
    }

    /// Every environment's action mask, `num_envs x sum(nvec)`.
    fn action_masks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<bool>>> {
        let per_env = self.space.total_choices();
        let mut masks = vec![true; self.envs.num_envs() * per_env];
        self.envs.action_masks(&mut masks);
        PyArray1::from_vec(py, masks).reshape([self.envs.num_envs(), per_env])
    }
}

/// What a loaded policy is: an exported actor (which also names its discrete choices) or any other
/// (a rule, or a learned-forecast planner, which sets VM targets outright).
enum Loaded {
    Learned(Box<Learned>),
    Rule(Box<dyn serflow_policies::Policy>),
}

/// A policy a controller embeds: a built-in by name or an exported policy file.
#[pyclass(module = "serflow._serflow")]
struct Policy {
    policy: Mutex<Loaded>,
    name: String,
    n_stages: usize,
}

impl Loaded {
    fn policy(&mut self) -> &mut dyn serflow_policies::Policy {
        match self {
            Loaded::Learned(p) => p.as_mut(),
            Loaded::Rule(p) => p.as_mut(),
        }
    }
}

impl Policy {
    /// The action set a learned policy's `choose` indexes; an error for a rule, which has none.
    fn action_set(&self, what: &str) -> PyResult<ActionSet> {
        match &*self.policy.lock().expect("policy lock") {
            Loaded::Learned(policy) => Ok(policy.file().action_set.clone()),
            Loaded::Rule(_) => Err(value_error(format!(
                "{}: {what}: only a learned policy exported by `serflow train` picks environment actions (a rule or a planner sets VM targets: use act)",
                self.name
            ))),
        }
    }

    /// Whether `choose` steps an environment deciding with `env_set` as `act` decides.
    fn check_steps_in(&self, env_set: &ActionSet) -> PyResult<()> {
        if self.action_set("check_policy")? == *env_set {
            return Ok(());
        }
        Err(value_error(format!(
            "{}: was trained in another action set than this environment's, so its choices would step as \
             other actions; build the environment with the policy's action_options",
            self.name
        )))
    }

    /// An observation given as a float32 array, or any sequence of numbers (float64 arrays, lists),
    /// checked to fit the policy.
    fn observation(
        &self,
        obs: &Bound<'_, PyAny>,
        policy: &dyn serflow_policies::Policy,
    ) -> PyResult<Observation> {
        let values = match obs.extract::<PyReadonlyArray1<'_, f32>>() {
            Ok(array) => array.as_array().to_vec(),
            Err(_) => {
                obs.extract::<Vec<f32>>().map_err(|_| value_error("obs: expected a sequence of numbers"))?
            }
        };
        let obs =
            Observation::from_values(self.n_stages, values).map_err(|e| value_error(format!("obs: {e}")))?;
        policy.check(&obs).map_err(|e| value_error(format!("obs: {e}")))?;
        Ok(obs)
    }
}

#[pymethods]
impl Policy {
    /// The policy `name` (a built-in, `learned`, or a policy file) configured for `scenario`.
    #[staticmethod]
    #[pyo3(signature = (name, scenario = "default", calibration = None))]
    fn load(name: &str, scenario: &str, calibration: Option<&str>) -> PyResult<Self> {
        let scenario = ScenarioOptions::named(scenario).load(&keyword).map_err(value_error)?;
        warn_about(&scenario)?;
        let n_stages = scenario.n_stages();
        let file = serflow_env::names_a_file(name);
        let loaded = if file || name == "learned" {
            let policy = if file { load_learned(name, &scenario) } else { shipped_learned(&scenario) };
            let policy = policy.map_err(value_error)?;
            warn_caveat(&registry(&scenario, calibration)?, name)?;
            match policy {
                TrainedPolicy::Actor(actor) => Loaded::Learned(actor),
                planner => Loaded::Rule(planner.into_policy()),
            }
        } else if name == "oracle" {
            return Err(value_error(
                "oracle: plans with one episode's future arrivals, so it cannot act online; use simulate or compare",
            ));
        } else {
            Loaded::Rule(registry(&scenario, calibration)?.build(name).map_err(value_error)?)
        };
        Ok(Self { policy: Mutex::new(loaded), name: name.to_string(), n_stages })
    }

    /// Forgets history (EWMA state, timers): call at the start of an episode.
    fn reset(&self) {
        self.policy.lock().expect("policy lock").policy().reset();
    }

    /// The action for `obs`: per stage, the VM target, the share offered to VMs and the optional
    /// per-second cap on it, as a dict of three lists.
    fn act<'py>(&self, py: Python<'py>, obs: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let mut guard = self.policy.lock().expect("policy lock");
        let policy = guard.policy();
        let obs = self.observation(obs, policy)?;
        let mut action = Action::faas_only(self.n_stages);
        policy.act(&obs, &mut action);
        let d = PyDict::new(py);
        d.set_item("vm_target", action.stages.iter().map(|s| s.vm_target).collect::<Vec<_>>())?;
        d.set_item("vm_share", action.stages.iter().map(|s| s.vm_share).collect::<Vec<_>>())?;
        d.set_item("vm_rate_limit", action.stages.iter().map(|s| s.vm_rate_limit).collect::<Vec<_>>())?;
        Ok(d)
    }

    /// For a learned policy: the environment action (one index per dimension) it picks for `obs`,
    /// the masked argmax of its logits.
    fn choose<'py>(&self, py: Python<'py>, obs: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let mut guard = self.policy.lock().expect("policy lock");
        let Loaded::Learned(policy) = &mut *guard else {
            return Err(value_error(format!(
                "{}: choose: only a learned policy exported by `serflow train` picks environment actions (a rule or a planner sets VM targets: use act)",
                self.name
            )));
        };
        let obs = self.observation(obs, policy.as_ref())?;
        Ok(PyArray1::from_iter(py, policy.choose(&obs).iter().map(|&i| i as i64)))
    }

    /// For a learned policy: the environment keyword arguments of the action set it was trained in
    /// (`ServingEnv(scenario=..., **policy.action_options)` steps `choose`'s actions as `act` decides).
    #[getter]
    fn action_options<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let choices = ActionChoices::of(&self.action_set("action_options")?)
            .map_err(|e| value_error(format!("{}: {e}", self.name)))?;
        // As the policy file writes them (1.11, not 1.1100000143): they round-trip to the same f32.
        let decimal = |x: f32| x.to_string().parse::<f64>().expect("a float's own digits");
        let decimals = |xs: Vec<f32>| xs.into_iter().map(decimal).collect::<Vec<_>>();
        let d = PyDict::new(py);
        d.set_item("vm_need_multiples", decimals(choices.vm_need_multiples))?;
        d.set_item("vm_shares", decimals(choices.vm_shares))?;
        d.set_item("vm_scale_in_tolerance", decimal(choices.vm_scale_in_tolerance))?;
        d.set_item("vm_need_leads", decimals(choices.vm_need_leads))?;
        d.set_item("vm_offer_slo_capacity", choices.vm_offer_slo_capacity)?;
        d.set_item("vm_scale_in_window", choices.vm_scale_in_window)?;
        Ok(d)
    }

    /// The name it was loaded by.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }
}

/// One episode of `policy` (as `serflow simulate --json`), as JSON.
#[pyfunction]
#[pyo3(signature = (policy, seed, scenario, calibration = None))]
fn simulate(
    py: Python<'_>,
    policy: &str,
    seed: u64,
    scenario: ScenarioArgs,
    calibration: Option<&str>,
) -> PyResult<String> {
    let scenario = scenario.load()?;
    let registry = registry(&scenario, calibration)?;
    check_policies(&registry, [policy])?;
    let report = py.detach(|| {
        let mut policy = if policy == "oracle" {
            registry.build_for_episode(policy, &stage_arrivals(&scenario, seed, &|| {}))?
        } else {
            registry.build(policy)?
        };
        Ok::<_, serflow_env::ScenarioError>(run_episode(&scenario, policy.as_mut(), seed, |_, _| {}))
    });
    serde_json::to_string(&report.map_err(value_error)?).map_err(value_error)
}

/// Policies side by side over the same seeds, per trace when several are given (as `serflow compare
/// --json`), as JSON. `first_seed` is a number or a range name (train, selection, heldout).
#[pyfunction]
#[pyo3(signature = (policies, seeds, first_seed, scenario, calibration = None))]
fn compare(
    py: Python<'_>,
    policies: Vec<String>,
    seeds: u64,
    first_seed: &str,
    scenario: ScenarioArgs,
    calibration: Option<&str>,
) -> PyResult<String> {
    let first = parse_first_seed(first_seed).map_err(|e| value_error(format!("first_seed: {e}")))?;
    let seeds = seed_range(first, seeds, "first_seed", "seeds").map_err(value_error)?;
    let scenarios = scenario.options().load_each(&keyword).map_err(value_error)?;
    scenarios.iter().try_for_each(|(_, scenario)| warn_about(scenario))?;
    let mut runs = Vec::new();
    for (trace, scenario) in &scenarios {
        let registry = registry(scenario, calibration)?;
        let names = if policies.is_empty() { registry.default_policies() } else { policies.clone() };
        check_policies(&registry, names.iter().map(String::as_str))?;
        let comparison = py
            .detach(|| compare_policies(scenario, &registry, &names, &seeds, trace.as_deref(), &|| {}))
            .map_err(value_error)?;
        runs.extend(comparison.runs);
    }
    serde_json::to_string(&runs).map_err(value_error)
}

/// Writes a policy file from a trained actor (hidden layers tanh, the last linear; `layers` are
/// `(weights, biases)` with weights `inputs x outputs`) and the observation normaliser it was trained
/// with (`(obs - obs_mean) / obs_std`, clipped to `obs_clip`), reading the last `frame_stack` such
/// observations, for `scenario` and the action set the environment was built with. Written
/// atomically; checked to load before it is.
#[pyfunction]
#[pyo3(signature = (path, layers, obs_mean, obs_std, obs_clip, scenario, actions, frame_stack, notes))]
#[allow(clippy::too_many_arguments)] // the policy file's parts, one each
fn write_policy_file(
    path: &str,
    layers: Vec<(PyReadonlyArray2<'_, f32>, PyReadonlyArray1<'_, f32>)>,
    obs_mean: Vec<f32>,
    obs_std: Vec<f32>,
    obs_clip: f32,
    scenario: &str,
    actions: ActionArgs,
    frame_stack: i64,
    notes: String,
) -> PyResult<()> {
    let frame_stack = usize::try_from(frame_stack)
        .map_err(|_| value_error(format!("frame_stack: must be at least 1, got {frame_stack}")))?;
    let scenario = ScenarioOptions::named(scenario).load(&keyword).map_err(value_error)?;
    let action_set = actions.action_set(&scenario)?;
    let layers = layers
        .iter()
        .map(|(w, b)| {
            let w = w.as_array();
            Dense {
                inputs: w.nrows(),
                outputs: w.ncols(),
                weights: w.iter().copied().collect(),
                biases: b.as_array().to_vec(),
            }
        })
        .collect();
    let normaliser = (obs_mean, obs_std, obs_clip);
    let file = learned_policy_file(&scenario, Mlp { layers }, normaliser, action_set, frame_stack, notes);
    file.save(Path::new(path)).map_err(value_error)
}

/// The built-in scenario names and the policy names with one line each.
#[pyfunction]
fn catalogue() -> (Vec<String>, Vec<(String, String)>) {
    let scenarios = serflow_env::scenario::BUILTINS.iter().map(|b| b.0.to_string()).collect();
    let policies =
        serflow_env::registry::POLICIES.iter().map(|(n, d)| (n.to_string(), d.to_string())).collect();
    (scenarios, policies)
}

#[pymodule]
fn _serflow(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Env>()?;
    m.add_class::<VecEnv>()?;
    m.add_class::<Policy>()?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(compare, m)?)?;
    m.add_function(wrap_pyfunction!(write_policy_file, m)?)?;
    m.add_function(wrap_pyfunction!(catalogue, m)?)?;
    Ok(())
}
