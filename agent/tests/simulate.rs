//! `serflow simulate` as a user runs it.

mod common;
use common::{serflow, shared_trace, stdout};

fn json(args: &[&str]) -> serde_json::Value {
    let out = serflow(args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout(&out)).expect("--json prints one JSON object")
}

#[test]
fn json_has_the_documented_keys() {
    let v = json(&["simulate", "--duration", "600", "--json"]);
    for key in [
        "/policy",
        "/seed",
        "/cost/total",
        "/cost/vm",
        "/cost/faas",
        "/vm_seconds",
        "/invocations/vm",
        "/invocations/faas",
        "/requests/total",
        "/slo/attainment",
        "/slo/p50_ms",
        "/slo/p95_ms",
        "/slo/p99_ms",
        "/cold_starts/vm",
        "/cold_starts/faas",
    ] {
        assert!(v.pointer(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["policy"], "faas-only");
    assert!(v["requests"]["total"].as_u64().unwrap() > 50_000);
}

#[test]
fn same_seed_same_json_bit_for_bit_other_seed_differs() {
    let args = ["simulate", "--duration", "900", "--seed", "42", "--json"];
    let (a, b) = (serflow(&args), serflow(&args));
    assert_eq!(a.stdout, b.stdout);
    let c = serflow(&["simulate", "--duration", "900", "--seed", "43", "--json"]);
    assert_ne!(a.stdout, c.stdout);
}

#[test]
fn human_output_is_a_table() {
    let out = stdout(&serflow(&["simulate", "--duration", "300"]));
    assert!(out.contains("cost") && out.contains("SLO") && out.contains("block4"), "{out}");
}

#[test]
fn replays_the_azure_llm_trace_over_whole_intervals() {
    let trace = shared_trace("azure_llm_conv_2023.csv");
    let v = json(&["simulate", "--trace", &trace, "--json"]);
    // 19,366 requests; the horizon is the trace rounded down to whole 10 s intervals.
    let total = v["requests"]["total"].as_u64().unwrap();
    assert!((19_300..=19_366).contains(&total), "{total}");
    assert_eq!(v["duration_s"].as_f64().unwrap() % 10.0, 0.0);
}

#[test]
fn eval_writes_timelines_as_csv_and_tensorboard() {
    let dir = common::scratch("eval");
    let out = serflow(&[
        "eval",
        "--policy",
        "libra",
        "--duration",
        "300",
        "--episodes",
        "2",
        "--logdir",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).contains("libra"));
    let csv = std::fs::read_to_string(dir.join("libra-timeline.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("seed,time_s,arrival_rate") && lines[0].contains("stage3_p95_ms"));
    assert!(lines[0].contains("stage0_arrival_rate,stage0_vms"), "per-stage load beside the VMs");
    assert_eq!(lines.len(), 1 + 2 * 30, "30 intervals per episode, 2 episodes");
    for seed in [1, 2] {
        let events = std::fs::read_dir(dir.join(format!("libra-seed{seed}"))).unwrap().count();
        assert!(events >= 1);
    }
    let json = serflow(&["eval", "--policy", "faas-only", "--duration", "60", "--episodes", "2", "--json"]);
    let runs: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2);
}

/// `eval --json` says how much a policy's first-stage VM count follows load: not at all for a fixed
/// allocation (`static-best` on `default`), clearly for the SERFLOW heuristic, and somewhat for the
/// shipped policy, which scales stage 1 with the load (0.40 on this episode).
#[test]
fn eval_reports_how_vms_follow_load() {
    let r = |policy: &str| {
        let out = serflow(&["eval", "--policy", policy, "--episodes", "1", "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let runs: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        runs[0]["first_stage_vms_vs_rate"].as_f64().expect("eval reports the correlation")
    };
    assert_eq!(r("static-best"), 0.0);
    assert!(r("serflow") > 0.3);
    assert!(r("learned") > 0.1);
    let compare =
        serflow(&["compare", "--duration", "60", "--seeds", "1", "--policies", "serflow", "--json"]);
    assert!(!stdout(&compare).contains("first_stage_vms_vs_rate"), "compare's JSON is unchanged");
}
