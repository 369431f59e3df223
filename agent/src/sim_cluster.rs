//! A simulated cluster behind the controller's traits: the simulator stands in for the metrics
//! system and the cloud API, so a [`Controller`](serflow_policies::controller::Controller) can be
//! exercised end to end (the `controller` example runs it in accelerated real time).

use serflow_env::{EpisodeReport, Scenario, Simulator};
use serflow_policies::controller::{Actuator, MetricsSource};
use serflow_policies::{Action, Observation};
use std::sync::{Arc, Mutex};

/// One simulated cluster shared by its metrics and actuator handles.
#[derive(Clone)]
pub struct SimulatedCluster {
    sim: Arc<Mutex<Option<Simulator>>>,
}

impl SimulatedCluster {
    /// A fresh episode of `scenario` with `seed`.
    pub fn new(scenario: Arc<Scenario>, seed: u64) -> Self {
        Self { sim: Arc::new(Mutex::new(Some(Simulator::new(scenario, seed)))) }
    }

    /// True once the episode's horizon is reached.
    pub fn done(&self) -> bool {
        self.sim.lock().map(|s| s.as_ref().is_none_or(Simulator::at_horizon)).unwrap_or(true)
    }

    /// Ends the episode and reports it (None if already ended).
    pub fn finish(&self, policy: &str) -> Option<EpisodeReport> {
        self.sim.lock().ok()?.take().map(|s| s.finish(policy))
    }
}

impl MetricsSource for SimulatedCluster {
    async fn observe(&mut self) -> Result<Observation, String> {
        let guard = self.sim.lock().map_err(|_| "cluster state poisoned".to_string())?;
        guard.as_ref().map(|s| s.observation().clone()).ok_or_else(|| "episode ended".into())
    }
}

impl Actuator for SimulatedCluster {
    /// Applies the action and lets one control interval of simulated time pass.
    async fn apply(&mut self, action: &Action) -> Result<(), String> {
        let mut guard = self.sim.lock().map_err(|_| "cluster state poisoned".to_string())?;
        let sim = guard.as_mut().ok_or("episode ended")?;
        if !sim.at_horizon() {
            sim.step(action);
        }
        Ok(())
    }
}
