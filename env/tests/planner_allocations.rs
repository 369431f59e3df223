//! The learned-forecast planner is what a controller embeds: once its buffers have grown to an
//! episode's largest plan, a decision allocates nothing (counted by `allocation-counter`'s global
//! allocator, which this test binary alone links).

use serflow_env::registry::{PlannerSettings, PolicyRegistry};
use serflow_env::{Scenario, run_episode};
use serflow_policies::mlp::Mlp;
use serflow_policies::planner::SeasonalConfig;
use serflow_policies::{Action, ForecastPlanner, Observation, Policy};
use std::sync::Arc;

/// The planner, counting the allocations of its decisions.
struct Counted(ForecastPlanner, u64);

impl Policy for Counted {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn reset(&mut self) {
        self.0.reset();
    }

    fn act(&mut self, obs: &Observation, action: &mut Action) {
        self.1 += allocation_counter::measure(|| self.0.act(obs, action)).count_total;
    }
}

#[test]
fn a_planner_that_has_seen_an_episode_decides_the_next_without_allocating() {
    let scenario = Arc::new(Scenario::load("default").unwrap());
    let registry = PolicyRegistry::new(&scenario);
    // Forecasts 1.5x the last 6 rates' mean for 4 intervals: the learned path, then Holt's while
    // a stage is quiet; gated to the calibrated rule, which also acts every interval; a loose
    // seasonal test, so that some stages replay a period.
    let mut forecaster = Mlp::zeros(&[6, 8, 4]);
    forecaster.layers[1].biases = vec![1.5; 4];
    let seasonal = Some(SeasonalConfig {
        window: 30,
        min_lag: 2,
        max_lag: 60,
        correlation: 0.3,
        periods: 3,
        min_window: Some(10),
    });
    let settings = PlannerSettings { lookahead: 20, margin: 1.2, gate: Some((6, 0.5, 1)), seasonal };
    let file = registry.planner_file(forecaster, &settings, String::new()).unwrap();
    let mut planner = Counted(ForecastPlanner::new(file).unwrap(), 0);
    let first = run_episode(&scenario, &mut planner, 11, |_, _| {});
    assert!(first.vm_seconds > 0.0, "the planner ran VMs");
    assert!(planner.1 > 0, "the first episode grows the buffers (and the counter counts)");
    planner.1 = 0;
    let again = run_episode(&scenario, &mut planner, 11, |_, _| {});
    assert_eq!(again.cost.total, first.cost.total, "a reset planner decides the same episode the same way");
    assert_eq!(planner.1, 0, "allocations in 360 decisions");
}
