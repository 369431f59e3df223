//! Running a [`Policy`] through whole episodes: what `simulate`, `compare` and evaluation share.

use crate::metrics::EpisodeReport;
use crate::scenario::Scenario;
use crate::sim::{IntervalReport, Simulator};
use serflow_policies::{Action, Policy};
use std::sync::Arc;

/// Runs one episode of `scenario` with `seed` under `policy`, calling `on_interval` after every
/// control interval (for progress bars and timelines), and returns the episode's report.
pub fn run_episode(
    scenario: &Arc<Scenario>,
    policy: &mut dyn Policy,
    seed: u64,
    mut on_interval: impl FnMut(&Simulator, &IntervalReport),
) -> EpisodeReport {
    let mut sim = Simulator::new(scenario.clone(), seed);
    let mut action = Action::faas_only(scenario.n_stages());
    policy.reset();
    while !sim.at_horizon() {
        policy.act(sim.observation(), &mut action);
        let report = sim.step(&action);
        on_interval(&sim, &report);
    }
    sim.finish(policy.name())
}
