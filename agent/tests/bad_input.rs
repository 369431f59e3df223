//! Bad input never panics: one line on stderr naming the file, field and reason, exit code 2.

mod common;
use common::{scratch, serflow, stderr};
use std::path::Path;

const DEFAULT: &str = include_str!("../../env/src/scenarios/default.ron");

/// Writes `text` to a scratch file and returns its path.
fn file(name: &str, text: &str) -> String {
    let path = scratch("bad").join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The default scenario with one textual substitution.
fn scenario_with(name: &str, from: &str, to: &str) -> String {
    assert!(DEFAULT.contains(from), "test setup: `{from}` not in default.ron");
    file(name, &DEFAULT.replacen(from, to, 1))
}

/// Asserts a clean failure whose single line contains every `needle`.
fn fails_with(args: &[&str], needles: &[&str]) {
    let out = serflow(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "args {args:?}: stderr {err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "panic for {args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line for {args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "args {args:?}: `{n}` missing from: {err}");
    }
}

#[test]
fn bad_scenarios_name_file_field_and_reason() {
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            scenario_with("exit.ron", "exit_probability: 0.5", "exit_probability: 1.5"),
            vec!["stages[0].exit_probability", "[0, 1]"],
        ),
        (
            scenario_with("last.ron", "exit_probability: 1.0", "exit_probability: 0.9"),
            vec!["stages[3].exit_probability", "last stage"],
        ),
        (
            scenario_with("price.ron", "price_per_hour: 0.085", "price_per_hour: -0.085"),
            vec!["vm.price_per_hour", ">= 0"],
        ),
        (scenario_with("slots.ron", "slots: 2", "slots: 0"), vec!["vm.slots"]),
        (
            scenario_with("horizon.ron", "horizon_s: 3600.0", "horizon_s: 3605.0"),
            vec!["horizon_s", "multiple"],
        ),
        (
            scenario_with("unknown.ron", "control_interval_s:", "control_interval_sec:"),
            vec!["unknown.ron", "control_interval_sec"],
        ),
        (scenario_with("syntax.ron", "slots: 2,", "slots: 2,,"), vec!["syntax.ron", "line"]),
        (
            scenario_with("tail.ron", "shape: 4.0", "shape: 0.5"),
            vec!["stages[3].vm_service_ms.shape", "mean"],
        ),
        (scenario_with("amp.ron", "amplitude: 0.5", "amplitude: 1.5"), vec!["workload.rate.amplitude"]),
        (
            scenario_with("conc.ron", "concurrency_limit: 1000", "concurrency_limit: 0"),
            vec!["faas.concurrency_limit"],
        ),
        (
            scenario_with("initial.ron", "initial_per_stage: 2", "initial_per_stage: 31"),
            vec!["vm.initial_per_stage"],
        ),
    ];
    for (path, needles) in &cases {
        let mut all = needles.clone();
        all.push(Path::new(path).file_name().unwrap().to_str().unwrap());
        fails_with(&["simulate", "--scenario", path], &all);
    }
}

#[test]
fn bad_traces_name_file_line_and_reason() {
    let counts = file("counts.txt", "10\n12\nabc\n");
    fails_with(&["simulate", "--trace", &counts], &["counts.txt", "line 3", "`abc`"]);
    let negative = file("negative.txt", "3\n-1\n");
    fails_with(&["simulate", "--trace", &negative], &["negative.txt", "line 2"]);
    let empty = file("empty.txt", "\n\n");
    fails_with(&["simulate", "--trace", &empty], &["empty.txt", "empty"]);
    let no_ts = file("nots.csv", "TIME,ContextTokens\n1,2\n");
    fails_with(&["simulate", "--trace", &no_ts], &["nots.csv", "TIMESTAMP"]);
    let bad_ts = file("badts.csv", "TIMESTAMP,ContextTokens\n2023-11-16 25:61:00,5\n");
    fails_with(&["simulate", "--trace", &bad_ts], &["badts.csv", "line 2", "timestamp"]);
    let short = file("short.csv", "TIMESTAMP,ContextTokens\n2023-11-16 10:00:00\n");
    fails_with(&["simulate", "--trace", &short], &["short.csv", "line 2", "fields"]);
    fails_with(
        &["simulate", "--trace", "/nonexistent/trace.txt"],
        &["/nonexistent/trace.txt", "cannot read", "traces/README.md", "SERFLOW_TRACES"],
    );
    let tiny = file("tiny.txt", "1\n2\n3\n");
    fails_with(&["simulate", "--trace", &tiny, "--duration", "100"], &["horizon_s", "exceeds"]);
}

