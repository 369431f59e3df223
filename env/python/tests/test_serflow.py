"""The Python package against the Rust it wraps: Gymnasium's checker, episodes and batches equal to the
Rust loops bit for bit, the shipped policy acting as the Rust runtime does, exported actors, bad input."""

import json
import math
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import serflow

REPO = Path(__file__).resolve().parents[3]
SHIPPED_DEFAULT = REPO / "checkpoints" / "default" / "policy.ron"
PRODUCTION_PPO = REPO / "checkpoints" / "production" / "policy.ron"
PRODUCTION_PLANNER = REPO / "checkpoints" / "production" / "planner.ron"


def random_actions(env, steps, seed):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, env.action_space.nvec) for _ in range(steps)]).astype(np.int64)


def test_passes_gymnasium_check_env_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(serflow.ServingEnv(duration=600), skip_render_check=True)
        made = gym.make(serflow.ENV_ID, scenario="default", duration=600)
        check_env(made.unwrapped, skip_render_check=True)
    assert made.unwrapped.feature_names[0] == "stage0.arrival_rate"
    assert made.action_space == gym.spaces.MultiDiscrete([5] * 8)


def test_python_episode_equals_rust_episode_for_same_seed_and_actions():
    env = serflow.ServingEnv(duration=1200)
    actions = random_actions(env, env.steps_per_episode, seed=3)
    rust_obs, rust_rewards, _ = env.replay(11, actions)
    obs, info = env.reset(seed=11)
    assert info == {}
    observed, rewards = [obs], []
    for step, action in enumerate(actions):
        obs, reward, terminated, truncated, info = env.step(action)
        observed.append(obs)
        rewards.append(reward)
        assert not terminated
        assert truncated == (step == len(actions) - 1)
        assert obs.dtype == np.float32 and env.observation_space.contains(obs)
    assert np.array_equal(np.stack(observed), rust_obs)
    assert np.array_equal(np.array(rewards), rust_rewards)
    # Another seed is another episode.
    other, _ = env.replay(12, actions)[:2]
    assert not np.array_equal(other, rust_obs)


def test_shipped_policy_acts_as_the_rust_runtime():
    """The shipped learned policy, stepped from Python with Policy.choose, gives the episode the Rust
    runtime gives (serflow simulate): the same action at every one of its 360 decisions."""
    for policy in (serflow.Policy.load("learned"), serflow.Policy.load(str(SHIPPED_DEFAULT))):
        env = serflow.ServingEnv(**policy.action_options)
        env.check_policy(policy)
        obs, _ = env.reset(seed=7)
        policy.reset()
        truncated = False
        while not truncated:
            obs, _, _, truncated, _ = env.step(policy.choose(obs))
        assert env.episode_report("learned") == serflow.simulate("learned", seed=7)


def test_production_ppo_policy_steps_in_its_training_action_set():
    """The PPO policy trained on production decides on a forecast need: stepped from Python in an
    environment built with its action options (its training config's action set), it gives the Rust
    runtime's episode."""
    policy = serflow.Policy.load(str(PRODUCTION_PPO), scenario="production")
    assert policy.action_options == dict(
        vm_need_multiples=[1.11, 1.0, 1.25, 1.4, 1.7],
        vm_shares=[1.0],
        vm_scale_in_tolerance=0.1,
        vm_need_leads=[10.2, 0.0],
        vm_offer_slo_capacity=False,
        vm_scale_in_window=6,
    ), "agent/configs/production.ron's action set"
    env = serflow.ServingEnv(scenario="production", duration=900, **policy.action_options)
    assert env.action_space == gym.spaces.MultiDiscrete([11, 1] * 4), "hold + 5 multiples x 2 leads"
    obs, _ = env.reset(seed=2_000_000)
    policy.reset()
    truncated = False
    while not truncated:
        obs, _, _, truncated, _ = env.step(policy.choose(obs))
    expected = serflow.simulate(str(PRODUCTION_PPO), scenario="production", seed=2_000_000, duration=900)
    assert env.episode_report(str(PRODUCTION_PPO)) == expected


