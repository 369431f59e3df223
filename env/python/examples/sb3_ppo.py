"""MaskablePPO (sb3-contrib) on serflow/Serving-v0, exported back to a serflow policy file and compared
beside the baselines and serflow's own PPO policy on held-out seeds.

The hyper-parameters are those `serflow train`'s PPO-only default config had before it imitated the
oracle first, where Stable-Baselines3 has them: 8 environments x 360 steps, 10 epochs of 8 minibatches,
lr 3e-4 annealed, clip 0.2, entropy 0.005, target KL 0.03, 64-64 tanh networks, observations and
rewards normalised, VM changes of -2..+2. What SB3 lacks is serflow's own: the SLO multiplier
(Lagrangian), per-stage credit and the hold prior, so this is plain masked PPO on the scenario's fixed
violation penalty.

    pip install ./env/python sb3-contrib torch
    python env/python/examples/sb3_ppo.py --steps 1000000 --out runs/sb3/policy.ron

`--frame-stack N` gives the actor the last N observations (VecFrameStack over VecNormalize); the
exported file records N and serflow's runtime stacks them the same way.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from heldout import heldout_table
from sb3_contrib import MaskablePPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecFrameStack, VecNormalize

import serflow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--steps", type=int, default=1_000_000, help="environment steps to train for")
    parser.add_argument("--seed", type=int, default=1, help="training seed (environment i starts with seed + i)")
    parser.add_argument("--out", default="runs/sb3/policy.ron", help="where to write the serflow policy file")
    parser.add_argument("--frame-stack", type=int, default=1, help="observations the actor sees at once")
    args = parser.parse_args()
    torch.set_num_threads(1)

    envs = make_vec_env(serflow.ServingEnv, n_envs=8, seed=args.seed, env_kwargs={"scenario": args.scenario})
    normalized = VecNormalize(envs, norm_obs=True, norm_reward=True, clip_obs=10.0, gamma=0.99)
    envs = VecFrameStack(normalized, n_stack=args.frame_stack) if args.frame_stack > 1 else normalized
    model = MaskablePPO(
        "MlpPolicy",
        envs,
        learning_rate=lambda remaining: 3e-4 * remaining,
        n_steps=360,
        batch_size=360,
        n_epochs=10,
        gamma=0.99,
        gae_lambda=0.95,
        clip_range=0.2,
        ent_coef=0.005,
        vf_coef=0.5,
        max_grad_norm=0.5,
        target_kl=0.03,
        policy_kwargs={"net_arch": {"pi": [64, 64], "vf": [64, 64]}, "activation_fn": torch.nn.Tanh},
        seed=args.seed,
        verbose=0,
    )
    started = time.perf_counter()
    model.learn(total_timesteps=args.steps)
    seconds = time.perf_counter() - started
    print(f"trained {model.num_timesteps} steps in {seconds:.0f} s ({model.num_timesteps / seconds:.0f} steps/s)")

    # The actor as serflow's runtime runs it: policy_net (Linear, Tanh, Linear, Tanh) then action_net
    # (Linear) over VecNormalize's normalised observations, stacked by VecFrameStack.
    linears = [m for m in model.policy.mlp_extractor.policy_net if isinstance(m, torch.nn.Linear)]
    linears.append(model.policy.action_net)
    layers = [(m.weight.detach().numpy().T, m.bias.detach().numpy()) for m in linears]
    stats = normalized.obs_rms
    out = Path(args.out)
    serflow.export_policy(
        out,
        layers,
        stats.mean,
        np.sqrt(stats.var + normalized.epsilon),
        normalized.clip_obs,
        scenario=args.scenario,
        frame_stack=args.frame_stack,
        notes=f"sb3-contrib MaskablePPO, {model.num_timesteps} steps, seed {args.seed}",
    )
    print(f"wrote {out}")
    heldout_table(str(out), args.scenario)


if __name__ == "__main__":
    main()
