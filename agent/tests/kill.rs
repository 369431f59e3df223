//! Kill safety: a training process killed (SIGKILL) at random moments, checkpoint writes included,
//! always leaves a checkpoint that loads, and resuming from what is on disk ends exactly where an
//! uninterrupted run ends: the resumed curve continues the saved one.

mod common;
use common::{repo_root, scratch, stderr};
use serflow_agent::checkpoint::{self, LATEST};
use serflow_agent::config::{EnvKind, TrainConfig};
use serflow_agent::plan::TrainPlan;
use serflow_agent::train::{Quiet, TrainOptions, TrainState};
use serflow_env::rng::{SimRng, Stream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

fn config() -> TrainConfig {
    let mut c = TrainConfig::default_for(EnvKind::Cartpole);
    c.ppo.total_timesteps = 120 * 512;
    c.eval_every = 8;
    c.eval_episodes = 2;
    c.checkpoint_every = 1; // a write every iteration, so kills land inside writes too
    c
}

#[test]
fn a_run_killed_at_random_moments_resumes_from_disk_to_the_uninterrupted_result() {
    let dir = scratch("kill");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    let config_path = dir.join("config.ron");
    std::fs::write(&config_path, ron::ser::to_string(&config()).unwrap()).unwrap();
    let checkpoints = dir.join("run/checkpoints");

    let timer = Instant::now();
    let reference = TrainPlan::start(config(), "reference".into(), dir.join("ref"), dir.join("ref/ckpt"))
        .unwrap()
        .train(&TrainOptions {
            stop_after: None,
            interrupt: Arc::new(AtomicBool::new(false)),
            observer: &Quiet,
            tensorboard: false,
        })
        .unwrap()
        .state;
    // Kills land within the time a whole run takes, so most of them interrupt it.
    let run_ms = (timer.elapsed().as_millis() as u64).max(200);

    // Resumes run from a directory other than the repository: nothing is looked up by name.
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let mut rng = SimRng::new(7, Stream::Training);
    let (mut kills, mut finished) = (0, false);
    let started = Instant::now();
    while !finished {
        assert!(started.elapsed() < Duration::from_secs(600), "training never finished");
        let resume = checkpoints.join(LATEST).exists();
        let mut command = Command::new(env!("CARGO_BIN_EXE_serflow"));
        if resume {
            command.args(["train", "--resume"]).arg(&checkpoints).current_dir(&elsewhere);
        } else {
            let logdir = dir.to_str().unwrap();
            command
                .args([
                    "train",
                    "--config",
                    config_path.to_str().unwrap(),
                    "--logdir",
                    logdir,
                    "--run-name",
                    "run",
                ])
                .current_dir(repo_root());
        }
        let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        if kills < 8 {
            std::thread::sleep(Duration::from_millis(20 + rng.below(run_ms / 4)));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                kills += 1;
            }
        }
        let out = child.wait_with_output().unwrap();
        finished = out.status.success();
        if checkpoints.join(LATEST).exists() {
            // Whatever the moment of the kill, what is on disk loads.
            let _: TrainState =
                checkpoint::load(&checkpoints).unwrap_or_else(|e| panic!("after kill {kills}: {e}"));
            // A kill inside a write leaves at most a stray temporary file, which must not matter.
            std::fs::write(checkpoints.join(format!(".{LATEST}.tmp")), "Train(garbage").unwrap();
        } else {
            assert!(!finished, "finished without a checkpoint: {}", stderr(&out));
        }
    }
    assert!(kills >= 3, "only {kills} kills landed: make the run longer");
    let resumed: TrainState = checkpoint::load(&checkpoints).unwrap();
    assert_eq!((resumed.iteration, resumed.global_step), (reference.iteration, reference.global_step));
    assert!(resumed.nets == reference.nets, "the resumed run's networks differ from the uninterrupted run's");
    assert!(resumed.adam == reference.adam, "Adam's state differs");
    assert!(resumed.rng == reference.rng, "the random stream differs");
    assert_eq!(resumed.best_score, reference.best_score);
}
