"""serflow from Python: the serving simulator as a Gymnasium environment, its policies, and comparisons.

- :class:`ServingEnv`: one environment (``gymnasium.make("serflow/Serving-v0", scenario="default")``).
- :class:`VectorEnv`: a batch stepped in parallel by Rust threads, without the GIL
  (``gymnasium.make_vec("serflow/Serving-v0", num_envs=8, vectorization_mode="vector_entry_point")``).
- :class:`Policy`: a built-in baseline or an exported policy file, as a controller embeds it.
- :func:`simulate`, :func:`compare`: the ``serflow simulate --json`` and ``compare --json`` results.
- :func:`export_policy`: an actor trained in Python written as a serflow policy file, so that it runs
  in the Rust runtime and compares beside the baselines.

Everything simulates in Rust (``serflow._serflow``); bad input raises ``ValueError`` with the one-line
message the ``serflow`` command prints.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence, Union

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector import VectorEnv as _GymVectorEnv
from gymnasium.vector.utils import batch_space

from . import _serflow

__all__ = [
    "ENV_ID",
    "EnvOptions",
    "POLICIES",
    "SCENARIOS",
    "Policy",
    "ServingEnv",
    "VectorEnv",
    "compare",
    "export_policy",
    "simulate",
]

PathLike = Union[str, "os.PathLike[str]"]
Traces = Union[None, PathLike, Sequence[PathLike]]

#: The Gymnasium id every serflow environment is registered under.
ENV_ID = "serflow/Serving-v0"

_scenarios, _policies = _serflow.catalogue()
#: The built-in scenarios (any scenario file, ``.ron``, works too).
SCENARIOS: list[str] = list(_scenarios)
#: The policies :meth:`Policy.load`, :func:`simulate` and :func:`compare` know by name, with one line each.
POLICIES: dict[str, str] = dict(_policies)

#: A policy a controller embeds: ``Policy.load(name_or_file, scenario="default", calibration=None)``,
#: then ``act(obs)`` (a dict of per-stage ``vm_target``, ``vm_share``, ``vm_rate_limit``) once per
#: control interval, ``reset()`` between episodes, and for learned policies ``choose(obs)``: the
#: environment action (one index per action dimension) the policy picks, in the action set whose
#: environment keyword arguments are ``action_options``
#: (``ServingEnv(scenario=..., **policy.action_options)``; ``env.check_policy(policy)`` checks it).
Policy = _serflow.Policy

_MAX_SEED = 2**64


def _traces(trace: Traces) -> list[str]:
    if trace is None:
        return []
    if isinstance(trace, (str, os.PathLike)):
        return [os.fspath(trace)]
    return [os.fspath(t) for t in trace]


def _seed(seed: Any) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed: expected an integer, got {seed!r}")
    if not 0 <= int(seed) < _MAX_SEED:
        raise ValueError(f"seed: must be in [0, 2**64), got {seed}")
    return int(seed)


def _scenario_kwargs(
    scenario: PathLike,
    trace: Traces,
    trace_scale: Optional[float],
    time_scale: float,
    duration: Optional[float],
) -> dict[str, Any]:
    return {
        "scenario": os.fspath(scenario),
        "traces": _traces(trace),
        "trace_scale": trace_scale,
        "time_scale": time_scale,
        "duration": duration,
    }


def _actions(
    vm_need_multiples: Iterable[float],
    vm_shares: Iterable[float],
    vm_scale_in_tolerance: float,
    vm_need_leads: Iterable[float],
    vm_offer_slo_capacity: bool,
    vm_scale_in_window: int,
) -> dict:
    return {
        "vm_need_multiples": [float(x) for x in vm_need_multiples],
        "vm_shares": [float(x) for x in vm_shares],
        "vm_scale_in_tolerance": float(vm_scale_in_tolerance),
        "vm_need_leads": [float(x) for x in vm_need_leads],
        "vm_offer_slo_capacity": bool(vm_offer_slo_capacity),
        "vm_scale_in_window": int(vm_scale_in_window),
    }


@dataclass(frozen=True)
class EnvOptions:
    """What a :class:`ServingEnv` or :class:`VectorEnv` simulates; their keyword arguments.

    Attributes:
        scenario: a built-in scenario (``SCENARIOS``) or a scenario file (``.ron``).
        trace: a trace file (or several) replayed instead of the scenario's workload.
        trace_scale: multiplies the trace's rate (default: rescaled to the scenario's nominal mean).
        time_scale: stretches trace time.
        duration: episode length in simulated seconds (default: the scenario's horizon, or the trace).
        vm_need_multiples, vm_shares, vm_scale_in_tolerance, vm_need_leads, vm_offer_slo_capacity,
            vm_scale_in_window: the action set, as in a training config (need-relative VM targets when
            ``vm_need_multiples`` is given, else VM changes -2..+2; ``vm_need_leads`` also forecasts the
            need that many control intervals ahead; ``vm_offer_slo_capacity`` sends VMs no more than
            they serve within the SLO; ``vm_scale_in_window`` decisions pass before a scale-in).
        random_initial_vms: start each episode from 0..=N ready VMs per stage instead of the scenario's.
        expert: plan the forecast oracle at every reset, so that ``expert_action()`` (``expert_actions()``
            on a :class:`VectorEnv`) gives its decision for the latest observation as an action: the
            labels behaviour cloning or DAgger learns from. Each reset then also simulates its episode
            once FaaS-only (the oracle's arrivals), about as long as ``simulate("faas-only")`` takes.
        render_mode: always None (serflow environments do not render).
    """

    scenario: PathLike = "default"
    trace: Traces = None
    trace_scale: Optional[float] = None
    time_scale: float = 1.0
    duration: Optional[float] = None
    vm_need_multiples: Sequence[float] = ()
    vm_shares: Sequence[float] = ()
    vm_scale_in_tolerance: float = 0.0
    vm_need_leads: Sequence[float] = ()
    vm_offer_slo_capacity: bool = False
    vm_scale_in_window: int = 0
    random_initial_vms: Optional[int] = None
    expert: bool = False
    render_mode: Optional[str] = None

    def native(self) -> tuple[dict, dict, Optional[int], bool]:
        """The native environments' arguments."""
        if self.render_mode is not None:
            raise ValueError(f"render_mode: serflow environments do not render, got {self.render_mode!r}")
        return (
            _scenario_kwargs(self.scenario, self.trace, self.trace_scale, self.time_scale, self.duration),
            _actions(
                self.vm_need_multiples,
                self.vm_shares,
                self.vm_scale_in_tolerance,
                self.vm_need_leads,
                self.vm_offer_slo_capacity,
                self.vm_scale_in_window,
            ),
            self.random_initial_vms,
            bool(self.expert),
        )


def _spaces(native: Any) -> tuple[spaces.Box, spaces.MultiDiscrete]:
    low, high = native.observation_bounds
    observation = spaces.Box(np.array(low, np.float32), np.array(high, np.float32), dtype=np.float32)
    action = spaces.MultiDiscrete(np.array(native.nvec, dtype=np.int64))
    return observation, action


class ServingEnv(gym.Env):
    """The staged VM/FaaS serving system as a Gymnasium environment.

    One step is one control interval. The observation is serflow's named feature vector (raw units,
    ``feature_names``); the action is ``MultiDiscrete``: per stage a VM choice (a change of the VM count,
    or with ``vm_need_multiples`` a VM target as a multiple of the stage's need) and a share of its
    arrivals offered to VMs. The reward is minus the interval's cost, scaled, minus a penalty per SLO
    violation. Episodes end by truncation at the scenario's horizon (there is no terminal state);
    ``action_masks()`` says which choices are allowed (sb3-contrib's MaskablePPO reads it).

    Keyword arguments: :class:`EnvOptions` (``scenario``, ``trace``, ``duration``, the action set...).
    """

    metadata = {"render_modes": []}

    def __init__(self, **options: Any) -> None:
        self._env = _serflow.Env(*EnvOptions(**options).native())
        self.observation_space, self.action_space = _spaces(self._env)
        self.feature_names: list[str] = self._env.feature_names
        name, interval, horizon, steps = self._env.scenario_info
        self.scenario_name: str = name
        self.control_interval_s: float = interval
        self.horizon_s: float = horizon
        self.steps_per_episode: int = steps
        self.render_mode = None

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        """Starts an episode. Its every random draw derives from ``seed``; without one, the seed is
        drawn from the generator the last seeded reset created (Gymnasium's convention)."""
        if seed is not None:
            seed = _seed(seed)
        super().reset(seed=seed)
        episode_seed = seed if seed is not None else int(self.np_random.integers(0, 2**63))
        return self._env.reset(episode_seed), {}

    def step(self, action):
        """Applies one action; ``info`` is the interval's report (cost and its parts, arrivals,
        violations, cold starts, ``stage_costs``)."""
        return self._env.step(action)

    def action_masks(self) -> np.ndarray:
        """The allowed choices, ``sum(nvec)`` booleans laid out like the concatenated logits."""
        return self._env.action_masks()

    def check_policy(self, policy: Policy) -> None:
        """Raises ``ValueError`` unless ``policy`` is a learned policy whose ``choose`` indexes this
        environment's action set (else its choices would step silently as other actions); build the
        environment with ``ServingEnv(scenario=..., **policy.action_options)``."""
        self._env.check_policy(policy)

    def expert_action(self) -> np.ndarray:
        """With ``expert=True``: the forecast oracle's decision for the latest observation, as an
        action (one index per dimension, allowed by ``action_masks()``): per stage the VM choice whose
        decoded target comes nearest the oracle's (above winning a tie) and the share nearest its
        share. The oracle knows the episode's future arrivals, so no policy acting on the observation
        alone can always match it."""
        return self._env.expert_action()

    def replay(self, seed: int, actions) -> tuple[np.ndarray, np.ndarray, float]:
        """Resets with ``seed`` and applies ``actions`` (``steps x len(nvec)`` integers, within one
        episode) in a Rust loop, without a Python call per step: the observations (``steps + 1`` rows,
        the first from the reset), the rewards, and the loop's wall time in seconds. Stepping from
        Python gives the same observations and rewards (a test holds them bit for bit)."""
        return self._env.replay(_seed(seed), np.ascontiguousarray(actions, dtype=np.int64))

    def episode_report(self, policy: str = "python") -> dict:
        """Once an episode has reached its horizon: its report, the ``serflow simulate --json``
        object (requests in flight complete and are billed). Reset before stepping again."""
        return json.loads(self._env.episode_report(policy))


class VectorEnv(_GymVectorEnv):
    """``num_envs`` serving environments stepped in parallel by Rust threads, without the GIL.

    Same-step autoreset (``metadata["autoreset_mode"]``): when an episode ends in ``step``, the
    returned observation is already the next episode's first, and the one it ended on is in
    ``infos["final_obs"]`` (its report in ``infos["final_info"]``), with the ``_final_obs`` mask.
    Seeding: ``reset(seed=s)`` starts environment ``i`` with seed ``s + i``; its ``e``-th automatic
    reset uses ``s + i + e * num_envs``, so no two episodes of a run share a seed. Keyword arguments:
    :class:`EnvOptions`.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 8, **options: Any) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)):
            raise ValueError(f"num_envs: expected an integer, got {num_envs!r}")
        self._envs = _serflow.VecEnv(int(num_envs), *EnvOptions(**options).native())
        self.num_envs = int(num_envs)
        self.single_observation_space, self.single_action_space = _spaces(self._envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.feature_names: list[str] = self._envs.feature_names
        self.render_mode = None
        self._rng = np.random.default_rng()

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        """Resets every environment: environment ``i`` with ``seed + i`` (one integer; without one,
        a seed is drawn)."""
        if seed is None:
            seed = int(self._rng.integers(0, 2**63))
        elif isinstance(seed, (list, tuple)):
            raise ValueError("seed: one integer (environment i is seeded with seed + i), not a list")
        seed = _seed(seed)
        self._rng = np.random.default_rng(seed)
        return self._envs.reset(seed), {}

    def step(self, actions):
        """Steps every environment with its row of ``actions`` (``num_envs x len(nvec)`` integers)."""
        actions = np.asarray(actions)
        if actions.dtype.kind not in "iu" or actions.ndim != 2:
            expected = (self.num_envs, len(self.single_action_space.nvec))
            raise ValueError(f"actions: expected integers of shape {expected}, got {actions.dtype} {actions.shape}")
        obs, rewards, terminated, truncated, final_obs, ended, reports = self._envs.step(
            np.ascontiguousarray(actions, dtype=np.int64)
        )
        infos: dict[str, Any] = {}
        running = ~ended
        any_ended = bool(ended.any())
        if running.any():
            for key, values in reports.items():
                infos[key] = values
                infos["_" + key] = running
        if any_ended:
            final_info: dict[str, Any] = {}
            for key, values in reports.items():
                final_info[key] = np.where(ended.reshape(-1, *([1] * (values.ndim - 1))), values, 0)
                final_info["_" + key] = ended
                if key in infos:  # only running environments report a step of their own
                    infos[key] = np.where(running.reshape(-1, *([1] * (values.ndim - 1))), values, 0)
            last = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(ended):
                last[i] = final_obs[i]
            infos["final_obs"] = last
            infos["_final_obs"] = ended
            infos["final_info"] = final_info
            infos["_final_info"] = ended
        return obs, rewards, terminated, truncated, infos

    def replay(self, seed: int, actions) -> tuple[np.ndarray, float]:
        """Resets with ``seed`` and applies ``actions`` (``steps x num_envs x len(nvec)`` integers) in a
        Rust loop, autoresetting as ``step`` does: the rewards (``steps x num_envs``) and the loop's
        wall time in seconds."""
        return self._envs.replay(_seed(seed), np.ascontiguousarray(actions, dtype=np.int64))

    def action_masks(self) -> np.ndarray:
        """Every environment's allowed choices, ``num_envs x sum(nvec)``."""
        return self._envs.action_masks()

    def check_policy(self, policy: Policy) -> None:
        """Raises ``ValueError`` unless ``policy``'s ``choose`` indexes these environments' action set
        (see :meth:`ServingEnv.check_policy`)."""
        self._envs.check_policy(policy)

    def expert_actions(self) -> np.ndarray:
        """With ``expert=True``: every environment's expert action for its latest observation (after an
        automatic reset, the next episode's first), ``num_envs x len(nvec)``; see
        :meth:`ServingEnv.expert_action`."""
        return self._envs.expert_actions()


def simulate(
    policy: str,
    *,
    seed: int = 1,
    scenario: PathLike = "default",
    trace: Traces = None,
    trace_scale: Optional[float] = None,
    time_scale: float = 1.0,
    duration: Optional[float] = None,
    calibration: Optional[PathLike] = None,
) -> dict:
    """One episode of ``policy`` (a name from ``POLICIES``, ``learned``, or a policy file): the
    ``serflow simulate --json`` object."""
    return json.loads(
        _serflow.simulate(
            os.fspath(policy),
            _seed(seed),
            _scenario_kwargs(scenario, trace, trace_scale, time_scale, duration),
            None if calibration is None else os.fspath(calibration),
        )
    )


def compare(
    policies: Optional[Sequence[str]] = None,
    *,
    seeds: int = 5,
    first_seed: Union[int, str] = 1,
    scenario: PathLike = "default",
    trace: Traces = None,
    trace_scale: Optional[float] = None,
    time_scale: float = 1.0,
    duration: Optional[float] = None,
    calibration: Optional[PathLike] = None,
) -> list[dict]:
    """Every policy over the same seeds (``first_seed`` a number or ``train``, ``selection``,
    ``heldout``), per trace when several are given: the ``serflow compare --json`` array, one object
    per run with the hindsight floor of its seed. Default policies: those ``serflow compare`` runs."""
    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or seeds < 0:
        raise ValueError(f"seeds: expected a positive integer, got {seeds!r}")
    first = first_seed if isinstance(first_seed, str) else str(_seed(first_seed))
    return json.loads(
        _serflow.compare(
            [os.fspath(p) for p in policies or []],
            int(seeds),
            first,
            _scenario_kwargs(scenario, trace, trace_scale, time_scale, duration),
            None if calibration is None else os.fspath(calibration),
        )
    )


def export_policy(
    path: PathLike,
    layers: Sequence[tuple[np.ndarray, np.ndarray]],
    obs_mean: Sequence[float],
    obs_std: Sequence[float],
    obs_clip: float,
    *,
    scenario: PathLike = "default",
    vm_need_multiples: Iterable[float] = (),
    vm_shares: Iterable[float] = (),
    vm_scale_in_tolerance: float = 0.0,
    vm_need_leads: Iterable[float] = (),
    vm_offer_slo_capacity: bool = False,
    vm_scale_in_window: int = 0,
    frame_stack: int = 1,
    notes: str = "",
) -> None:
    """Writes an actor trained in Python as a serflow policy file (atomically, after checking it loads).

    ``layers`` are ``(weights, biases)`` with weights ``inputs x outputs`` (``torch.nn.Linear.weight.T``),
    tanh between layers and none after the last, whose outputs are the logits of every action dimension
    concatenated (Stable-Baselines3's ``MultiCategorical`` layout). Observations are normalised as
    ``clip((obs - obs_mean) / obs_std, -obs_clip, obs_clip)`` before the first layer (SB3's
    ``VecNormalize`` with ``obs_std = sqrt(var + epsilon)``). With ``frame_stack = n`` the actor reads
    the last ``n`` normalised observations, oldest first, zeros before an episode's first
    (``VecFrameStack(VecNormalize(env), n)``); ``Policy.reset()`` starts an episode. The action-set
    arguments must be the ones the training environment was built with.
    """
    native_layers = [
        (np.ascontiguousarray(w, dtype=np.float32), np.ascontiguousarray(b, dtype=np.float32).reshape(-1))
        for w, b in layers
    ]
    for i, (w, _) in enumerate(native_layers):
        if w.ndim != 2:
            raise ValueError(f"layers[{i}]: weights must be 2-D (inputs x outputs), got shape {w.shape}")
    _serflow.write_policy_file(
        os.fspath(path),
        native_layers,
        [float(x) for x in obs_mean],
        [float(x) for x in obs_std],
        float(obs_clip),
        os.fspath(scenario),
        _actions(
            vm_need_multiples,
            vm_shares,
            vm_scale_in_tolerance,
            vm_need_leads,
            vm_offer_slo_capacity,
            vm_scale_in_window,
        ),
        int(frame_stack),
        notes,
    )


if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="serflow:ServingEnv", vector_entry_point="serflow:VectorEnv")
