//! Training: CartPole gets solved, a seed fixes the curve, a resumed run continues the same curve bit
//! for bit (stacked frames included), an exported policy reads what the trainer's actor read, and a
//! non-finite loss stops training without touching the last checkpoint.

mod common;
use common::{options, plan, run_dir, scratch};
use serflow_agent::checkpoint;
use serflow_agent::config::{EnvKind, TrainConfig};
use serflow_agent::frames::FrameHistory;
use serflow_agent::logging::Point;
use serflow_agent::plan::{Task, TrainPlan};
use serflow_agent::task::{CartPoleTask, TrainTask};
use serflow_agent::train::{Stop, TrainState, init_state, train};
use serflow_env::{Env, Scenario};
use serflow_policies::learned::masked_argmax;
use std::path::PathBuf;

fn fresh<T: TrainTask>(task: &T, config: TrainConfig, name: &str) -> TrainState {
    let dir = run_dir(name);
    init_state(task, config, None, name.into(), dir.join("log"), dir.join("ckpt")).unwrap()
}

/// The curve without wall-clock figures.
fn curve(points: &[Point]) -> Vec<Point> {
    points.iter().filter(|p| p.tag != "charts/SPS").cloned().collect()
}

#[test]
fn cartpole_is_solved_within_150k_steps_with_cleanrl_hyperparameters() {
    let config = TrainConfig::default_for(EnvKind::Cartpole); // CleanRL ppo.py, 500k-step schedule
    let state = fresh(&CartPoleTask, config, "solve");
    // 292 iterations x 512 steps = 149,504 steps; greedy evaluation on 20 episodes every 10 iterations.
    let out = train(&CartPoleTask, state, &options(Some(292))).unwrap();
    assert_eq!(out.stop, Stop::Paused);
    let evals: Vec<&Point> = out.log.points.iter().filter(|p| p.tag == "eval/episodic_return").collect();
    let solved = evals.iter().find(|p| p.value >= 475.0);
    assert!(
        solved.is_some(),
        "not solved by 149,504 steps: {:?}",
        evals.iter().map(|p| p.value).collect::<Vec<_>>()
    );
    assert!(solved.unwrap().step <= 150_000);
}

fn short_cartpole() -> TrainConfig {
    let mut c = TrainConfig::default_for(EnvKind::Cartpole);
    c.ppo.total_timesteps = 12 * 512;
    c.eval_every = 5;
    c.eval_episodes = 3;
    c.checkpoint_every = 4;
    c
}

#[test]
fn same_seed_same_curve_other_seed_other_curve() {
    let a = train(&CartPoleTask, fresh(&CartPoleTask, short_cartpole(), "seed-a"), &options(None)).unwrap();
    let b = train(&CartPoleTask, fresh(&CartPoleTask, short_cartpole(), "seed-b"), &options(None)).unwrap();
    assert_eq!(curve(&a.log.points), curve(&b.log.points));
    assert_eq!(a.state.nets, b.state.nets);
    let mut other = short_cartpole();
    other.seed = 2;
    let c = train(&CartPoleTask, fresh(&CartPoleTask, other, "seed-c"), &options(None)).unwrap();
    assert_ne!(curve(&a.log.points), curve(&c.log.points));
}

#[test]
fn a_resumed_run_continues_the_same_curve_bit_for_bit() {
    let whole =
        train(&CartPoleTask, fresh(&CartPoleTask, short_cartpole(), "whole"), &options(None)).unwrap();
    // Interrupted after 5 iterations (mid-episode), saved to disk, loaded, continued.
    let first =
        train(&CartPoleTask, fresh(&CartPoleTask, short_cartpole(), "split"), &options(Some(5))).unwrap();
    assert_eq!(first.stop, Stop::Paused);
    let loaded = checkpoint::load(&first.state.checkpoint_dir).unwrap();
    assert_eq!(loaded, first.state, "the checkpoint round-trips exactly");
    let second = train(&CartPoleTask, loaded, &options(None)).unwrap();
    let mut joined = curve(&first.log.points);
    joined.extend(curve(&second.log.points));
    assert_eq!(joined, curve(&whole.log.points));
    assert_eq!(second.state.nets, whole.state.nets);
    assert_eq!(second.state.adam, whole.state.adam);
    assert_eq!(second.state.rng, whole.state.rng);
}