def test_the_production_planner_sets_vm_targets_and_picks_no_environment_action():
    """`learned` on production is the learned-forecast planner: it acts on an observation with VM
    targets, as the Rust runtime does, and has no discrete choices to step an environment with."""
    policy = serflow.Policy.load("learned", scenario="production")
    env = serflow.ServingEnv(scenario="production", duration=300)
    obs, _ = env.reset(seed=2_000_000)
    policy.reset()
    names = env.feature_names
    loaded = obs.copy()  # an interval measured and billed at 1,000 req/s on every stage
    for k in range(4):
        loaded[names.index(f"stage{k}.arrival_rate")] = 1000.0
    loaded[names.index("cost_rate")] = 1.0
    action = policy.act(loaded)
    assert len(action["vm_target"]) == 4 and action["vm_share"] == [1.0] * 4
    assert all(target >= 1 for target in action["vm_target"]), "VMs for the load"
    with pytest.raises(ValueError, match="learned: choose: only a learned policy exported by"):
        policy.choose(obs)
    same = serflow.simulate(str(PRODUCTION_PLANNER), scenario="production", seed=2_000_000, duration=300)
    assert serflow.simulate("learned", scenario="production", seed=2_000_000, duration=300) == dict(
        same, policy="learned"
    )


def test_act_decodes_the_chosen_choices():
    """act() gives the VM target and share the environment commits for choose()'s choices."""
    policy = serflow.Policy.load("learned")
    env = serflow.ServingEnv(duration=300, **policy.action_options)
    obs, _ = env.reset(seed=2)
    names = env.feature_names
    shares = policy.action_options["vm_shares"]
    for _ in range(10):
        choice = policy.choose(obs)
        action = policy.act(obs)
        obs, *_ = env.step(choice)
        for k in range(4):
            vms = obs[names.index(f"stage{k}.vms_ready")] + obs[names.index(f"stage{k}.vms_booting")]
            assert action["vm_target"][k] == int(vms)
            assert action["vm_share"][k] == shares[choice[2 * k + 1]]
            assert action["vm_rate_limit"][k] is None
    assert policy.act(obs.astype(np.float64)) == policy.act(obs) == policy.act(obs.tolist())
    baseline = serflow.Policy.load("vm-only")
    assert len(baseline.act(obs)["vm_target"]) == 4
    with pytest.raises(ValueError, match="only a learned policy"):
        baseline.choose(obs)


def test_an_environment_refuses_a_policy_trained_in_another_action_set():
    """choose() indexes the policy's own action set; check_policy() says when an environment's differs."""
    policy = serflow.Policy.load("learned")
    with pytest.raises(ValueError, match="learned: was trained in another action set"):
        serflow.ServingEnv(duration=60).check_policy(policy)  # VM changes -2..+2
    options = dict(policy.action_options, vm_scale_in_window=3)
    with pytest.raises(ValueError, match="another action set"):
        serflow.ServingEnv(duration=60, **options).check_policy(policy)
    with pytest.raises(ValueError, match="another action set"):
        serflow.VectorEnv(2, duration=60).check_policy(policy)
    serflow.VectorEnv(2, duration=60, **policy.action_options).check_policy(policy)
    rule = serflow.Policy.load("tuned-hpa")
    for call in (lambda: rule.action_options, lambda: serflow.ServingEnv(duration=60).check_policy(rule)):
        with pytest.raises(ValueError, match="tuned-hpa: .*only a learned policy"):
            call()