#[test]
fn bad_arguments_fail_cleanly() {
    fails_with(&["simulate", "--scenario", "nosuch"], &["unknown scenario", "nosuch"]);
    fails_with(&["simulate", "--scenario", "/nonexistent/s.ron"], &["/nonexistent/s.ron", "cannot read"]);
    fails_with(&["simulate", "--policy", "magic"], &["unknown policy", "magic"]);
    fails_with(
        &["simulate", "--scenario", "libra-wits", "--policy", "learned"],
        &["checkpoints/default/policy.ron", "n_stages", "4 stages"],
    );
    fails_with(&["simulate", "--seed", "1e3"], &["--seed"]);
    fails_with(&["simulate", "--duration", "soon"], &["--duration"]);
    fails_with(&["simulate", "--duration", "-10"], &["horizon_s"]);
    fails_with(&["simulate", "--duration", "1e300"], &["horizon_s", "1.000e300 s exceeds the limit"]);
    fails_with(&["compare", "--policies", "faas-only,,vm-only"], &["policy: the name is empty"]);
    fails_with(&["eval", "--policy", "vm-only,serflow,vm-only"], &["vm-only: listed twice"]);
    fails_with(&["simulate", "--trace-scale", "2"], &["--trace-scale"]);
    let trace = common::shared_trace("square_load.txt");
    fails_with(&["simulate", "--trace", &trace, "--trace-scale", "-1"], &["workload.rate_scale"]);
    fails_with(&["simulate", "--frobnicate"], &["--frobnicate"]);
    fails_with(&["launch"], &["launch"]);
}