#[test]
fn a_non_finite_loss_stops_training_and_keeps_the_last_checkpoint() {
    let state = fresh(&CartPoleTask, short_cartpole(), "nan");
    let path = checkpoint::save(&state, &state.checkpoint_dir, checkpoint::LATEST).unwrap();
    let before = std::fs::read(&path).unwrap();
    let mut broken = state.clone();
    broken.nets.critic.layers[0].biases[0] = f32::NAN;
    let err = train(&CartPoleTask, broken, &options(None)).err().expect("a NaN critic must stop training");
    let message = err.to_string();
    assert!(message.contains("NaN") && message.contains("intact"), "{message}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// The shipped serving config cut to `iterations` rollouts of `num_steps` in two environments,
/// evaluated once on one episode, without its imitation phase (tested in `imitation.rs`) and on the
/// scenario's own workload.
fn small_serving(num_steps: usize, iterations: u64) -> TrainConfig {
    let mut config = TrainConfig::default_for(EnvKind::Serflow);
    config.imitation = None;
    config.training_workload = None;
    config.ppo.num_envs = 2;
    config.ppo.num_steps = num_steps;
    config.ppo.num_minibatches = 2;
    config.ppo.total_timesteps = iterations * 2 * num_steps as u64;
    config.eval_every = 0;
    config.eval_episodes = 1;
    config
}

#[test]
fn the_serving_environment_resumes_mid_episode_bit_for_bit_from_its_own_scenario() {
    let mut config = small_serving(40, 4);
    config.random_initial_vms = Some(3); // the random start must replay on resume too
    // and so must episodes drawn from the shipped config's training workload
    config.training_workload = TrainConfig::default_for(EnvKind::Serflow).training_workload;
    let whole = plan(config.clone(), "serve-whole").train(&options(None)).unwrap();
    let first = plan(config, "serve-split").train(&options(Some(2))).unwrap();
    // Resumed from the checkpoint alone: the scenario travels in it.
    let resumed = TrainPlan::resume(&first.state.checkpoint_dir).unwrap();
    let Task::Serving(task) = &resumed.task else { panic!("a serving run resumes as one") };
    let n_stages = task.scenario.n_stages();
    assert_eq!(resumed.state.scenario, first.state.scenario);
    let second = resumed.train(&options(None)).unwrap();
    let mut joined = curve(&first.log.points);
    joined.extend(curve(&second.log.points));
    assert_eq!(joined, curve(&whole.log.points));
    let (a, b) = (&second.state, &whole.state);
    assert!(a.nets == b.nets, "nets differ");
    assert!(a.adam == b.adam, "adam differs");
    assert!(a.obs_norm == b.obs_norm, "obs_norm differs");
    assert!(a.reward_scaler == b.reward_scaler, "reward_scaler differs");
    assert!(a.rng == b.rng, "rng differs");
    assert!(a.lambda == b.lambda, "lambda differs");
    assert!(a.envs == b.envs, "envs differ");
    assert!(a.episodes == b.episodes, "episodes differ");
    assert!(a.best_score == b.best_score, "best_score differs");
    assert_eq!(second.state.nets, whole.state.nets);
    // per-stage credit (the shipped config): one value per stage cost plus the SLO part
    assert_eq!(whole.state.nets.critic.outputs(), n_stages + 1);
    assert!(joined.iter().any(|p| p.tag == "charts/lagrange_multiplier"));
    assert!(joined.iter().any(|p| p.tag == "eval/heuristic_cost"));
}

/// Front-end arrivals per second over the first minute of an episode of `task`'s training
/// environment.
fn training_rate(task: &serflow_agent::task::ServingTask) -> f64 {
    let mut env = task.make_env();
    env.reset(7);
    let hold = vec![0; env.action_space().nvec.len()];
    let arrivals: u64 = (0..6).map(|_| env.step(&hold).info.arrivals).sum();
    arrivals as f64 / 60.0
}

#[test]
fn a_training_workload_feeds_the_training_episodes_and_evaluation_stays_on_the_scenario() {
    let mut config = small_serving(20, 2);
    config.training_workload = Some(ron::from_str("Poisson(rate: Constant(5.0))").unwrap());
    let first = plan(config.clone(), "training-workload").train(&options(Some(1))).unwrap();
    // Resumed from the checkpoint alone: the training workload travels in the run's config.
    let resumed = TrainPlan::resume(&first.state.checkpoint_dir).unwrap();
    let Task::Serving(task) = &resumed.task else { panic!("a serving run resumes as one") };
    assert_eq!(task.training.config.workload, config.training_workload.clone().unwrap());
    assert_eq!(task.scenario.config.workload, Scenario::load("default").unwrap().config.workload);
    let rate = training_rate(task);
    assert!((2.0..10.0).contains(&rate), "training episodes should arrive at ~5 req/s, not {rate}");
    // Without it, the same run trains on the scenario's own load (75-225 req/s).
    let own = plan(small_serving(20, 2), "own-workload");
    let Task::Serving(own) = &own.task else { panic!("a serving run") };
    assert!(training_rate(own) > 50.0);
}

#[test]
fn per_stage_credit_needs_an_environment_with_stages() {
    let mut config = short_cartpole();
    config.ppo.credit = serflow_agent::credit::CreditMode::PerStage;
    let dir = scratch("credit");
    let err = init_state(&CartPoleTask, config, None, "credit".into(), dir.join("log"), dir.join("ckpt"))
        .unwrap_err();
    assert!(err.to_string().contains("ppo.credit"), "{err}");
}

#[test]
fn need_relative_targets_train_export_and_report_per_workload() {
    let dir = run_dir("need-relative-scenario");
    std::fs::create_dir_all(&dir).unwrap();
    let default = include_str!("../../env/src/scenarios/default.ron");
    let cut = default.find("    workload:").unwrap();
    let mixture = "    workload: Mixture(components: [
        Component(weight: 1.0, workload: Poisson(rate: Diurnal(mean: 300.0, amplitude: 0.8, period_s: 600.0))),
        Component(weight: 1.0, workload: Poisson(rate: Steps([(0.0, 100.0), (300.0, 600.0)]))),
    ], rate_scale: (0.8, 1.2)),
)";
    let text = format!("{}{mixture}", &default[..cut]).replace("horizon_s: 3600.0", "horizon_s: 600.0");
    let path = dir.join("mixture.ron");
    std::fs::write(&path, text).unwrap();

    let mut config = small_serving(30, 2);
    config.scenario = path.display().to_string();
    config.vm_need_multiples = vec![1.5, 0.0, 1.0];
    config.vm_scale_in_tolerance = 0.1;
    config.vm_need_leads = vec![10.0, 0.0];
    config.vm_offer_slo_capacity = true;
    config.vm_scale_in_window = 6;
    let outcome = plan(config.clone(), "need-relative").train(&options(None)).unwrap();
    let tags: Vec<&str> = outcome.log.points.iter().map(|p| p.tag.as_str()).collect();
    for tag in ["eval/cost", "eval/diurnal/cost", "eval/steps/slo_attainment"] {
        assert!(tags.contains(&tag), "{tag} not logged");
    }

    let resumed = TrainPlan::resume(&outcome.state.checkpoint_dir).unwrap();
    let Task::Serving(task) = &resumed.task else { panic!("a serving run resumes as one") };
    assert_eq!(task.action_set.vm_need_multiples, config.vm_need_multiples);
    assert_eq!(task.action_set.nvec(4), vec![7, 5, 7, 5, 7, 5, 7, 5], "hold + 3 multiples x 2 leads");
    assert!(task.action_set.vm_capacity_rps.iter().all(|&c| c > 10.0), "capacities come from the profile");
    assert_eq!(task.action_set.vm_scale_in_tolerance, 0.1);
    assert_eq!(
        (task.action_set.vm_need_leads.as_slice(), task.action_set.vm_scale_in_window),
        (&[10.0, 0.0][..], 6)
    );
    assert_eq!(task.action_set.vm_offer_limit_rps.len(), 4, "offers capped at the profile's SLO capacity");
    let file = serflow_agent::export::policy_file(
        &outcome.state.nets,
        &outcome.state.obs_norm,
        &task.scenario,
        &task.action_set,
        String::new(),
    );
    let text = ron::ser::to_string_pretty(&file, ron::ser::PrettyConfig::default()).unwrap();
    let loaded = serflow_policies::Learned::parse(&text, "policy.ron").unwrap();
    assert_eq!(loaded.file().action_set, task.action_set);

    config.vm_need_multiples = vec![-1.0];
    let dir = run_dir("need-relative-bad");
    let err = TrainPlan::start(config, "bad".into(), dir.join("log"), dir.join("ckpt")).err().unwrap();
    assert!(err.to_string().contains("vm_need_multiples"), "{err}");
}

