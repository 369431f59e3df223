//! Embeds a policy in the async controller and drives a simulated cluster in accelerated real time:
//! one 10 s control interval every 20 ms of wall time.
//!
//! `cargo run --release --example controller [-- POLICY [SCENARIO]]` (POLICY: a built-in name or a
//! policy file exported by `serflow export`; default: the shipped `learned` policy on `default`).

use serflow_agent::sim_cluster::SimulatedCluster;
use serflow_env::Scenario;
use serflow_env::registry::PolicyRegistry;
use serflow_policies::controller::{Controller, Tick};
use std::sync::Arc;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let policy_name = args.next().unwrap_or_else(|| "learned".into());
    let scenario = Arc::new(Scenario::load(&args.next().unwrap_or_else(|| "default".into()))?);
    let policy = PolicyRegistry::new(&scenario).build(&policy_name)?;
    let cluster = SimulatedCluster::new(scenario.clone(), 1);
    let ticks = scenario.steps_per_episode() as u64;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
    let (mut intervals, mut fallbacks) = (0, 0);
    runtime.block_on(async {
        let mut controller = Controller::new(
            policy,
            cluster.clone(),
            cluster.clone(),
            scenario.n_stages(),
            Duration::from_millis(200),
        );
        controller
            .run(Duration::from_millis(20), ticks, |t| {
                intervals += 1;
                fallbacks += usize::from(matches!(t, Tick::FellBack(..)));
            })
            .await;
    });
    let report = cluster.finish(&policy_name).ok_or("the episode was already finished")?;
    println!(
        "{} intervals ({} fell back): cost ${:.4}, SLO attainment {:.3} %, p99 {:.1} ms",
        intervals,
        fallbacks,
        report.cost.total,
        report.slo.attainment * 100.0,
        report.slo.p99_ms
    );
    Ok(())
}
