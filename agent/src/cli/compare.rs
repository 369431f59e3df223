//! `serflow compare`: every policy over the same seeds, side by side with the hindsight floor.

use super::simulate::thousands;
use super::{ScenarioArgs, progress, seed_range};
use anyhow::Result;
use clap::Args;
use rayon::prelude::*;
use serflow_agent::comparison::{Row, Run, floor, run_policy};
use serflow_agent::registry::{POLICIES, PolicyRegistry};
use serflow_env::Scenario;
use serflow_policies::SystemProfile;
use serflow_policies::hindsight::FluidFloor;

/// Arguments of `serflow compare`.
#[derive(Args, Debug)]
pub struct CompareArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Comma-separated policies: faas-only, vm-only, libra, serflow, learned, or policy files (.ron).
    #[arg(long, value_delimiter = ',', default_value = "faas-only,vm-only,libra,serflow,learned")]
    policies: Vec<String>,
    /// Number of seeds; every policy sees the same seeds.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// The first seed (seeds are FIRST..FIRST+SEEDS). Training uses seeds from 1 up and evaluates on
    /// 1000000 up; pick another range for held-out figures.
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// Print a JSON array of the `simulate --json` objects (with the floor of each seed).
    #[arg(long, conflicts_with_all = ["csv", "markdown"])]
    json: bool,
    /// Print the table as CSV.
    #[arg(long, conflicts_with = "markdown")]
    csv: bool,
    /// Print the table as Markdown (for reports).
    #[arg(long)]
    markdown: bool,
    /// Print the offline profile (capacities, FaaS cost per request, T-CIP, S-CIP) the heuristics use.
    #[arg(long)]
    explain: bool,
}

pub fn run(args: CompareArgs) -> Result<()> {
    let seeds = seed_range(args.first_seed, args.seeds, "--seeds")?;
    let scenario = args.scenario.load()?;
    let registry = PolicyRegistry::new(&scenario);
    for name in &args.policies {
        registry.build(name)?; // reject unknown names before any work
    }
    if args.explain {
        print!("{}", explain(&scenario, registry.profile()));
    }
    let steps = scenario.steps_per_episode() as u64;
    let bar = progress(steps * args.seeds * (args.policies.len() as u64 + 1), "compare");
    let tick = || bar.inc(1);
    let floors: Vec<FluidFloor> =
        seeds.par_iter().map(|&seed| floor(&scenario, registry.profile(), seed, &tick)).collect();
    let mut runs = Vec::with_capacity(seeds.len() * args.policies.len());
    for name in &args.policies {
        let reports = run_policy(&scenario, &registry, name, &seeds, &tick)?;
        runs.extend(reports.into_iter().zip(&floors).map(|(report, floor)| Run {
            report,
            floor: floor.clone(),
            first_stage_vms_vs_rate: None,
        }));
    }
    bar.finish_and_clear();
    let rows: Vec<Row> = args
        .policies
        .iter()
        .zip(runs.chunks(seeds.len()))
        .map(|(name, chunk)| Row::new(name, &chunk.iter().collect::<Vec<_>>()))
        .collect();
    if args.json {
        println!("{}", serde_json::to_string(&runs)?);
    } else if args.csv {
        print!("{}", csv(&rows));
    } else {
        let mean_floor = floors.iter().map(|f| f.total).sum::<f64>() / floors.len() as f64;
        let header = header(&scenario, &seeds, mean_floor);
        if args.markdown {
            print!("{header}\n{}", markdown(&rows));
        } else {
            print!("{header}\n{}", table(&rows));
        }
    }
    Ok(())
}

/// The line above the table: scenario, seeds, SLO and the mean hindsight floor.
pub fn header(scenario: &Scenario, seeds: &[u64], floor: f64) -> String {
    let range = match (seeds.first(), seeds.last()) {
        (Some(first), Some(last)) if first != last => format!("seeds {first}..={last}"),
        (Some(first), _) => format!("seed {first}"),
        _ => "no seeds".into(),
    };
    format!(
        "scenario {}: {} s per episode, mean over {} ({range}); SLO {} ms for {:.2} %; hindsight floor ${:.4}\n",
        scenario.config.name,
        scenario.config.horizon_s,
        seeds.len(),
        scenario.config.slo.latency_ms,
        scenario.config.slo.attainment_target * 100.0,
        floor
    )
}

/// Column titles of the table and the Markdown report.
const COLUMNS: [&str; 13] = [
    "policy",
    "cost $",
    "VM $",
    "FaaS $",
    "/floor",
    "attained %",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "VM-hours",
    "FaaS runs",
    "VM cold",
    "FaaS cold",
];