/// `default` cut to 170 s (17 steps an episode), written to a fresh scratch directory `name`.
fn short_default_scenario(name: &str) -> PathBuf {
    let dir = run_dir(name);
    std::fs::create_dir_all(&dir).unwrap();
    let short =
        include_str!("../../env/src/scenarios/default.ron").replace("horizon_s: 3600.0", "horizon_s: 170.0");
    let path = dir.join("short.ron");
    std::fs::write(&path, short).unwrap();
    path
}

#[test]
fn stacked_frames_resume_bit_for_bit_and_export_what_the_runtime_reads() {
    // 17-step episodes: rollouts of 30 steps cross episode ends, and the run's 120 steps per
    // environment stop one step into an episode (7 x 17 = 119).
    let path = short_default_scenario("frames-scenario");
    let mut config = small_serving(30, 4);
    config.scenario = path.display().to_string();
    config.frame_stack = 3;

    let whole = plan(config.clone(), "frames-whole").train(&options(None)).unwrap();
    let first = plan(config, "frames-split").train(&options(Some(2))).unwrap();
    let resumed = TrainPlan::resume(&first.state.checkpoint_dir).unwrap();
    assert_eq!(resumed.state.frames, first.state.frames, "the history travels in the checkpoint");
    let second = resumed.train(&options(None)).unwrap();
    let mut joined = curve(&first.log.points);
    joined.extend(curve(&second.log.points));
    assert_eq!(joined, curve(&whole.log.points));
    assert!(second.state.nets == whole.state.nets, "nets differ");
    assert!(second.state.frames == whole.state.frames, "frames differ");
    // One step into an episode, the history is a zero frame then the episode's first observation.
    let dim = whole.state.obs_norm.stats.mean.len();
    let mut stacked = vec![1.0; 3 * dim];
    for e in 0..2 {
        whole.state.frames.stack(e, &vec![0.0; dim], &mut stacked);
        assert!(stacked[..dim].iter().all(|&x| x == 0.0), "the last episode's frames were kept");
        assert!(stacked[dim..2 * dim].iter().any(|&x| x != 0.0), "the first observation was not kept");
    }

    // The exported policy stacks the same frames: its logits over two episodes (reset between)
    // equal the trainer's, computed from the networks, the normaliser and a fresh history.
    let Task::Serving(task) = &TrainPlan::resume(&whole.state.checkpoint_dir).unwrap().task else {
        panic!("a serving run resumes as one")
    };
    let (nets, norm) = (&whole.state.nets, &whole.state.obs_norm);
    let file =
        serflow_agent::export::policy_file(nets, norm, &task.scenario, &task.action_set, String::new());
    assert_eq!(file.frame_stack, 3);
    let mut policy = serflow_policies::Learned::new(file).unwrap();
    let mut env = task.make_env();
    let n_stages = task.scenario.n_stages();
    let nvec = env.action_space().nvec;
    let mut normalized = vec![0.0; dim];
    let mut input = vec![0.0; 3 * dim];
    let mut scratch = vec![0.0; 2 * nets.actor.max_width()];
    let mut logits = vec![0.0; nets.actor.outputs()];
    let mut mask = vec![true; logits.len()];
    let mut action = vec![0; nvec.len()];
    for seed in [7, 8] {
        let (mut obs, _) = env.reset(seed);
        serflow_policies::Policy::reset(&mut policy);
        let mut frames = FrameHistory::new(1, dim, 3);
        for _ in 0..12 {
            norm.normalize(&obs, &mut normalized);
            frames.stack(0, &normalized, &mut input);
            frames.push(0, &normalized);
            nets.actor.forward(&input, &mut scratch, &mut logits);
            let observation = serflow_policies::Observation::from_values(n_stages, obs.clone()).unwrap();
            assert_eq!(policy.logits(&observation), &logits[..]);
            env.action_mask(&mut mask);
            masked_argmax(&logits, &mask, &nvec, &mut action);
            obs = env.step(&action).obs;
        }
    }
}

