//! `serflow compare`: every policy over the same seeds, side by side with the hindsight floor.

use super::simulate::thousands;
use super::{ScenarioArgs, progress, seed_range};
use anyhow::Result;
use clap::Args;
use serflow_env::Scenario;
use serflow_env::comparison::{Comparison, Row, compare};
use serflow_env::registry::{CALIBRATED, POLICIES};
use serflow_env::seeds::parse_first_seed;
use serflow_policies::SystemProfile;

/// Arguments of `serflow compare`.
#[derive(Args, Debug)]
pub struct CompareArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Comma-separated policies (see --explain for the list), or policy files (.ron). Default: the
    /// published baselines, the calibrated ones when the scenario has a calibration, the oracle and
    /// the learned policy.
    #[arg(long, value_delimiter = ',')]
    policies: Vec<String>,
    /// Number of seeds; every policy sees the same seeds.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// The first seed (seeds are FIRST..FIRST+SEEDS), or a named range: train (1), selection
    /// (1000000), heldout (2000000). Report held-out figures with `heldout`.
    #[arg(long, default_value = "1", value_parser = parse_first_seed)]
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
    let scenarios = args.scenario.load_each()?;
    let mut all_runs = Vec::new();
    for (trace, scenario) in &scenarios {
        let registry = args.scenario.registry(scenario)?;
        let policies =
            if args.policies.is_empty() { registry.default_policies() } else { args.policies.clone() };
        if args.policies.is_empty()
            && !policies.iter().any(|p| p == "learned")
            && let Err(e) = registry.check("learned")
        {
            eprintln!("note: learned left out: {e}");
        }
        super::check_policies(&registry, &policies)?;
        if args.explain {
            print!("{}", explain(scenario, registry.profile()));
        }
        let steps = scenario.steps_per_episode() as u64;
        let bar = progress(steps * seeds.len() as u64 * (policies.len() as u64 + 1), "compare");
        let Comparison { rows, runs, floors } =
            compare(scenario, &registry, &policies, &seeds, trace.as_deref(), &|| bar.inc(1))?;
        bar.finish_and_clear();
        if args.json {
            all_runs.extend(runs);
        } else if args.csv {
            print!("{}", csv(&rows, trace.as_deref()));
        } else {
            let mean_floor = floors.iter().map(|f| f.total).sum::<f64>() / floors.len() as f64;
            let mut header = header(scenario, &seeds, mean_floor);
            if let Some(trace) = trace {
                header = format!("trace {trace}: {header}");
            }
            let body = if args.markdown { markdown(&rows) } else { table(&rows) };
            print!("{header}\n{body}{}", headroom(&rows));
            if scenarios.len() > 1 {
                println!();
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string(&all_runs)?);
    }
    Ok(())
}

/// The headroom line under a table with the oracle: how much cheaper than the best calibrated
/// baseline at the target the oracle is.
fn headroom(rows: &[Row]) -> String {
    let Some(oracle) = rows.iter().find(|r| r.policy == "oracle") else { return String::new() };
    let best = rows
        .iter()
        .filter(|r| CALIBRATED.contains(&r.policy.as_str()) && r.meets_target)
        .min_by(|a, b| a.cost_total.total_cmp(&b.cost_total));
    let Some(best) = best else { return String::new() };
    if !oracle.meets_target {
        // Its per-stage latency budgets need not compose into the end-to-end target (many stages).
        return format!(
            "\nheadroom: none shown: the oracle misses the SLO target here ({:.3} %), so its cost bounds \
             nothing at the target; its capacity model errs here\n",
            oracle.slo_attainment * 100.0
        );
    }
    let saving = (1.0 - oracle.cost_total / best.cost_total) * 100.0;
    if saving > 0.0 {
        format!(
            "\nheadroom: the oracle costs {saving:.1} % less than the best calibrated baseline at the target ({})\n",
            best.policy
        )
    } else {
        // The oracle plans on a model of what VMs serve; where that model errs a rule can beat it.
        format!(
            "\nheadroom: none shown: the oracle costs {:.1} % more than the best calibrated baseline at the \
             target ({}); its capacity model errs here\n",
            -saving, best.policy
        )
    }
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
const COLUMNS: [&str; 14] = [
    "policy",
    "cost $",
    "VM $",
    "FaaS $",
    "xfer $",
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
fn cells(r: &Row) -> [String; 14] {
    [
        r.policy.clone(),
        format!("{:.4}", r.cost_total),
        format!("{:.4}", r.cost_vm),
        format!("{:.4}", r.cost_faas),
        format!("{:.4}", r.cost_transfer),
        r.cost_vs_floor.map_or("-".into(), |x| format!("{x:.2}")),
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
    let all: Vec<[String; 14]> =
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

fn csv(rows: &[Row], trace: Option<&str>) -> String {
    let mut out = String::from(
        "policy,seeds,cost_total,cost_vm,cost_faas,cost_transfer,cost_vs_floor,slo_attainment,meets_target,p50_ms,p95_ms,p99_ms,vm_hours,faas_invocations,vm_cold_starts,faas_cold_starts,trace\n",
    );
    for r in rows {
        out += &format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.policy,
            r.seeds,
            r.cost_total,
            r.cost_vm,
            r.cost_faas,
            r.cost_transfer,
            r.cost_vs_floor.map_or(String::new(), |x| x.to_string()),
            r.slo_attainment,
            r.meets_target,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            r.vm_hours,
            r.faas_invocations,
            r.vm_cold_starts,
            r.faas_cold_starts,
            trace.unwrap_or("")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(policy: &str, cost_total: f64, meets_target: bool) -> Row {
        Row {
            policy: policy.into(),
            seeds: 1,
            cost_total,
            cost_vm: 0.0,
            cost_faas: 0.0,
            cost_transfer: 0.0,
            cost_vs_floor: Some(1.0),
            slo_attainment: if meets_target { 0.995 } else { 0.98 },
            meets_target,
            p50_ms: 0.0,
            p95_ms: 0.0,
            p99_ms: 0.0,
            vm_hours: 0.0,
            faas_invocations: 0.0,
            vm_cold_starts: 0.0,
            faas_cold_starts: 0.0,
        }
    }

    #[test]
    fn headroom_is_against_the_cheapest_calibrated_rule_at_the_target_and_says_when_there_is_none() {
        let mut rows =
            vec![row("vm-only", 5.0, true), row("tuned-hpa", 10.0, true), row("static-best", 4.0, false)];
        assert_eq!(headroom(&rows), "", "no oracle, no line");
        rows.push(row("oracle", 8.0, true));
        assert_eq!(
            headroom(&rows),
            "\nheadroom: the oracle costs 20.0 % less than the best calibrated baseline at the target (tuned-hpa)\n"
        );
        rows[1].cost_total = 7.6;
        assert!(
            headroom(&rows).starts_with("\nheadroom: none shown: the oracle costs 5.3 % more"),
            "{}",
            headroom(&rows)
        );
        rows[3] = row("oracle", 3.0, false);
        assert!(
            headroom(&rows)
                .starts_with("\nheadroom: none shown: the oracle misses the SLO target here (98.000 %)"),
            "{}",
            headroom(&rows)
        );
    }
}
