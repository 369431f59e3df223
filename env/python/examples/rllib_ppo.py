"""PPO on Ray RLlib's new API stack over serflow's environment, on one machine or a Ray cluster, exported
back to a serflow policy file and compared beside the baselines on held-out seeds.

Locally `ray.init()` starts Ray on this machine; against a cluster the same script runs unchanged with
`--address auto` (`ray.init(address="auto")`), every env runner a Ray actor wherever the cluster has
room (each needs `pip install ./env/python` on its node). Observations are normalised with fixed
statistics measured on training seeds before training (so the exported file normalises exactly as
training did); the networks are 64-64 tanh, separate for actor and critic, as in `serflow train`.

    pip install ./env/python "ray[rllib]" torch
    python env/python/examples/rllib_ppo.py --iterations 100 --env-runners 2 --out runs/rllib/policy.ron
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import ray
import torch
from heldout import heldout_table
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.tune.registry import register_env

import serflow

CLIP = 10.0


def observation_stats(scenario: str, episodes: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the features under random actions, on training seeds."""
    env = serflow.ServingEnv(scenario=scenario)
    rows = []
    for seed in range(1, episodes + 1):
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        truncated = False
        while not truncated:
            rows.append(obs)
            obs, _, _, truncated, _ = env.step(env.action_space.sample())
    rows = np.stack(rows).astype(np.float64)
    return rows.mean(axis=0).astype(np.float32), (rows.std(axis=0) + 1e-3).astype(np.float32)


def normalized_env(config: dict) -> gym.Env:
    """serflow's environment seen through fixed observation statistics (what the policy file stores)."""
    mean, std = np.asarray(config["obs_mean"], np.float32), np.asarray(config["obs_std"], np.float32)
    env = serflow.ServingEnv(scenario=config["scenario"])
    space = gym.spaces.Box(-CLIP, CLIP, env.observation_space.shape, np.float32)
    return gym.wrappers.TransformObservation(
        env, lambda obs: np.clip((obs - mean) / std, -CLIP, CLIP).astype(np.float32), space
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--iterations", type=int, default=100, help="training iterations of 2,880 steps")
    parser.add_argument("--env-runners", type=int, default=2)
    parser.add_argument("--address", default=None, help="a Ray cluster (auto), or none to start Ray here")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="runs/rllib/policy.ron")
    args = parser.parse_args()

    ray.init(address=args.address)
    mean, std = observation_stats(args.scenario)
    register_env("serflow-normalized", normalized_env)
    env_config = {"scenario": args.scenario, "obs_mean": mean.tolist(), "obs_std": std.tolist()}
    config = (
        PPOConfig()
        .environment("serflow-normalized", env_config=env_config)
        .env_runners(num_env_runners=args.env_runners, num_envs_per_env_runner=4)
        .training(
            lr=3e-4,
            train_batch_size_per_learner=2880,
            minibatch_size=360,
            num_epochs=10,
            gamma=0.99,
            lambda_=0.95,
            clip_param=0.2,
            entropy_coeff=0.005,
            vf_loss_coeff=0.5,
            grad_clip=0.5,
        )
        .rl_module(
            model_config=DefaultModelConfig(fcnet_hiddens=[64, 64], fcnet_activation="tanh", vf_share_layers=False)
        )
        .debugging(seed=args.seed)
    )
    algo = config.build_algo()
    started = time.perf_counter()
    steps = 0
    for i in range(args.iterations):
        result = algo.train()
        steps = result["num_env_steps_sampled_lifetime"]
        if (i + 1) % 10 == 0 or i + 1 == args.iterations:
            ret = result["env_runners"].get("episode_return_mean", float("nan"))
            print(f"iteration {i + 1}: {steps} steps, mean episode return {ret:.2f}")
    seconds = time.perf_counter() - started
    print(f"trained {steps} steps in {seconds:.0f} s ({steps / seconds:.0f} steps/s)")

    # The actor: the actor encoder (Linear, Tanh, Linear, Tanh) then the policy head (Linear), whose
    # outputs are the logits of every action dimension concatenated.
    module = algo.get_module()
    linears = [m for m in module.encoder.actor_encoder.modules() if isinstance(m, torch.nn.Linear)]
    linears += [m for m in module.pi.modules() if isinstance(m, torch.nn.Linear)]
    layers = [(m.weight.detach().cpu().numpy().T, m.bias.detach().cpu().numpy()) for m in linears]
    out = Path(args.out)
    serflow.export_policy(
        out, layers, mean, std, CLIP, scenario=args.scenario, notes=f"RLlib PPO, {steps} steps, seed {args.seed}"
    )
    print(f"wrote {out}")
    algo.stop()
    ray.shutdown()
    heldout_table(str(out), args.scenario)


if __name__ == "__main__":
    main()