def test_vector_env_autoresets_like_its_single_environments():
    """Three environments of 6 steps stepped 20 times: each ends three times. Every observation, reward,
    final observation and final report equals that of a single environment reset with the batch's
    seeding rule (environment i, e-th episode: seed + i + e * num_envs)."""
    n, seed = 3, 40
    venv = serflow.VectorEnv(n, duration=60)
    assert venv.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    singles = [serflow.ServingEnv(duration=60) for _ in range(n)]
    episodes = [0] * n
    obs, _ = venv.reset(seed=seed)
    expected = np.stack([s.reset(seed=seed + i)[0] for i, s in enumerate(singles)])
    assert np.array_equal(obs, expected)
    rng = np.random.default_rng(0)
    ended_count = 0
    for _ in range(20):
        actions = np.stack([rng.integers(0, venv.single_action_space.nvec) for _ in range(n)])
        obs, rewards, terminated, truncated, infos = venv.step(actions)
        assert obs.shape == (n, len(venv.feature_names)) and rewards.dtype == np.float64
        for i, single in enumerate(singles):
            s_obs, s_reward, s_term, s_trunc, s_info = single.step(actions[i])
            assert rewards[i] == s_reward and terminated[i] == s_term and truncated[i] == s_trunc
            if s_trunc:
                ended_count += 1
                assert infos["_final_obs"][i] and np.array_equal(infos["final_obs"][i], s_obs)
                assert infos["final_info"]["cost"][i] == s_info["cost"]
                assert np.array_equal(infos["final_info"]["stage_costs"][i], s_info["stage_costs"])
                assert not infos.get("_cost", np.zeros(n, bool))[i]
                episodes[i] += 1
                s_obs, _ = single.reset(seed=seed + i + episodes[i] * n)
            else:
                assert infos["_cost"][i] and infos["cost"][i] == s_info["cost"]
                assert not infos.get("_final_obs", np.zeros(n, bool))[i]
            assert np.array_equal(obs[i], s_obs)
    assert ended_count == 3 * n
    # The batch's Rust loop gives the same rewards as stepping it from Python.
    plan = np.stack([random_actions(singles[0], n, s) for s in range(15)])
    rust_rewards, _ = venv.replay(seed, plan)
    venv.reset(seed=seed)
    assert np.array_equal(np.stack([venv.step(actions)[1] for actions in plan]), rust_rewards)


def test_vector_env_from_make_vec_and_masks():
    venv = gym.make_vec(serflow.ENV_ID, num_envs=2, vectorization_mode="vector_entry_point", duration=60)
    obs, _ = venv.reset(seed=1)
    assert obs.shape == (2, 44)
    masks = venv.action_masks()
    assert masks.shape == (2, 40) and masks.dtype == bool
    single = serflow.ServingEnv(duration=60)
    single.reset(seed=1)
    assert np.array_equal(masks[0], single.action_masks())


NEED_MULTIPLES = [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5]


def test_stepping_on_the_expert_costs_about_what_the_oracle_does():
    env = serflow.ServingEnv(expert=True, duration=1200, vm_need_multiples=NEED_MULTIPLES)
    env.reset(seed=7)
    truncated = False
    while not truncated:
        action = env.expert_action()
        assert action.dtype == np.int64 and env.action_space.contains(action)
        mask = np.split(env.action_masks(), np.cumsum(env.action_space.nvec)[:-1])
        assert all(allowed[choice] for allowed, choice in zip(mask, action))
        _, _, _, truncated, _ = env.step(action)
    cost = env.episode_report()["cost"]["total"]
    oracle = serflow.simulate("oracle", seed=7, duration=1200)["cost"]["total"]
    faas_only = serflow.simulate("faas-only", seed=7, duration=1200)["cost"]["total"]
    assert cost < 1.2 * oracle and cost < 0.7 * faas_only, (cost, oracle, faas_only)


def test_vector_env_offers_each_environments_expert_action_across_autoresets():
    n, seed = 2, 11
    options = dict(expert=True, duration=60, vm_need_multiples=NEED_MULTIPLES)
    venv = serflow.VectorEnv(n, **options)
    singles = [serflow.ServingEnv(**options) for _ in range(n)]
    venv.reset(seed=seed)
    episodes = [0] * n
    for i, single in enumerate(singles):
        single.reset(seed=seed + i)
    for _ in range(9):  # episodes of 6 steps: every environment autoresets
        actions = venv.expert_actions()
        assert actions.shape == (n, len(venv.single_action_space.nvec))
        assert np.array_equal(actions, np.stack([s.expert_action() for s in singles]))
        venv.step(actions)
        for i, single in enumerate(singles):
            if single.step(actions[i])[3]:
                episodes[i] += 1
                single.reset(seed=seed + i + episodes[i] * n)
    assert episodes == [1, 1]


