//! The discrete-event core, knowing nothing of VMs or FaaS: integer simulated time and an event queue.

pub mod queue;
pub mod time;

pub use queue::EventQueue;
pub use time::{SimDuration, SimTime};
