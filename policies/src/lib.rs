//! serflow-policies: what a controller embeds to autoscale a staged VM/FaaS inference service.
//!
//! The crate is the contract between the simulator, the trainer and a real control plane, so it depends
//! on `serde` and `ron` only (plus `tokio` behind the `controller` feature). Every policy, learned or heuristic, reads the same versioned
//! [`Observation`] and writes the same [`Action`].
//!
//! - [`schema`]: observation features (names, meaning, units), the action, the discrete action set.
//! - [`policy`]: the [`Policy`] trait every controller drives.
//! - [`profile`]: what heuristics know offline (prices, capacities, T-CIP).
//! - [`baselines`]: policies that need no training: FaaS-only, VM-only, LIBRA, SERFLOW, the
//!   calibrated rules (static-best, tuned-hpa, predictive-hpa, serflow-tuned) and the forecast oracle.
//! - [`calibration`]: the file `serflow tune` writes and the calibrated rules load.
//! - [`hindsight`]: the fluid cost floor no policy can beat.
//! - [`mlp`]: the plain-`f32` network a trained policy ships as.
//! - [`learned`]: the exported policy runtime: load, validate, act.
//! - [`planner`]: the learned-forecast planner (`production`'s shipped policy): a trained forecaster
//!   fed to the oracle's planner, with a noise gate to a calibrated rule.
//! - `controller` (feature `controller`, tokio): the control loop with its fallback action.

pub mod baselines;
pub mod calibration;
#[cfg(feature = "controller")]
pub mod controller;
pub mod files;
pub mod hindsight;
pub mod learned;
pub mod mlp;
pub mod planner;
pub mod policy;
pub mod profile;
pub mod schema;

pub use learned::{Learned, LearnedPolicyFile};
pub use planner::{ForecastPlanner, ForecastPlannerFile, TrainedPolicy};
pub use policy::Policy;
pub use profile::{StageProfile, SystemProfile};
pub use schema::{
    Action, ActionSet, GlobalFeature, Observation, ObservationError, SCHEMA_VERSION, StageAction,
    StageFeature,
};