def test_expert_action_needs_the_expert_and_an_episode():
    with pytest.raises(ValueError, match="expert=True"):
        serflow.ServingEnv(duration=60).expert_action()
    with pytest.raises(ValueError, match="reset first"):
        serflow.ServingEnv(expert=True, duration=60).expert_action()
    with pytest.raises(ValueError, match="expert=True"):
        serflow.VectorEnv(2, duration=60).expert_actions()


def test_dagger_example_learns_from_the_expert(tmp_path, monkeypatch):
    """examples/dagger.py, in miniature: two rounds of 20-minute episodes give a student that keeps
    VMs as the oracle does, far cheaper than FaaS-only on a held-out hour."""
    monkeypatch.syspath_prepend(str(REPO / "env" / "python" / "examples"))
    import dagger

    out = tmp_path / "dagger.ron"
    args = ["--rounds", "2", "--envs", "4", "--duration", "1200", "--epochs", "150", "--heldout-seeds", "1"]
    rows = {row["policy"]: row for row in dagger.main(args + ["--out", str(out)])}
    assert serflow.Policy.load(str(out)).name == str(out)
    assert rows[str(out)]["cost"] < 0.8 * rows["faas-only"]["cost"], rows


def test_noise_gate_example_chooses_by_noise_on_held_out_workloads(monkeypatch):
    """examples/noise_gate.py, in miniature: the gate is chosen on selection seeds, then runs beside
    both constant choices on held-out ones, choosing the measured need only on noisy rates."""
    monkeypatch.syspath_prepend(str(REPO / "env" / "python" / "examples"))
    import noise_gate

    assert noise_gate.noise(np.arange(10.0)) == 0.0, "a clean ramp"
    assert noise_gate.noise(np.array([5.0, 7.0] * 5)) > 0.8, "a jitter"
    args = ["--windows", "6", "12", "--thresholds", "0.7", "--seeds", "1", "--duration", "600", "--jobs", "1"]
    result = noise_gate.main(args)
    assert result["chosen"] in [(6, 0.7), (12, 0.7)]
    heldout = result["heldout"]
    azure = "Azure LLM (never trained on)"
    for workload in ["mixture", azure]:
        assert heldout[(workload, "forecast")][2] == 0.0 and heldout[(workload, "measured")][2] == 1.0
        assert all(heldout[(workload, rule)][0] > 0 for rule in ["forecast", "measured", result["chosen"]])
    assert heldout[(azure, result["chosen"])][2] > 0.5, "Azure's second-scale bursts read as noise"


def test_simulate_and_compare_return_the_json_fields():
    report = serflow.simulate("serflow", seed=3, duration=600)
    assert report["policy"] == "serflow" and report["seed"] == 3
    assert math.isclose(report["cost"]["total"], sum(report["cost"][k] for k in ("vm", "faas", "transfer")))
    runs = serflow.compare(["faas-only", "vm-only"], seeds=2, first_seed="heldout", duration=600)
    assert [(r["policy"], r["seed"]) for r in runs] == [
        ("faas-only", 2_000_000),
        ("faas-only", 2_000_001),
        ("vm-only", 2_000_000),
        ("vm-only", 2_000_001),
    ]
    assert all(r["floor"]["total"] <= r["cost"]["total"] for r in runs)
    assert json.dumps(runs)  # plain JSON types
    assert "oracle" in serflow.POLICIES and "production" in serflow.SCENARIOS


def test_traces_replay_and_report_per_trace(tmp_path):
    counts = tmp_path / "counts.txt"
    counts.write_text("\n".join(str(50 + (t % 7) * 10) for t in range(300)) + "\n")
    env = serflow.ServingEnv(trace=counts)
    assert env.horizon_s == 300.0
    runs = serflow.compare(["faas-only"], seeds=1, trace=[counts, REPO / "traces" / "azure_llm_conv_2023.csv"], duration=300)
    assert [Path(r["trace"]).name for r in runs] == ["counts.txt", "azure_llm_conv_2023.csv"]


