//! `serflow eval`: one policy over several episodes, the `compare` metrics, and per-interval
//! timelines (arrival rate, VMs, FaaS share, cost rate, stage p95 latency) as TensorBoard scalars and
//! CSV, so policies can be compared by eye.

use super::compare::{header, table};
use super::{ScenarioArgs, progress, seed_range};
use anyhow::Result;
use clap::Args;
use rayon::prelude::*;
use serflow_agent::files::write_atomic;
use serflow_agent::logging::RunLog;
use serflow_env::comparison::{Row, Run, StageArrivals, pearson, stage_arrivals};
use serflow_env::run_episode;
use serflow_env::seeds::parse_first_seed;
use serflow_policies::hindsight::fluid_floor;
use serflow_policies::{GlobalFeature, Observation, StageFeature};
use std::path::PathBuf;

/// Arguments of `serflow eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Comma-separated policies (built-in names or policy files, .ron), evaluated on the same seeds.
    #[arg(long, value_delimiter = ',', default_value = "serflow")]
    policy: Vec<String>,
    /// Episodes (seeds FIRST..FIRST+N).
    #[arg(long, default_value_t = 5)]
    episodes: u64,
    /// The first seed, or a named range: train, selection, heldout.
    #[arg(long, default_value = "1", value_parser = parse_first_seed)]
    first_seed: u64,
    /// Write timelines here: TensorBoard runs `<policy>-seed<N>/` and `<policy>-timeline.csv`.
    #[arg(long, value_name = "DIR")]
    logdir: Option<PathBuf>,
    /// Print the runs as a JSON array of `simulate --json` objects (with floors).
    #[arg(long)]
    json: bool,
    /// Draw the first seed's episode to this PNG: per stage, every policy's VMs and FaaS share
    /// against the stage's load (with several traces, one file per trace: FILE-<trace>.png).
    #[arg(long, value_name = "FILE.png")]
    plot: Option<PathBuf>,
}

/// One interval of one episode.
struct Point {
    time_s: f64,
    obs: Observation,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let seeds = seed_range(args.first_seed, args.episodes, "--episodes")?;
    if let Some(file) = &args.plot {
        super::plot::check_target(file)?;
    }
    let mut json_runs = Vec::new();
    for (trace, scenario) in args.scenario.load_each()? {
        let registry = args.scenario.registry(&scenario)?;
        super::check_policies(&registry, &args.policy)?;
        let steps = scenario.steps_per_episode() as u64;
        let bar = progress(steps * args.episodes * (args.policy.len() as u64 + 1), "eval");
        let arrivals: Vec<StageArrivals> =
            seeds.par_iter().map(|&seed| stage_arrivals(&scenario, seed, &|| bar.inc(1))).collect();
        let mut rows = Vec::new();
        let mut correlations = Vec::new();
        let mut pictured = Vec::new();
        for name in &args.policy {
            let results: Vec<(Run, Vec<Point>)> = seeds
                .par_iter()
                .zip(&arrivals)
                .map(|(&seed, future)| {
                    let mut policy = registry.build_for_episode(name, future)?;
                    let mut timeline = Vec::with_capacity(scenario.steps_per_episode());
                    let report = run_episode(&scenario, policy.as_mut(), seed, |sim, interval| {
                        timeline.push(Point { time_s: interval.time_s, obs: sim.observation().clone() });
                        bar.inc(1);
                    });
                    let vms: Vec<f64> = timeline.iter().map(|p| f64::from(p.obs.committed_vms(0))).collect();
                    let rate: Vec<f64> = timeline
                        .iter()
                        .map(|p| f64::from(p.obs.stage(0, StageFeature::ArrivalRate)))
                        .collect();
                    let run = Run {
                        report,
                        floor: fluid_floor(registry.profile(), &future.per_interval()),
                        first_stage_vms_vs_rate: Some(pearson(&vms, &rate)),
                        trace: trace.clone(),
                    };
                    Ok((run, timeline))
                })
                .collect::<Result<_, serflow_env::ScenarioError>>()?;
            let label = match &trace {
                Some(t) => format!("{}-{}", super::file_safe_name(name), super::file_safe_name(t)),
                None => super::file_safe_name(name),
            };
            if let Some(dir) = &args.logdir {
                write_timelines(dir, &label, &seeds, &results)?;
            }
            if let Some((_, timeline)) = results.first() {
                pictured.push(episode_of(name, timeline));
            }
            let runs: Vec<&Run> = results.iter().map(|(r, _)| r).collect();
            rows.push(Row::new(name, &runs));
            let r = runs.iter().filter_map(|r| r.first_stage_vms_vs_rate).sum::<f64>() / runs.len() as f64;
            correlations.push((name.clone(), label, r));
            json_runs.extend(results.into_iter().map(|(r, _)| r));
        }
        bar.finish_and_clear();
        if let Some(file) = &args.plot {
            let file = match &trace {
                Some(t) if args.scenario.trace.len() > 1 => {
                    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("plot");
                    file.with_file_name(format!("{stem}-{}.png", super::file_safe_name(t)))
                }
                _ => file.clone(),
            };
            let title = format!(
                "{}{}, seed {}",
                scenario.config.name,
                trace.as_deref().map(|t| format!(", trace {t}")).unwrap_or_default(),
                seeds[0]
            );
            super::plot::plot(&file, &title, &pictured)?;
            if !args.json {
                println!("plot: {}", file.display());
            }
        }
        if args.json {
            continue;
        }
        let mean_floor =
            arrivals.iter().map(|a| fluid_floor(registry.profile(), &a.per_interval()).total).sum::<f64>()
                / arrivals.len() as f64;
        let mut head = header(&scenario, &seeds, mean_floor);
        if let Some(t) = &trace {
            head = format!("trace {t}: {head}");
        }
        print!("{head}\n{}", table(&rows));
        println!("\nfirst stage's VMs vs its arrival rate over an episode (Pearson r, mean over seeds):");
        for (name, label, r) in &correlations {
            println!("  {name:<14} {r:.3}");
            if let Some(dir) = &args.logdir {
                println!(
                    "  {:<14} timelines: {}/{label}-seed*/ (tensorboard --logdir {1}), {1}/{label}-timeline.csv",
                    "",
                    dir.display()
                );
            }
        }
        println!();
    }
    if args.json {
        println!("{}", serde_json::to_string(&json_runs)?);
    }
    Ok(())
}

/// What the plot shows of one policy's timeline.
fn episode_of(policy: &str, timeline: &[Point]) -> super::plot::Episode {
    let n_stages = timeline.first().map_or(0, |p| p.obs.n_stages());
    let per_stage = |f: &dyn Fn(&Observation, usize) -> f64| -> Vec<Vec<f64>> {
        (0..n_stages).map(|k| timeline.iter().map(|p| f(&p.obs, k)).collect()).collect()
    };
    super::plot::Episode {
        policy: policy.to_string(),
        minutes: timeline.iter().map(|p| p.time_s / 60.0).collect(),
        rate: per_stage(&|o, k| f64::from(o.stage(k, StageFeature::ArrivalRate))),
        vms: per_stage(&|o, k| f64::from(o.committed_vms(k))),
        faas_share: per_stage(&|o, k| f64::from(o.stage(k, StageFeature::FaasShare))),
    }
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
