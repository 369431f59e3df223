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

    /// How many stages this policy controls, where that is fixed (a rule sized from a system
    /// profile, a learned policy); `None` for one that acts on any number (`faas-only`).
    fn n_stages(&self) -> Option<usize> {
        None
    }

    /// Checks that `obs` fits this policy: the stage count of [`Policy::n_stages`], the length
    /// that count gives, finite values, and none negative but `rate_trend`
    /// ([`Observation::check`]). Drivers call it before `act`, so a policy may index freely and
    /// never act on a glitch in the metrics (a rate taken across a counter reset).
    fn check(&self, obs: &Observation) -> Result<(), ObservationError> {
        obs.check(self.n_stages().unwrap_or(obs.n_stages()))
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

    fn n_stages(&self) -> Option<usize> {
        (**self).n_stages()
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