def test_learned_warns_on_a_scenario_it_was_not_trained_on(tmp_path):
    mine = tmp_path / "mine.ron"
    default = (REPO / "env" / "src" / "scenarios" / "default.ron").read_text()
    mine.write_text(default.replace('name: "default"', 'name: "mine"', 1))
    note = "`learned` is the policy shipped for scenario `default`"
    with pytest.warns(UserWarning, match=note):
        serflow.Policy.load("learned", scenario=str(mine))
    with pytest.warns(UserWarning, match=note):
        serflow.simulate("learned", seed=1, scenario=str(mine), duration=60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        serflow.Policy.load("learned")  # the default scenario's own policy: no warning


def test_a_planner_file_warns_on_a_system_it_was_not_fitted_for():
    """The production planner on `default` (the same system but its transfer prices) plans with
    production's prices: loading it says so, as `simulate` does; on production it says nothing."""
    note = "plans with the figures of the system it was fitted for, not scenario `default`'s"
    with pytest.warns(UserWarning, match=note):
        serflow.Policy.load(str(PRODUCTION_PLANNER))
    with pytest.warns(UserWarning, match=note):
        serflow.simulate(str(PRODUCTION_PLANNER), seed=1, duration=60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        serflow.Policy.load(str(PRODUCTION_PLANNER), scenario="production")


def test_a_scenario_whose_queueing_bound_outgrows_its_slo_warns(tmp_path):
    loose = tmp_path / "loose.ron"
    default = (REPO / "env" / "src" / "scenarios" / "default.ron").read_text()
    loose.write_text(default.replace("vm_queue_wait_ms: Some(50.0)", "vm_queue_wait_ms: Some(90.0)", 1))
    note = "vm_queue_wait_ms lets a request queue 90 ms on VMs at each of its 4 stages"
    with pytest.warns(UserWarning, match=note):
        serflow.ServingEnv(scenario=str(loose), duration=60)
    with pytest.warns(UserWarning, match=note):
        serflow.compare(["faas-only"], seeds=1, scenario=str(loose), duration=60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        serflow.ServingEnv(duration=60)  # default's 50 ms fits its four stages: no warning


@pytest.mark.parametrize("frame_stack", [1, 3])
def test_exported_actor_runs_in_the_rust_runtime(tmp_path, frame_stack):
    """An actor written by export_policy acts as its numpy forward pass says (masked argmax of
    tanh-MLP logits over normalised, clipped features; with frame_stack, over the last observations,
    oldest first, zeros before the episode's first, as VecFrameStack stacks them)."""
    env = serflow.ServingEnv(duration=300)
    rng = np.random.default_rng(5)
    dims = [44 * frame_stack, 16, int(env.action_space.nvec.sum())]
    layers = [(rng.normal(0, 0.5, (a, b)).astype(np.float32), rng.normal(0, 0.1, b).astype(np.float32)) for a, b in zip(dims, dims[1:])]
    mean = rng.normal(0, 1, 44).astype(np.float32)
    std = rng.uniform(0.5, 20, 44).astype(np.float32)
    path = tmp_path / "sub" / "actor.ron"
    serflow.export_policy(path, layers, mean, std, 5.0, frame_stack=frame_stack, notes="test actor")
    policy = serflow.Policy.load(str(path))
    for episode, steps in [(4, 20), (9, 5)]:
        obs, _ = env.reset(seed=episode)
        policy.reset()
        frames = np.zeros((frame_stack, 44), dtype=np.float32)
        for _ in range(steps):
            frames = np.roll(frames, -1, axis=0)
            frames[-1] = np.clip((obs - mean) / std, -5, 5)
            x = np.tanh(frames.reshape(-1) @ layers[0][0] + layers[0][1]) @ layers[1][0] + layers[1][1]
            x[~env.action_masks()] = -np.inf
            expected = [int(np.argmax(part)) for part in np.split(x, np.cumsum(env.action_space.nvec)[:-1])]
            assert list(policy.choose(obs)) == expected
            obs, *_ = env.step(np.array(expected))
    assert not list(tmp_path.glob("sub/*.tmp")), "written atomically"
    saved = path.read_text()
    with pytest.raises(ValueError, match="actor.ron: the policy is invalid"):
        serflow.export_policy(path, layers[:1], mean, std, 5.0)
    assert path.read_text() == saved, "a rejected export leaves the saved file whole"
    for bad in (0, -1, 65):
        with pytest.raises(ValueError, match="frame_stack"):
            serflow.export_policy(path, layers, mean, std, 5.0, frame_stack=bad)
    assert path.read_text() == saved


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: serflow.ServingEnv(scenario="nope"), "nope"),
        (lambda: serflow.ServingEnv(trace="/no/such/trace.txt"), "/no/such/trace.txt"),
        (lambda: serflow.ServingEnv(duration=-5), r"horizon_s \(set by duration\)"),
        (lambda: serflow.ServingEnv(trace_scale=2.0), "trace_scale/time_scale"),
        (lambda: serflow.ServingEnv(vm_shares=[1.5]), "vm_shares"),
        (lambda: serflow.ServingEnv(vm_need_leads=[5.0]), "vm_need_leads"),
        (lambda: serflow.ServingEnv(vm_need_multiples=[1.0], vm_need_leads=[-1.0]), "vm_need_leads"),
        (lambda: serflow.VectorEnv(0), "num_envs"),
        (lambda: serflow.Policy.load("nope"), "unknown policy"),
        (lambda: serflow.Policy.load("/no/such/policy.ron"), "/no/such/policy.ron"),
        (lambda: serflow.Policy.load("oracle"), "oracle"),
        (lambda: serflow.compare(["faas-only"], first_seed="soon"), "first_seed"),
        (lambda: serflow.compare(["faas-only"], seeds=0), "seeds"),
        (lambda: serflow.compare(["vm-only", "faas-only", "vm-only"]), "vm-only: listed twice"),
        (lambda: serflow.simulate("faas-only", seed=-1), "seed"),
    ],
)
def test_bad_input_raises_value_error_with_one_line(make, message):
    with pytest.raises(ValueError, match=message) as raised:
        make()
    assert "\n" not in str(raised.value)


