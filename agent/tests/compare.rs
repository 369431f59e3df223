//! `serflow compare` and the baselines held against someone else's numbers.

mod common;
use common::{serflow, shared_trace, stderr, stdout};

fn json(args: &[&str]) -> serde_json::Value {
    let out = serflow(args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("valid JSON")
}

fn within(got: f64, reference: f64, tolerance: f64) -> bool {
    (got / reference - 1.0).abs() <= tolerance
}

/// The reference figures of ../shared/traces/README.md, measured with LIBRA's own simulator.
#[test]
fn libra_on_wits_reproduces_the_reference_figures_within_3_percent() {
    let trace = shared_trace("wits_logs.txt");
    let v = json(&["simulate", "--scenario", "libra-wits", "--trace", &trace, "--policy", "libra", "--json"]);
    let vm_cost = v["cost"]["vm"].as_f64().unwrap();
    let vm_seconds = v["vm_seconds"].as_f64().unwrap();
    let invocations = v["invocations"]["faas"].as_f64().unwrap();
    let total = v["cost"]["total"].as_f64().unwrap();
    assert!(within(vm_cost, 15.70, 0.03), "VM cost {vm_cost}");
    assert!(within(vm_seconds, 565_200.0, 0.03), "VM-seconds {vm_seconds}");
    assert!(within(invocations, 807_313.0, 0.03), "FaaS invocations {invocations}");
    assert!(within(total, 22.59, 0.03), "total {total}");
}

#[test]
fn compare_json_is_an_array_of_simulate_objects_with_floors() {
    let runs =
        json(&["compare", "--duration", "600", "--seeds", "2", "--policies", "faas-only,serflow", "--json"]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 4);
    for r in runs {
        for key in ["/policy", "/seed", "/cost/total", "/slo/p99_ms", "/floor/total"] {
            assert!(r.pointer(key).is_some(), "{key} missing");
        }
        let (cost, floor) = (r["cost"]["total"].as_f64().unwrap(), r["floor"]["total"].as_f64().unwrap());
        assert!(floor > 0.0 && floor <= cost, "the floor is a floor: {floor} vs {cost}");
    }
    // Same seed, same arrivals: both policies saw the same requests.
    assert_eq!(runs[0]["requests"]["total"], runs[2]["requests"]["total"]);
}

#[test]
fn compare_csv_markdown_and_table_have_one_row_per_policy() {
    let out = stdout(&serflow(&["compare", "--duration", "300", "--seeds", "1", "--csv"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6, "{out}");
    assert!(lines[0].starts_with("policy,seeds,cost_total"));
    let table = stdout(&serflow(&["compare", "--duration", "300", "--seeds", "1", "--explain"]));
    for needle in ["T-CIP", "S-CIP", "block4", "libra", "serflow", "vm-only", "faas-only", "learned", "floor"]
    {
        assert!(table.contains(needle), "{needle} missing: {table}");
    }
    let md = stdout(&serflow(&[
        "compare",
        "--duration",
        "300",
        "--seeds",
        "2",
        "--first-seed",
        "2000000",
        "--policies",
        "serflow,learned",
        "--markdown",
    ]));
    assert!(md.contains("seeds 2000000..=2000001"), "{md}");
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
    assert_eq!(rows.len(), 3, "{md}");
    assert!(rows[1].starts_with("| serflow |") && rows[2].starts_with("| learned |"), "{md}");
    assert!(rows.iter().all(|r| r.matches(" | ").count() == 12), "{md}");
}

#[test]
fn compare_rejects_unknown_policies_and_zero_seeds() {
    let out = serflow(&["compare", "--policies", "libra,oracle"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("oracle"));
    let out = serflow(&["compare", "--seeds", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let out = serflow(&["compare", "--seeds", "2", "--first-seed", &u64::MAX.to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--first-seed"), "{}", stderr(&out));
}
