//! `serflow simulate`: one policy, one episode, one report.

use super::{ScenarioArgs, progress};
use anyhow::Result;
use clap::Args;
use serflow_env::comparison::stage_arrivals;
use serflow_env::metrics::EpisodeReport;
use serflow_env::run_episode;
use std::time::Instant;

/// Arguments of `serflow simulate`.
#[derive(Args, Debug)]
pub struct SimulateArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// The policy to run: a built-in (see `compare --explain`), learned (the policy shipped for the
    /// scenario in `checkpoints/<scenario>/`), or a policy file (.ron).
    #[arg(long, default_value = "faas-only")]
    policy: String,
    /// Episode seed: the same seed gives the same result, bit for bit.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: SimulateArgs) -> Result<()> {
    let scenario = args.scenario.load()?;
    let registry = args.scenario.registry(&scenario)?;
    super::check_policies(&registry, [&args.policy])?;
    let mut policy = if args.policy == "oracle" {
        registry.build_for_episode("oracle", &stage_arrivals(&scenario, args.seed, &|| {}))?
    } else {
        registry.build(&args.policy)?
    };
    let bar = progress(scenario.steps_per_episode() as u64, &args.policy);
    let started = Instant::now();
    let report = run_episode(&scenario, policy.as_mut(), args.seed, |_, _| bar.inc(1));
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", human(&report, wall));
    }
    Ok(())
}

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The readable report of one episode.
pub fn human(r: &EpisodeReport, wall_s: f64) -> String {
    let mut out = format!(
        "policy {} on scenario {}, seed {}, {} s simulated in {:.2} s\n\n",
        r.policy, r.scenario, r.seed, r.duration_s, wall_s
    );
    let c = &r.cost;
    out += &format!(
        "cost         ${:.4}   (VM ${:.4}, FaaS ${:.4}, transfer ${:.4})\n",
        c.total, c.vm, c.faas, c.transfer
    );
    out += &format!(
        "requests     {} arrived, {} completed, {} failed\n",
        thousands(r.requests.total),
        thousands(r.requests.completed),
        thousands(r.requests.failed)
    );
    let s = &r.slo;
    out += &format!(
        "SLO          {} ms for {:.2} %: attained {:.3} %   p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms\n",
        s.latency_ms,
        s.target * 100.0,
        s.attainment * 100.0,
        s.p50_ms,
        s.p95_ms,
        s.p99_ms
    );
    out += &format!(
        "violations   {} too slow, {} throttled\n",
        thousands(s.violations.latency),
        thousands(s.violations.throttled)
    );
    out += &format!(
        "VMs          {:.2} VM-hours billed, {} launched, {} stage runs\n",
        r.vm_seconds / 3600.0,
        thousands(r.cold_starts.vm),
        thousands(r.invocations.vm)
    );
    out += &format!(
        "FaaS         {} invocations, {} cold starts\n\n",
        thousands(r.invocations.faas),
        thousands(r.cold_starts.faas)
    );
    out += &format!(
        "{:<10} {:>8} {:>12} {:>12} {:>9} {:>10} {:>11} {:>11}\n",
        "stage", "reach", "VM runs", "FaaS runs", "VM-hours", "cold FaaS", "VM $", "FaaS $"
    );
    for st in &r.stages {
        out += &format!(
            "{:<10} {:>8.4} {:>12} {:>12} {:>9.2} {:>10} {:>11.4} {:>11.4}\n",
            st.name,
            st.reach_fraction,
            thousands(st.vm.invocations),
            thousands(st.faas.invocations),
            st.vm.billed_seconds / 3600.0,
            thousands(st.faas.cold_starts),
            st.vm.cost,
            st.faas.cost
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(6_432_107), "6,432,107");
    }
}
