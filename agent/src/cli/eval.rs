//! `serflow eval`: one policy over several episodes, the `compare` metrics, and per-interval
//! timelines (arrival rate, VMs, FaaS share, cost rate, stage p95 latency) as TensorBoard scalars and
//! CSV, so policies can be compared by eye.

use super::compare::{header, table};
use super::{ScenarioArgs, progress, seed_range};
use anyhow::Result;
use clap::Args;
use rayon::prelude::*;
use serflow_agent::comparison::{Row, Run, floor, pearson};
use serflow_agent::files::write_atomic;
use serflow_agent::logging::RunLog;
use serflow_agent::registry::PolicyRegistry;
use serflow_env::run_episode;
use serflow_policies::{GlobalFeature, Observation, StageFeature};
use std::path::PathBuf;

/// Arguments of `serflow eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// A built-in policy (faas-only, vm-only, libra, serflow, learned) or a policy file (.ron).
    #[arg(long, default_value = "serflow")]
    policy: String,
    /// Episodes (seeds FIRST..FIRST+N).
    #[arg(long, default_value_t = 5)]
    episodes: u64,
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// Write timelines here: TensorBoard runs `<policy>-seed<N>/` and `<policy>-timeline.csv`.
    #[arg(long, value_name = "DIR")]
    logdir: Option<PathBuf>,
    /// Print the runs as a JSON array of `simulate --json` objects (with floors).
    #[arg(long)]
    json: bool,
}

/// One interval of one episode.
struct Point {
    time_s: f64,
    obs: Observation,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let seeds = seed_range(args.first_seed, args.episodes, "--episodes")?;
    let scenario = args.scenario.load()?;
    let registry = PolicyRegistry::new(&scenario);
    registry.build(&args.policy)?;
    let bar = progress(scenario.steps_per_episode() as u64 * args.episodes * 2, "eval");
    let results: Vec<(Run, Vec<Point>)> = seeds
        .par_iter()
        .map(|&seed| {
            let floor = floor(&scenario, registry.profile(), seed, &|| bar.inc(1));
            let mut policy = registry.build(&args.policy).expect("checked above");
            let mut timeline = Vec::with_capacity(scenario.steps_per_episode());
            let report = run_episode(&scenario, policy.as_mut(), seed, |sim, interval| {
                timeline.push(Point { time_s: interval.time_s, obs: sim.observation().clone() });
                bar.inc(1);
            });
            let vms: Vec<f64> = timeline.iter().map(|p| f64::from(p.obs.committed_vms(0))).collect();
            let rate: Vec<f64> =
                timeline.iter().map(|p| f64::from(p.obs.stage(0, StageFeature::ArrivalRate))).collect();
            let first_stage_vms_vs_rate = Some(pearson(&vms, &rate));
            (Run { report, floor, first_stage_vms_vs_rate }, timeline)
        })
        .collect();
    bar.finish_and_clear();
    let label = super::file_safe_name(&args.policy);
    if let Some(dir) = &args.logdir {
        write_timelines(dir, &label, &seeds, &results)?;
    }
    let runs: Vec<&Run> = results.iter().map(|(r, _)| r).collect();
    if args.json {
        println!("{}", serde_json::to_string(&runs)?);
    } else {
        let mean_floor = runs.iter().map(|r| r.floor.total).sum::<f64>() / runs.len() as f64;
        print!("{}\n{}", header(&scenario, &seeds, mean_floor), table(&[Row::new(&args.policy, &runs)]));
        let r: f64 = runs.iter().filter_map(|r| r.first_stage_vms_vs_rate).sum::<f64>() / runs.len() as f64;
        println!(
            "\nfirst stage's VMs vs its arrival rate over an episode: Pearson r {r:.3} (mean over seeds)"
        );
        if let Some(dir) = &args.logdir {
            println!(
                "\ntimelines: {}/{label}-seed*/ (tensorboard --logdir {0}), {0}/{label}-timeline.csv",
                dir.display()
            );
        }
    }
    Ok(())
}

fn write_timelines(
    dir: &std::path::Path,
    label: &str,
    seeds: &[u64],
    results: &[(Run, Vec<Point>)],
) -> Result<()> {
    let n_stages = results.first().map_or(0, |(r, _)| r.report.stages.len());
    let mut csv = String::from("seed,time_s,arrival_rate,cost_rate_per_h,slo_attainment");
    for k in 0..n_stages {
        csv += &format!(",stage{k}_arrival_rate,stage{k}_vms,stage{k}_faas_share,stage{k}_p95_ms");
    }
    csv.push('\n');
    for (&seed, (_, timeline)) in seeds.iter().zip(results) {
        let mut log = RunLog::tensorboard(&dir.join(format!("{label}-seed{seed}")))?;
        for p in timeline {
            let step = p.time_s.round() as u64;
            let o = &p.obs;
            let (rate, cost, att) = (
                f64::from(o.global(GlobalFeature::TotalRate)),
                f64::from(o.global(GlobalFeature::CostRate)),
                f64::from(o.global(GlobalFeature::SloAttainment)),
            );
            log.scalar("timeline/arrival_rate", rate, step);
            log.scalar("timeline/cost_rate_per_h", cost, step);
            log.scalar("timeline/slo_attainment", att, step);
            csv += &format!("{seed},{},{rate},{cost},{att}", p.time_s);
            for k in 0..n_stages {
                let stage_rate = f64::from(o.stage(k, StageFeature::ArrivalRate));
                let vms = f64::from(o.committed_vms(k));
                let share = f64::from(o.stage(k, StageFeature::FaasShare));
                let p95 = f64::from(o.stage(k, StageFeature::P95LatencyMs));
                log.scalar(&format!("timeline/arrival_rate/stage{k}"), stage_rate, step);
                log.scalar(&format!("timeline/vms/stage{k}"), vms, step);
                log.scalar(&format!("timeline/faas_share/stage{k}"), share, step);
                log.scalar(&format!("timeline/p95_ms/stage{k}"), p95, step);
                csv += &format!(",{stage_rate},{vms},{share},{p95}");
            }
            csv.push('\n');
        }
        log.flush();
    }
    Ok(write_atomic(&dir.join(format!("{label}-timeline.csv")), &csv)?)
}
