//! The controller embedded against a simulated cluster: policy decisions reach the cluster, and a
//! metrics source that stops answering makes it fall back without stopping.

use serflow_agent::sim_cluster::SimulatedCluster;
use serflow_env::registry::PolicyRegistry;
use serflow_env::{Scenario, run_episode};
use serflow_policies::controller::{Controller, Fallback, MetricsSource, Tick};
use serflow_policies::{Observation, StageAction};
use std::sync::Arc;
use std::time::Duration;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
}

#[test]
fn the_controller_reproduces_the_offline_episode() {
    let mut config = serflow_env::scenario::load_config("default").unwrap().0;
    config.horizon_s = 600.0;
    let scenario = Arc::new(
        Scenario::from_config(config, "t", std::path::Path::new("."), serflow_env::Horizon::AsConfigured)
            .unwrap(),
    );
    let cluster = SimulatedCluster::new(scenario.clone(), 3);
    let policy = PolicyRegistry::new(&scenario).build("serflow").unwrap();
    let mut ticks = Vec::new();
    runtime().block_on(async {
        let mut c = Controller::new(policy, cluster.clone(), cluster.clone(), 4, Duration::from_secs(1));
        c.run(Duration::from_millis(1), 60, |t| ticks.push(t.clone())).await;
    });
    assert!(ticks.iter().all(|t| matches!(t, Tick::Applied(_))));
    let online = cluster.finish("serflow").unwrap();
    let mut offline_policy = PolicyRegistry::new(&scenario).build("serflow").unwrap();
    let offline = run_episode(&scenario, offline_policy.as_mut(), 3, |_, _| {});
    assert_eq!(online.cost, offline.cost, "same decisions, same episode");
}

/// Answers from the cluster until `answers` runs out, then hangs.
struct Flaky {
    cluster: SimulatedCluster,
    answers: u32,
}

impl MetricsSource for Flaky {
    async fn observe(&mut self) -> Result<Observation, String> {
        if self.answers == 0 {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        self.answers -= 1;
        self.cluster.observe().await
    }
}

#[test]
fn a_metrics_timeout_takes_the_fallback_path_and_the_loop_goes_on() {
    let scenario = Arc::new(Scenario::load("default").unwrap());
    let cluster = SimulatedCluster::new(scenario.clone(), 1);
    let policy = PolicyRegistry::new(&scenario).build("vm-only").unwrap();
    let metrics = Flaky { cluster: cluster.clone(), answers: 5 };
    let mut ticks = Vec::new();
    runtime().block_on(async {
        let mut c = Controller::new(policy, metrics, cluster.clone(), 4, Duration::from_millis(30));
        c.run(Duration::from_millis(1), 8, |t| ticks.push(t.clone())).await;
    });
    assert!(ticks[..5].iter().all(|t| matches!(t, Tick::Applied(_))));
    for t in &ticks[5..] {
        let Tick::FellBack(Fallback::MetricsTimeout, action) = t else {
            panic!("expected a timeout fallback: {t:?}")
        };
        assert!(action.stages.iter().all(|s| s.vm_share == 1.0 && s.vm_rate_limit.is_none()));
        assert_ne!(action.stages[0], StageAction::FAAS_ONLY, "VM counts are held, not dropped");
    }
}