/// A row's cells, formatted; the attainment carries `!` when below target.
fn cells(r: &Row) -> [String; 13] {
    [
        r.policy.clone(),
        format!("{:.4}", r.cost_total),
        format!("{:.4}", r.cost_vm),
        format!("{:.4}", r.cost_faas),
        format!("{:.2}", r.cost_vs_floor),
        format!("{:.3}{}", r.slo_attainment * 100.0, if r.meets_target { "" } else { "!" }),
        format!("{:.1}", r.p50_ms),
        format!("{:.1}", r.p95_ms),
        format!("{:.1}", r.p99_ms),
        format!("{:.2}", r.vm_hours),
        thousands(r.faas_invocations.round() as u64),
        format!("{:.1}", r.vm_cold_starts),
        format!("{:.1}", r.faas_cold_starts),
    ]
}

fn footnote(rows: &[Row]) -> &'static str {
    if rows.iter().any(|r| !r.meets_target) { "\n! below the SLO attainment target\n" } else { "" }
}

/// The aligned text table: policy names left, numbers right.
pub fn table(rows: &[Row]) -> String {
    let all: Vec<[String; 13]> =
        std::iter::once(COLUMNS.map(String::from)).chain(rows.iter().map(cells)).collect();
    let widths: Vec<usize> =
        (0..COLUMNS.len()).map(|c| all.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in &all {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &w))| if c == 0 { format!("{cell:<w$}") } else { format!("{cell:>w$}") })
            .collect();
        out += line.join("  ").trim_end();
        out.push('\n');
    }
    out + footnote(rows)
}

/// The table as Markdown.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = format!("| {} |\n|{}\n", COLUMNS.join(" | "), "---|".repeat(COLUMNS.len()));
    for r in rows {
        out += &format!("| {} |\n", cells(r).join(" | "));
    }
    out + footnote(rows)
}

fn csv(rows: &[Row]) -> String {
    let mut out = String::from(
        "policy,seeds,cost_total,cost_vm,cost_faas,cost_vs_floor,slo_attainment,meets_target,p50_ms,p95_ms,p99_ms,vm_hours,faas_invocations,vm_cold_starts,faas_cold_starts\n",
    );
    for r in rows {
        out += &format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.policy,
            r.seeds,
            r.cost_total,
            r.cost_vm,
            r.cost_faas,
            r.cost_vs_floor,
            r.slo_attainment,
            r.meets_target,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            r.vm_hours,
            r.faas_invocations,
            r.vm_cold_starts,
            r.faas_cold_starts
        );
    }
    out
}

/// The offline profile as a table (`--explain`).
pub fn explain(scenario: &Scenario, p: &SystemProfile) -> String {
    let mut out = format!(
        "offline profile of {}: VM {} at ${:.4}/h (${:.3e}/s), mean boot {:.0} s; mean front-end rate {:.1} req/s\n",
        scenario.config.name,
        scenario.config.vm.name,
        p.vm_price_per_s * 3600.0,
        p.vm_price_per_s,
        p.vm_boot_s,
        p.mean_rate_rps
    );
    out += "T-CIP = VM $/s / FaaS $/request; S-CIP = T-CIP / front-end rate; a stage whose (conservative) reach is below S-CIP stays on FaaS\n\n";
    out += &format!(
        "{:<10} {:>7} {:>12} {:>12} {:>13} {:>10} {:>8} {:>14}\n",
        "stage", "reach", "VM req/s", "VM SLO req/s", "FaaS $/req", "T-CIP/s", "S-CIP", "at mean rate"
    );
    for st in &p.stages {
        let scip = p.scip(p.stages.iter().position(|s| s.name == st.name).unwrap_or(0), p.mean_rate_rps);
        out += &format!(
            "{:<10} {:>7.4} {:>12.1} {:>12.1} {:>13.3e} {:>10.2} {:>8.4} {:>14}\n",
            st.name,
            st.nominal_reach,
            st.vm_throughput_rps,
            st.vm_slo_capacity_rps,
            st.faas_cost_per_request,
            st.tcip_rps,
            scip,
            if st.nominal_reach >= scip && st.vm_slo_capacity_rps >= st.tcip_rps {
                "VMs + FaaS"
            } else {
                "FaaS"
            }
        );
    }
    out += "\npolicies: ";
    out += &POLICIES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    out += "\n\n";
    out
}