#[test]
fn bad_policy_files_fail_cleanly() {
    use serflow_agent::export::policy_file;
    use serflow_agent::networks::ActorCriticConfig;
    use serflow_agent::normalizer::ObsNormalizer;
    use serflow_env::rng::{SimRng, Stream};
    let scenario = serflow_env::Scenario::load("default").unwrap();
    let dim = serflow_policies::schema::observation_len(4);
    let nvec = serflow_policies::ActionSet::default().nvec(4);
    let nets = ActorCriticConfig::default().init(dim, &nvec, 1, None, &mut SimRng::new(1, Stream::Training));
    let good = policy_file(
        &nets,
        &ObsNormalizer::new(dim),
        &scenario,
        &serflow_policies::ActionSet::default(),
        String::new(),
    );
    let text = ron::ser::to_string(&good).unwrap();
    let ok = file("good.ron", &text);
    let out = serflow(&["simulate", "--duration", "60", "--policy", &ok]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = serflow(&[
        "compare",
        "--duration",
        "60",
        "--seeds",
        "1",
        "--policies",
        &format!("serflow,{ok}"),
        "--csv",
    ]);
    let csv = String::from_utf8_lossy(&table.stdout);
    assert!(csv.lines().nth(2).is_some_and(|l| l.starts_with(&ok)), "policy file row: {csv}");

    let truncated = file("truncated.ron", &text[..text.len() / 2]);
    fails_with(&["simulate", "--policy", &truncated], &["truncated.ron", "line"]);
    let version = file("version.ron", &text.replacen("format_version:1", "format_version:9", 1));
    fails_with(&["simulate", "--policy", &version], &["version.ron", "format_version 9"]);
    let mut one_stage = good.clone();
    one_stage.max_vms.pop();
    let stages = file("stages.ron", &ron::ser::to_string(&one_stage).unwrap());
    fails_with(&["simulate", "--policy", &stages], &["stages.ron", "max_vms"]);
    let mut nan = good.clone();
    nan.actor.layers[1].weights[3] = f32::NAN;
    let nan_file = file("nan.ron", &ron::ser::to_string(&nan).unwrap());
    fails_with(&["simulate", "--policy", &nan_file], &["nan.ron", "non-finite"]);
    fails_with(
        &["simulate", "--scenario", "libra-wits", "--duration", "10", "--policy", &ok],
        &["good.ron", "4 stages"],
    );
}

#[test]
fn bad_training_configs_name_file_field_and_reason() {
    let serving = include_str!("../configs/serflow.ron");
    let cartpole = include_str!("../configs/cartpole.ron");
    let with = |name: &str, base: &str, from: &str, to: &str| {
        assert!(base.contains(from), "test setup: `{from}` not in the config");
        file(name, &base.replacen(from, to, 1))
    };
    let logdir = scratch("bad-train").display().to_string();
    let train = |config: &str, needles: &[&str]| {
        fails_with(&["train", "--config", config, "--logdir", &logdir], needles);
    };
    let typo = with("typo.ron", serving, "num_envs:", "num_env:");
    train(&typo, &[&typo, "num_env"]);
    let zero = with("zero.ron", serving, "num_envs: 8", "num_envs: 0");
    train(&zero, &[&zero, "ppo.num_envs", "at least 1"]);
    let credit = with("credit.ron", cartpole, "norm_reward: false,", "norm_reward: false, credit: PerStage,");
    train(&credit, &[&credit, "ppo.credit", "Serflow"]);
    let start =
        with("start.ron", cartpole, "lagrangian: None,", "lagrangian: None, random_initial_vms: Some(2),");
    train(&start, &[&start, "random_initial_vms", "Serflow"]);
    let scenario = with("scenario.ron", serving, "scenario: \"default\"", "scenario: \"nosuch\"");
    train(&scenario, &["unknown scenario", "nosuch"]);
    let workload = with("workload.ron", serving, "Diurnal(mean: 5.0,", "Diurnal(mean: -5.0,");
    train(&workload, &["training_workload", "mean", ">= 0"]);
    let frames = with("frames.ron", serving, "eval_every:", "frame_stack: 0, eval_every:");
    train(&frames, &[&frames, "frame_stack", "1 to 64"]);
    for bad in ["0", "65"] {
        fails_with(&["train", "--frame-stack", bad, "--logdir", &logdir], &["--frame-stack", bad]);
    }
    fails_with(&["train", "--resume", "/nonexistent/run"], &["/nonexistent/run"]);
    for (plot, needles) in [
        ("/nonexistent/dir/x.png", ["--plot", "no directory /nonexistent/dir"]),
        ("episode.txt", ["--plot", "episode.txt: the picture is a PNG"]),
    ] {
        fails_with(
            &["eval", "--policy", "serflow", "--episodes", "1", "--duration", "60", "--plot", plot],
            &needles,
        );
    }
    for bad in ["", ".", "..", "a/b", "../up"] {
        let args = ["train", "--scenario", "default", "--run-name", bad, "--logdir", &logdir];
        fails_with(&args, &["--run-name", "not one directory name"]);
    }
    let runs = std::fs::read_dir(&logdir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(runs, 0, "a failed start must not leave a run directory in {logdir}");
}

/// Sizes that cannot fit are refused in one line before any work starts (not an abort on an
/// allocation, not a run that never ends).
#[test]
fn oversized_inputs_are_refused_before_any_work() {
    let wits = common::shared_trace("wits_logs.txt");
    let started = std::time::Instant::now();
    fails_with(
        &["simulate", "--trace", &wits, "--trace-scale", "1e9", "--duration", "20"],
        &["workload.rate_scale (set by --trace-scale)", "limit"],
    );
    fails_with(&["simulate", "--duration", "1e12"], &["horizon_s (set by --duration)", "limit"]);
    fails_with(&["simulate", "--duration", "2000000"], &["arrivals", "limit"]);
    let vms = file(
        "vms.ron",
        &DEFAULT.replacen("max_per_stage: 30", "max_per_stage: 4000000000", 1).replacen(
            "initial_per_stage: 2",
            "initial_per_stage: 4000000000",
            1,
        ),
    );
    fails_with(&["simulate", "--scenario", &vms], &["vms.ron", "vm.max_per_stage", "limit"]);
    let rate = scenario_with("rate.ron", "mean: 150.0", "mean: 1000000000.0");
    fails_with(&["simulate", "--scenario", &rate], &["rate.ron", "workload.rate", "limit"]);
    fails_with(&["compare", "--seeds", "0"], &["--seeds", "10000"]);
    let not_a_dir = file("not-a-dir", "");
    fails_with(
        &["tune", "--out", &format!("{not_a_dir}/baselines.ron")],
        &["not-a-dir", "cannot create directory"],
    );
    let dir = scratch("bad").display().to_string();
    fails_with(&["tune", "--out", &dir], &["is a directory"]);
    fails_with(
        &["eval", "--episodes", "18446744073709551615", "--first-seed", "0"],
        &["--episodes", "10000"],
    );
    assert!(started.elapsed().as_secs() < 60, "refusals took {:?}", started.elapsed());
}

/// Traces saved by other tools: a byte-order mark, CRLF line ends, trailing blank lines.
#[test]
fn traces_from_windows_editors_are_read() {
    let counts = file("windows.txt", &format!("\u{feff}{}\r\n\r\n", ["150"; 30].join("\r\n")));
    let out = serflow(&["simulate", "--trace", &counts, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    assert_eq!(v["duration_s"].as_f64(), Some(30.0));
    let csv = file(
        "windows.csv",
        "\u{feff}TIMESTAMP,ContextTokens\r\n2023-11-16 18:15:46,374\r\n2023-11-16 18:15:59,12\r\n\r\n",
    );
    let out = serflow(&["simulate", "--trace", &csv, "--duration", "10", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A built-in scenario finds its trace from any working directory.
#[test]
fn libra_wits_runs_from_any_directory() {
    let elsewhere = scratch("elsewhere");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_serflow"))
        .args(["simulate", "--scenario", "libra-wits", "--duration", "60", "--policy", "libra", "--json"])
        .current_dir(&elsewhere)
        .env_remove("SERFLOW_TRACES")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // And SERFLOW_TRACES points it at a directory of the user's choosing.
    let mine = scratch("my-traces");
    std::fs::write(mine.join("wits_logs.txt"), "5\n".repeat(120)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_serflow"))
        .args(["simulate", "--scenario", "libra-wits", "--duration", "60", "--json"])
        .current_dir(&elsewhere)
        .env("SERFLOW_TRACES", &mine)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    assert_eq!(v["requests"]["total"].as_u64(), Some(300), "5 req/s for 60 s from the user's trace");
}
