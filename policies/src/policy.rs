//! The one trait every policy implements, so the simulator, the trainer's evaluation and a production
//! controller drive heuristic and learned policies the same way.

use crate::schema::{Action, Observation, ObservationError};

/// A control policy: once per control interval it reads an [`Observation`] and writes an [`Action`].
///
/// `act` writes into a caller-owned action so that a policy need not allocate per decision. Callers
/// pass only observations that [`Policy::check`] accepted; implementations may index them freely.
pub trait Policy: Send {
    /// A short, stable name (`faas-only`, `libra`, ...), used in reports.
    fn name(&self) -> &str;

    /// Checks that `obs` fits this policy (stage count, length, finite values). The default accepts
    /// any observation; policies with a fixed input shape override it. Drivers call it before `act`.
    fn check(&self, obs: &Observation) -> Result<(), ObservationError> {
        let _ = obs;
        Ok(())
    }

    /// Forgets history (EWMA state, timers) at the start of an episode.
    fn reset(&mut self) {}

    /// Decides the next interval's action.
    fn act(&mut self, obs: &Observation, action: &mut Action);
}

/// A boxed policy (as the registry builds them) is a policy.
impl<P: Policy + ?Sized> Policy for Box<P> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn check(&self, obs: &Observation) -> Result<(), ObservationError> {
        (**self).check(obs)
    }

    fn reset(&mut self) {
        (**self).reset();
    }

    fn act(&mut self, obs: &Observation, action: &mut Action) {
        (**self).act(obs, action);
    }
}
