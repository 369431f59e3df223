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
    // A policy file is reported by its path, as in the table, not as the shipped `learned`.
    let file = common::scratch("json").join("mine.ron");
    std::fs::write(&file, include_str!("../../checkpoints/default/policy.ron")).unwrap();
    let policies = format!("faas-only,serflow,learned,{}", file.display());
    let runs = json(&["compare", "--duration", "600", "--seeds", "2", "--policies", &policies, "--json"]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 8);
    let names: Vec<&str> = runs.iter().step_by(2).map(|r| r["policy"].as_str().unwrap()).collect();
    assert_eq!(names.join(","), policies);
    assert_eq!(runs[4]["cost"], runs[6]["cost"], "the file is the shipped policy");
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
    // faas-only, vm-only, libra, serflow, the four calibrated rules (default ships a calibration),
    // the oracle, learned
    assert_eq!(lines.len(), 11, "{out}");
    assert!(lines[0].starts_with("policy,seeds,cost_total") && lines[0].ends_with(",trace"));
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
        "heldout",
        "--policies",
        "serflow,learned",
        "--markdown",
    ]));
    assert!(md.contains("seeds 2000000..=2000001"), "{md}");
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
    assert_eq!(rows.len(), 3, "{md}");
    assert!(rows[1].starts_with("| serflow |") && rows[2].starts_with("| learned |"), "{md}");
    assert!(rows.iter().all(|r| r.matches(" | ").count() == 13), "{md}");
}