#[test]
fn the_command_line_trains_and_exports_a_stacked_policy() {
    let dir = run_dir("frames-cli");
    let scenario = short_default_scenario("frames-cli-scenario").display().to_string();
    let logdir = dir.display().to_string();
    let ok = |args: &[&str]| {
        let out = common::serflow(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    ok(&[
        "train",
        "--scenario",
        &scenario,
        "--steps",
        "2880",
        "--frame-stack",
        "2",
        "--logdir",
        &logdir,
        "--run-name",
        "fs",
    ]);
    let policy = dir.join("policy.ron").display().to_string();
    ok(&["export", "--checkpoint", &format!("{logdir}/fs/checkpoints"), "--out", &policy]);
    assert!(std::fs::read_to_string(&policy).unwrap().contains("frame_stack: 2"));
    ok(&["simulate", "--scenario", &scenario, "--policy", &policy]);
}

#[test]
fn the_main_job_trains_default_and_reproduces_the_shipped_planner_and_a_paused_run_exports_nothing() {
    let dir = run_dir("main-job");
    let logdir = dir.display().to_string();
    // 2,880 steps are one batch of `default` (it finishes); then the planner fit, in full (its
    // recipe is the shipped one's, so the file it writes must be the shipped file).
    let out = common::serflow(&["train", "--steps", "2880", "--stop-after", "1", "--logdir", &logdir]);
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    runs.sort();
    let names: Vec<String> =
        runs.iter().map(|r| r.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(runs.len(), 2, "{names:?}");
    assert!(names[0].starts_with("planner__production__") && names[1].starts_with("serflow__default__1__"));
    let config = std::fs::read_to_string(runs[1].join("config.ron")).unwrap();
    assert!(config.contains("scenario: \"default\"") && !config.contains("vm_need_leads"));
    serflow_policies::Learned::load(runs[1].join("policy.ron")).expect("a finished run exports its policy");
    let planner = std::fs::read_to_string(runs[0].join("planner.ron")).unwrap();
    serflow_policies::ForecastPlanner::parse(&planner, "planner.ron").expect("the fit writes a planner");
    assert!(
        err.contains("the shipped checkpoints/production/planner.ron reproduced bit for bit"),
        "the main job re-fits the shipped planner exactly: {err}"
    );

    // PPO on production, its own embedded config, paused after one iteration of three.
    let args = ["train", "--scenario", "production", "--steps", "8640", "--stop-after", "1"];
    let out = common::serflow(&[&args[..], &["--logdir", &logdir, "--run-name", "paused"]].concat());
    assert!(out.status.success(), "{}", common::stderr(&out));
    let paused = dir.join("paused");
    let config = std::fs::read_to_string(paused.join("config.ron")).unwrap();
    assert!(config.contains("vm_need_leads"), "production trains on its own embedded config");
    assert!(!paused.join("policy.ron").exists(), "a paused run exports nothing");
    assert!(paused.join("checkpoints").join(checkpoint::LATEST).exists());
    assert!(common::stderr(&out).contains("continue with: serflow train --resume"));

    let out = common::serflow(&["train", "--run-name", "one", "--logdir", &logdir]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("--run-name names one run"), "{}", common::stderr(&out));
}
