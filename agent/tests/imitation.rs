//! Imitation of the oracle before PPO: the student fitted on earlier rounds agrees with the teacher
//! more often than the untrained one on episodes neither saw, the same seed gives the same student,
//! a run paused right after imitation resumes into the same PPO curve bit for bit, and one
//! interrupted between rounds resumes into the same run.

mod common;
use common::{options, plan, scratch};
use serflow_agent::config::{EnvKind, TrainConfig};
use serflow_agent::imitation::ImitationConfig;
use serflow_agent::imitation::RoundReport;
use serflow_agent::logging::Point;
use serflow_agent::plan::TrainPlan;
use serflow_agent::train::{Stop, TrainObserver, TrainOptions};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// `default` cut to 5-minute episodes, VM targets as multiples of the need, the last two observations
/// stacked, two PPO iterations after three imitation rounds.
fn config(name: &str) -> TrainConfig {
    let dir = scratch(name);
    let short =
        include_str!("../../env/src/scenarios/default.ron").replace("horizon_s: 3600.0", "horizon_s: 300.0");
    let path = dir.join("short.ron");
    std::fs::write(&path, short).unwrap();
    let mut c = TrainConfig::default_for(EnvKind::Serflow);
    c.scenario = path.display().to_string();
    c.training_workload = None;
    c.ppo.num_envs = 2;
    c.ppo.num_steps = 20;
    c.ppo.num_minibatches = 2;
    c.ppo.total_timesteps = 2 * 2 * 20;
    c.eval_every = 0;
    c.eval_episodes = 2;
    c.vm_need_multiples = vec![1.0, 0.5, 1.5, 2.0, 3.0];
    c.vm_shares = vec![1.0];
    c.frame_stack = 2;
    c.imitation = Some(ImitationConfig {
        rounds: 3,
        episodes_per_round: 4,
        epochs: 40,
        minibatch_size: 32,
        learning_rate: 3e-3,
        teacher_decay: 0.5,
    });
    c
}

fn values(points: &[Point], tag: &str) -> Vec<f64> {
    points.iter().filter(|p| p.tag == tag).map(|p| p.value).collect()
}

/// Keeps what the trainer tells about the imitation phase.
#[derive(Default)]
struct Rounds {
    seen: Mutex<Vec<RoundReport>>,
    ended: Mutex<Option<(usize, Vec<RoundReport>)>>,
}

impl TrainObserver for Rounds {
    fn imitated(&self, _round: usize, report: &RoundReport) {
        self.seen.lock().unwrap().push(report.clone());
    }

    fn imitation_ended(&self, kept: usize, rounds: &[RoundReport]) {
        *self.ended.lock().unwrap() = Some((kept, rounds.to_vec()));
    }
}

#[test]
fn the_student_learns_the_teacher_deterministically_and_ppo_resumes_after_it() {
    let rounds = Rounds::default();
    let whole = plan(config("imitate-config"), "imitate-whole")
        .train(&TrainOptions { observer: &rounds, ..options(None) })
        .unwrap();
    // The phase's end names the round it kept: the first of the best score, each round flagged
    // by whether its evaluation missed the SLO target.
    let (kept, reports) = rounds.ended.lock().unwrap().clone().expect("imitation ended");
    assert_eq!(reports, *rounds.seen.lock().unwrap());
    assert!(reports.iter().all(|r| r.score <= reports[kept].score), "{reports:?}");
    assert!(reports[..kept].iter().all(|r| r.score < reports[kept].score), "{reports:?}");
    for r in &reports {
        let attained = r.metrics.iter().find(|(n, _)| n == "slo_attainment").unwrap().1;
        assert_eq!(r.below_target, attained < 0.99, "{r:?}");
    }
    let agreement = values(&whole.log.points, "imitation/agreement");
    assert_eq!(agreement.len(), 3, "one point per round");
    assert!(
        agreement[2] > agreement[0] + 0.2,
        "the fitted student should agree with the oracle more often than the untrained one: {agreement:?}"
    );
    let losses = values(&whole.log.points, "imitation/loss");
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");

    let paused = plan(config("imitate-config"), "imitate-split").train(&options(Some(0))).unwrap();
    assert_eq!(paused.stop, Stop::Paused);
    assert!(paused.state.imitated);
    assert_eq!(values(&paused.log.points, "imitation/agreement"), agreement, "same seed, same rounds");
    let resumed = TrainPlan::resume(&paused.state.checkpoint_dir).unwrap().train(&options(None)).unwrap();
    assert!(values(&resumed.log.points, "imitation/agreement").is_empty(), "imitation runs once");
    let ppo = |points: &[Point]| -> Vec<Point> {
        points.iter().filter(|p| !p.tag.starts_with("imitation/") && p.tag != "charts/SPS").cloned().collect()
    };
    assert_eq!(ppo(&resumed.log.points), ppo(&whole.log.points));
    assert!(resumed.state.nets == whole.state.nets, "nets differ");
}

/// Raises the interrupt flag when the first imitation round ends, as Ctrl-C would.
struct CtrlCAfterFirstRound(Arc<AtomicBool>);

impl TrainObserver for CtrlCAfterFirstRound {
    fn imitated(&self, _round: usize, _report: &RoundReport) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn an_interrupt_between_rounds_checkpoints_the_start_and_resuming_gives_the_uninterrupted_run() {
    let whole = plan(config("interrupt-config"), "interrupt-whole").train(&options(None)).unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let observer = CtrlCAfterFirstRound(flag.clone());
    let start = plan(config("interrupt-config"), "interrupt-split");
    let initial = start.state.nets.clone();
    let stopped = start
        .train(&TrainOptions { stop_after: None, interrupt: flag, observer: &observer, tensorboard: false })
        .unwrap();
    assert_eq!(stopped.stop, Stop::Interrupted);
    assert!(!stopped.state.imitated);
    assert!(stopped.state.nets == initial, "the partly fitted student was kept");
    let resumed = TrainPlan::resume(&stopped.state.checkpoint_dir).unwrap().train(&options(None)).unwrap();
    assert!(resumed.state.nets == whole.state.nets, "nets differ");
    assert_eq!(resumed.log.points.len(), whole.log.points.len());
}
