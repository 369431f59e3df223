//! `serflow fit-planner` as a user runs it on a scenario of their own: a planner file every command
//! accepts, the fit's curves in TensorBoard, the same file again from the same flags, and bad
//! flags refused in one line before any work.

mod common;

use common::{scratch, serflow, stderr, stdout};

/// Ten-minute `default` episodes, a short history: seconds of work.
const SMALL: [&str; 10] =
    ["--scenario", "default", "--duration", "600", "--episodes", "3", "--epochs", "3", "--history", "6"];

fn fit(dir: &std::path::Path, run: &str) -> String {
    let logdir = dir.to_str().unwrap();
    let mut args = vec!["fit-planner"];
    args.extend(SMALL);
    args.extend(["--logdir", logdir, "--run-name", run]);
    let out = serflow(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = dir.join(run).join("planner.ron");
    assert!(stderr(&out).contains(&format!("wrote {}", file.display())), "{}", stderr(&out));
    let events = std::fs::read_dir(dir.join(run)).unwrap().flatten();
    assert!(events.into_iter().any(|e| e.file_name().to_string_lossy().starts_with("events.out.tfevents")));
    std::fs::read_to_string(file).unwrap()
}

#[test]
fn a_fitted_planner_runs_everywhere_and_refits_to_the_same_file() {
    let dir = scratch("fit-planner");
    let text = fit(&dir, "first");
    assert!(text.starts_with("ForecastPlannerPolicy("), "{}", &text[..80]);
    assert_eq!(fit(&dir, "again"), text, "the same flags give the same file, bit for bit");
    let file = dir.join("first").join("planner.ron");
    let file = file.to_str().unwrap();
    let out = serflow(&["simulate", "--duration", "600", "--policy", file, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("\"policy\":"), "{}", stdout(&out));
    let out = serflow(&[
        "compare",
        "--duration",
        "600",
        "--seeds",
        "1",
        "--policies",
        &format!("tuned-hpa,{file}"),
    ]);
    assert!(out.status.success() && stdout(&out).contains(file), "{}", stderr(&out));
}

#[test]
fn bad_flags_and_bad_planner_files_are_one_line_and_exit_2() {
    let dir = scratch("fit-planner-bad");
    for (args, expected) in [
        (vec!["fit-planner", "--margin", "-1"], "--margin"),
        (vec!["fit-planner", "--quantile", "1.5"], "--quantile"),
        (vec!["fit-planner", "--history", "1"], "--history"),
        (vec!["fit-planner", "--scenario", "no-such-scenario"], "no-such-scenario"),
        (vec!["fit-planner", "--run-name", "../elsewhere"], "--run-name"),
    ] {
        let out = serflow(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.lines().count() == 1 && err.contains(expected), "{args:?}: {err}");
    }
    let bad = dir.join("bad.ron");
    let shipped =
        std::fs::read_to_string(common::repo_root().join("checkpoints/production/planner.ron")).unwrap();
    std::fs::write(&bad, shipped.replacen("lookahead: 20", "lookahead: 0", 1)).unwrap();
    let out = serflow(&["simulate", "--scenario", "default", "--policy", bad.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.lines().count() == 1 && err.contains("bad.ron") && err.contains("lookahead"), "{err}");
}