#[test]
fn compare_rejects_unknown_policies_and_zero_seeds() {
    let out = serflow(&["compare", "--policies", "libra,prophet"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("prophet") && stderr(&out).contains("tuned-hpa"), "{}", stderr(&out));
    let out = serflow(&["compare", "--first-seed", "tomorrow"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("heldout"), "{}", stderr(&out));
    let out = serflow(&["compare", "--seeds", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let out = serflow(&["compare", "--seeds", "2", "--first-seed", &u64::MAX.to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--first-seed"), "{}", stderr(&out));
}

#[test]
fn the_oracle_sits_between_the_floor_and_the_other_policies_costs() {
    let runs = json(&[
        "compare",
        "--duration",
        "900",
        "--seeds",
        "2",
        "--policies",
        "faas-only,vm-only,oracle",
        "--json",
    ]);
    let runs = runs.as_array().unwrap();
    let cost = |i: usize| runs[i]["cost"]["total"].as_f64().unwrap();
    for seed in 0..2 {
        let (faas, vm, oracle) = (cost(seed), cost(2 + seed), cost(4 + seed));
        let floor = runs[4 + seed]["floor"]["total"].as_f64().unwrap();
        assert!(
            floor <= oracle && oracle < faas && oracle < vm,
            "floor {floor}, oracle {oracle}, {faas}, {vm}"
        );
        assert!(runs[4 + seed]["slo"]["attainment"].as_f64().unwrap() >= 0.99);
    }
    let single = json(&["simulate", "--duration", "900", "--seed", "2", "--policy", "oracle", "--json"]);
    assert_eq!(single["cost"]["total"], runs[5]["cost"]["total"], "simulate and compare plan alike");
}

#[test]
fn the_oracle_meets_the_target_where_the_balancer_does_not_spill() {
    // libra-wits queues at VMs without bound: the oracle offers VMs only what it planned for them.
    let runs = json(&[
        "compare",
        "--scenario",
        "libra-wits",
        "--duration",
        "3600",
        "--seeds",
        "1",
        "--policies",
        "libra,oracle",
        "--json",
    ]);
    let runs = runs.as_array().unwrap();
    let (libra, oracle) = (&runs[0], &runs[1]);
    assert!(oracle["slo"]["attainment"].as_f64().unwrap() >= 0.99, "{oracle}");
    assert!(oracle["cost"]["total"].as_f64() < libra["cost"]["total"].as_f64(), "{oracle} {libra}");
}

#[test]
fn several_traces_give_one_table_each_at_the_nominal_rate() {
    let dir = common::scratch("traces");
    let (a, b) = (dir.join("a.txt"), dir.join("b.txt"));
    std::fs::write(&a, "5\n".repeat(400)).unwrap();
    std::fs::write(&b, (0..400).map(|i| format!("{}\n", i % 20)).collect::<String>()).unwrap();
    let traces = format!("{},{}", a.display(), b.display());
    let md = stdout(&serflow(&[
        "compare",
        "--scenario",
        "production",
        "--trace",
        &traces,
        "--duration",
        "300",
        "--seeds",
        "1",
        "--policies",
        "faas-only,serflow",
        "--markdown",
    ]));
    assert_eq!(md.matches("trace ").count(), 2, "{md}");
    assert!(md.contains("a.txt") && md.contains("b.txt"), "{md}");
    // Both traces replay at production's nominal 1,500 req/s, not at their recorded 5-10 req/s.
    let trace = b.display().to_string();
    let rate = |extra: &[&str]| {
        let mut args =
            vec!["simulate", "--scenario", "production", "--trace", &trace, "--duration", "300", "--json"];
        args.extend(extra);
        json(&args)["requests"]["total"].as_f64().unwrap() / 300.0
    };
    let per_second = rate(&[]);
    assert!((per_second / 1500.0 - 1.0).abs() < 0.05, "{per_second} req/s");
    let per_second = rate(&["--trace-scale", "2"]);
    assert!((per_second / 19.0 - 1.0).abs() < 0.1, "--trace-scale overrides: {per_second} req/s");
}

#[test]
fn calibrated_baselines_need_a_calibration_and_say_how_to_make_one() {
    let dir = common::scratch("uncalibrated");
    let text = serflow_env::scenario::BUILTINS[0].1.replacen("name: \"default\"", "name: \"mine\"", 1);
    let path = dir.join("mine.ron");
    std::fs::write(&path, text).unwrap();
    let out = serflow(&["simulate", "--scenario", &path.display().to_string(), "--policy", "tuned-hpa"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("serflow tune") && err.contains("--calibration") && err.lines().count() == 1,
        "{err}"
    );
    let out = serflow(&["compare", "--calibration", "/nonexistent/baselines.ron", "--seeds", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/baselines.ron"), "{}", stderr(&out));
    // A file from before a baseline existed: named once, the missing entry named, the way out given.
    let shipped = include_str!("../../checkpoints/default/baselines.ron");
    let start = shipped.find("    predictive_hpa:").expect("the shipped file has predictive_hpa");
    let end = start + shipped[start..].find("    serflow_tuned:").unwrap();
    let old = dir.join("old-baselines.ron");
    std::fs::write(&old, format!("{}{}", &shipped[..start], &shipped[end..])).unwrap();
    let out = serflow(&["compare", "--calibration", &old.display().to_string(), "--seeds", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.matches("old-baselines.ron").count(), 1, "{err}");
    assert!(
        err.contains("predictive_hpa") && err.contains("serflow tune") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn eval_plots_every_policy_and_reports_their_correlation() {
    let dir = common::scratch("plot");
    let png = dir.join("episode.png");
    let out = serflow(&[
        "eval",
        "--duration",
        "600",
        "--episodes",
        "1",
        "--policy",
        "serflow,oracle",
        "--plot",
        &png.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000, "{} bytes", bytes.len());
    let text = stdout(&out);
    assert!(text.contains("serflow") && text.contains("oracle") && text.contains("Pearson"), "{text}");
}

#[test]
fn learned_on_a_scenario_it_was_not_trained_on_says_so() {
    let default = include_str!("../../env/src/scenarios/default.ron");
    let path = common::scratch("untrained").join("mine.ron");
    std::fs::write(&path, default.replacen("name: \"default\"", "name: \"mine\"", 1)).unwrap();
    let run = |scenario: &str| {
        serflow(&["simulate", "--scenario", scenario, "--policy", "learned", "--duration", "60"])
    };
    let out = run(&path.display().to_string());
    assert_eq!(out.status.code(), Some(0));
    let err = common::stderr(&out);
    assert!(
        err.contains("note: `learned` is the policy shipped for scenario `default`")
            && err.contains("`mine`"),
        "{err}"
    );
    assert!(!stderr(&run("default")).contains("note:"), "the scenario's own policy needs no note");
}

#[test]
fn compare_on_more_stages_than_any_shipped_policy_leaves_learned_out() {
    let default = include_str!("../../env/src/scenarios/default.ron");
    let (from, to) = (
        default.find("        Stage(\n            name: \"block2\"").unwrap(),
        default.find("        Stage(\n            name: \"block4\"").unwrap(),
    );
    let six = format!(
        "{}{}{}",
        &default[..to],
        default[from..to].replace("name: \"block", "name: \"extra"),
        &default[to..]
    );
    let path = common::scratch("six").join("six.ron");
    std::fs::write(&path, six).unwrap();
    let out = serflow(&[
        "compare",
        "--scenario",
        &path.display().to_string(),
        "--seeds",
        "1",
        "--duration",
        "600",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("note: learned left out: checkpoints/default/policy.ron: n_stages"), "{err}");
    // default's 50 ms queueing bound, fitted to four stages, no longer fits six: said once.
    assert_eq!(
        err.matches("vm_queue_wait_ms lets a request queue 50 ms on VMs at each of its 6 stages").count(),
        1,
        "{err}"
    );
    let runs: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let policies: Vec<&str> =
        runs.as_array().unwrap().iter().map(|r| r["policy"].as_str().unwrap()).collect();
    assert_eq!(policies, ["faas-only", "vm-only", "libra", "serflow", "oracle"]);
}

#[test]
fn a_zero_floor_leaves_the_ratio_to_it_blank_instead_of_dividing_by_it() {
    // Free functions: the hindsight floor serves everything on them for nothing.
    let free = include_str!("../../env/src/scenarios/default.ron")
        .replace("price_per_gb_s: 0.0000166667", "price_per_gb_s: 0.0")
        .replace("price_per_request: 0.0000002", "price_per_request: 0.0");
    let path = common::scratch("free").join("free.ron");
    std::fs::write(&path, free).unwrap();
    let compare = |format: &str| {
        let args =
            ["compare", "--scenario", &path.display().to_string(), "--duration", "300", "--seeds", "1"];
        let out = serflow(&[&args[..], &["--policies", "faas-only,vm-only", format]].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let table = compare("--markdown");
    assert!(table.contains("hindsight floor $0.0000"), "{table}");
    let vm_only = table.lines().find(|l| l.starts_with("| vm-only |")).unwrap();
    assert_eq!(vm_only.split(" | ").nth(5), Some("-"), "{table}");
    let csv = compare("--csv");
    let vm_only = csv.lines().find(|l| l.starts_with("vm-only,")).unwrap();
    assert_eq!(vm_only.split(',').nth(6), Some(""), "{csv}");
}