def test_bad_actions_and_seeds_raise_value_error():
    env = serflow.ServingEnv(duration=60)
    with pytest.raises(ValueError, match="no episode running"):
        env.step(np.zeros(8, np.int64))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="expected 8 choices"):
        env.step(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"action\[2\]: 9 is outside 0..5"):
        env.step(np.array([0, 0, 9, 0, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match=r"action\[0\]: -1"):
        env.step([-1] * 8)
    with pytest.raises(ValueError, match="seed"):
        env.reset(seed=-3)
    with pytest.raises(ValueError, match="seed"):
        env.reset(seed=2**64)
    with pytest.raises(ValueError, match="obs: observation has 3 values"):
        serflow.Policy.load("learned").act(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="not finite"):
        serflow.Policy.load("serflow").act(np.full(44, np.nan, np.float32))
    negative = np.zeros(44, np.float32)
    negative[0] = -250.0  # stage 0's rate across a counter reset
    with pytest.raises(ValueError, match=r"stage0.arrival_rate is negative \(-250\)"):
        serflow.Policy.load("tuned-hpa").act(negative)
    with pytest.raises(ValueError, match="obs: expected a sequence of numbers"):
        serflow.Policy.load("serflow").act("forty-four features")
    venv = serflow.VectorEnv(2, duration=60)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="expected 2 rows"):
        venv.step(np.zeros((3, 8), np.int64))
    with pytest.raises(ValueError, match="row 1"):
        venv.step(np.array([[0] * 8, [7] * 8]))
    with pytest.raises(ValueError, match="actions"):
        venv.step(np.zeros((2, 8), np.float32))
    # The environment still works after every rejection.
    env.step(np.full(8, 2))
