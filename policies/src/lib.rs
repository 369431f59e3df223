//! serflow-policies: what a controller embeds to autoscale a staged VM/FaaS inference service.
//!
//! The crate is the contract between the simulator, the trainer and a real control plane, so it depends
//! on `serde` and `ron` only. Every policy, learned or heuristic, reads the same versioned
//! [`Observation`] and writes the same [`Action`].
//!
//! - [`schema`]: observation features (names, meaning, units), the action, the discrete action set.
//! - [`policy`]: the [`Policy`] trait every controller drives.
//! - [`baselines`]: policies that need no training.

pub mod baselines;
pub mod policy;
pub mod schema;

pub use policy::Policy;
pub use schema::{
    Action, ActionSet, GlobalFeature, Observation, ObservationError, SCHEMA_VERSION, StageAction,
    StageFeature,
};
