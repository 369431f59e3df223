//! serflow-env: the staged VM/FaaS inference system as a reproducible discrete-event simulator behind
//! a Gymnasium-style environment.
//!
//! Determinism contract: a simulation is a pure function of (scenario, seed, actions). Time is integer
//! microseconds, events at the same time run in the order they were scheduled, and each component
//! draws from its own random stream derived from the seed. Same inputs, bit-identical outputs, on any
//! number of threads.
//!
//! - [`scenario`]: the RON scenario format, validation, built-in scenarios.
//! - [`engine`]: simulated time and the event queue.
//! - [`dist`], [`rng`]: distributions and per-component random streams.
//! - [`vm_pool`], [`faas`], [`network`], [`workload`]: the system's parts.
//! - [`limits`]: what one episode may ask for, checked before it starts.
//! - [`profile`]: the offline profiling heuristics rely on.
//! - [`sim`]: the simulator; [`reward`]: an interval's reward and its parts; [`metrics`]: its reports; [`episode`]: running a policy through it.
//! - [`env`](mod@env), [`vec_env`], [`cartpole`]: the RL-facing environments.
//! - [`registry`]: policies by name; [`comparison`]: policies side by side over seeds; [`seeds`]: the
//!   named seed ranges. Here rather than in the agent so that every front end (the `serflow` binary,
//!   the Python package) offers the same policies without a deep-learning framework.

pub mod cartpole;
pub mod comparison;
pub mod dist;
pub mod engine;
pub mod env;
pub mod episode;
pub mod error;
pub mod expert;
pub mod faas;
pub mod limits;
pub mod metrics;
pub mod network;
pub mod profile;
pub mod registry;
pub mod reward;
pub mod rng;
pub mod scenario;
pub mod seeds;
pub mod sim;
pub mod vec_env;
pub mod vm_pool;
pub mod workload;

pub use env::{ActionChoices, BoxSpace, Env, MultiDiscrete, ServingEnv, Step, action_set_for};
pub use episode::run_episode;
pub use error::ScenarioError;
pub use metrics::EpisodeReport;
pub use scenario::{Horizon, Scenario, ScenarioConfig, ScenarioOptions};
pub use sim::{IntervalReport, Simulator};
pub use vec_env::{VecEnv, VecEnvState, VecStep};

/// Whether a name given for a scenario or a policy names a file (it ends `.ron` or holds a `/`)
/// rather than a built-in.
pub fn names_a_file(name: &str) -> bool {
    name.ends_with(".ron") || name.contains('/')
}
