//! serflow-agent: PPO on Burn for the serflow environments, with TensorBoard logging, checkpoints
//! that resume exactly, and export to the backend-free policy format.
//!
//! - [`networks`]: actor and critic (plain `f32` parameters, Burn tensors for training).
//! - [`normalizer`]: observation normalisation and reward scaling statistics; [`frames`]: the
//!   stacked observation history the networks read.
//! - [`adam`]: the optimiser step and global gradient clipping.
//! - [`rollout`]: experience storage and GAE; [`credit`]: which reward parts each decision answers for.
//! - [`ppo`]: hyper-parameters and the clipped actor-critic update.
//! - [`task`]: what the trainer needs from an environment (evaluation, reference lines, SLO).
//! - [`train`]: the training loop and its resumable state; [`checkpoint`]: atomic save and load.
//! - [`logging`]: TensorBoard curves; [`export`]: the backend-free policy file.
//! - [`forecaster`]: the forecaster `production`'s shipped planner plans on, and its fit.
//! - [`tune`]: calibration of the rule-based baselines (policies by name, comparisons and the named
//!   seed ranges are `serflow_env`'s, so the Python package shares them without Burn).
//! - [`sim_cluster`]: the simulator behind the controller's metrics and actuator traits.

pub mod adam;
pub mod checkpoint;
pub mod config;
pub mod credit;
pub mod error;
pub mod export;
pub mod files;
pub mod forecaster;
pub mod frames;
pub mod imitation;
pub mod logging;
pub mod networks;
pub mod normalizer;
pub mod plan;
pub mod ppo;
pub mod rollout;
pub mod sim_cluster;
pub mod task;
pub mod train;
pub mod tune;
