//! The one trait every policy implements, so the simulator, the trainer's evaluation and a production
//! controller drive heuristic and learned policies the same way.

use crate::schema::{Action, Observation};

/// A control policy: once per control interval it reads an [`Observation`] and writes an [`Action`].
///
/// `act` writes into a caller-owned action so that a policy need not allocate per decision. The
/// observation has been checked against the policy's stage count by the caller
/// ([`Observation::check`]); implementations may index it freely.
pub trait Policy: Send {
    /// A short, stable name (`faas-only`, `libra`, ...), used in reports.
    fn name(&self) -> &str;

    /// Forgets history (EWMA state, timers) at the start of an episode.
    fn reset(&mut self) {}

    /// Decides the next interval's action.
    fn act(&mut self, obs: &Observation, action: &mut Action);
}
