"""Environment steps per second from Python next to the same stepping in a Rust loop, in one process:
the cost of crossing into Python once per step (single environment) or once per batch (VectorEnv).

Both sides step the same environments with the same pre-drawn random actions; the Rust side is
``replay`` (one call, the loop in Rust), the Python side calls ``step`` once per step. Rounds
alternate between the two so that a busy machine slows both alike; the best round of each counts.

    pip install ./env/python
    python env/python/examples/bench.py --scenario default --rounds 5
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import serflow


def single(scenario: str, steps: int, rounds: int) -> tuple[float, float]:
    env = serflow.ServingEnv(scenario=scenario, duration=None)
    steps = min(steps, env.steps_per_episode)
    actions = np.random.default_rng(0).integers(0, env.action_space.nvec, size=(steps, len(env.action_space.nvec)))
    rust, python = [], []
    for _ in range(rounds):
        _, _, seconds = env.replay(1, actions)
        rust.append(steps / seconds)
        started = time.perf_counter()
        env.reset(seed=1)
        for action in actions:
            env.step(action)
        python.append(steps / (time.perf_counter() - started))
    return max(rust), max(python)


def vector(scenario: str, num_envs: int, steps: int, rounds: int) -> tuple[float, float]:
    venv = serflow.VectorEnv(num_envs, scenario=scenario)
    nvec = venv.single_action_space.nvec
    actions = np.random.default_rng(0).integers(0, nvec, size=(steps, num_envs, len(nvec)))
    rust, python = [], []
    for _ in range(rounds):
        _, seconds = venv.replay(1, actions)
        rust.append(steps * num_envs / seconds)
        started = time.perf_counter()
        venv.reset(seed=1)
        for batch in actions:
            venv.step(batch)
        python.append(steps * num_envs / (time.perf_counter() - started))
    return max(rust), max(python)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--steps", type=int, default=360, help="steps per round (single: within one episode)")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = [
        ("ServingEnv", *single(args.scenario, args.steps, args.rounds)),
        (f"VectorEnv({args.num_envs})", *vector(args.scenario, args.num_envs, args.steps, args.rounds)),
    ]
    print(f"scenario {args.scenario}, best of {args.rounds} rounds, env steps/s")
    print(f"{'':<14} {'Rust loop':>10} {'Python':>10} {'Python/Rust':>12}")
    for name, rust, python in rows:
        print(f"{name:<14} {rust:>10.0f} {python:>10.0f} {python / rust:>11.1%}")


if __name__ == "__main__":
    main()
