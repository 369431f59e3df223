//! Helpers shared by the agent's integration tests: run the built `serflow` binary, find the shared
//! traces, make scratch directories.

#![allow(dead_code)] // each test file uses a subset

use serflow_agent::plan::TrainPlan;
use serflow_agent::train::{Quiet, TrainOptions};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Runs `serflow args...` from the repository root.
pub fn serflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_serflow"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("the serflow binary runs")
}

/// The workspace root (where `../shared` is reachable, as for a user).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("agent/ has a parent").to_path_buf()
}

/// `../shared/traces/NAME`, relative to the repository root.
pub fn shared_trace(name: &str) -> String {
    format!("../shared/traces/{name}")
}

/// A scratch directory unique to this test process, under Cargo's per-target test directory
/// (`target/tmp`, removed by `cargo clean`) rather than the system's temp dir.
pub fn scratch(name: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("serflow-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Training options for a test: quiet, no TensorBoard files, stopping after `stop_after` iterations.
pub fn options(stop_after: Option<u64>) -> TrainOptions<'static> {
    TrainOptions {
        stop_after,
        interrupt: Arc::new(AtomicBool::new(false)),
        observer: &Quiet,
        tensorboard: false,
    }
}

/// An empty scratch directory for the run `name` (nothing left from an earlier process with this id).
pub fn run_dir(name: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::remove_dir_all(&dir).ok();
    dir
}

/// A fresh run of `config` named `name`, logging and checkpointing in its own scratch directory.
pub fn plan(config: serflow_agent::config::TrainConfig, name: &str) -> TrainPlan {
    let dir = run_dir(name);
    TrainPlan::start(config, name.into(), dir.join("log"), dir.join("ckpt")).unwrap()
}
