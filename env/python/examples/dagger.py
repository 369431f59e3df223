"""DAgger on the environment's expert (the forecast oracle), with numpy alone: labels from
``expert_actions()`` at the states the student reaches, a tanh actor fitted by cross-entropy,
exported as a serflow policy file and compared beside the baselines on held-out seeds.

Round r runs one episode per environment on training seeds; each decision is the expert's with
probability ``0.5 ** r`` and the student's otherwise (round 0 is behaviour cloning), and every
decision is labelled with the expert's action. The actor is refitted on all rounds' data after each.
The expert knows the episode's future arrivals and the student sees only the observation, so the
student can follow it only as far as the observation tells its situations apart
(checkpoints/production/report.md, "Imitating the oracle", is serflow's own run of this on
`production`).

    pip install ./env/python
    python env/python/examples/dagger.py --rounds 6 --out runs/dagger/policy.ron
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from heldout import heldout_table

import serflow


class Actor:
    """A one-hidden-layer tanh network whose outputs are every action dimension's logits, fitted with
    Adam on the masked cross-entropy of the expert's choices."""

    def __init__(self, inputs: int, hidden: int, nvec: np.ndarray, rng: np.random.Generator) -> None:
        self.bounds = np.concatenate([[0], np.cumsum(nvec)])
        self.params = [
            rng.normal(0.0, np.sqrt(1.0 / inputs), (inputs, hidden)),
            np.zeros(hidden),
            rng.normal(0.0, 0.01, (hidden, int(self.bounds[-1]))),
            np.zeros(int(self.bounds[-1])),
        ]
        self.moments = [(np.zeros_like(p), np.zeros_like(p)) for p in self.params]
        self.updates = 0

    def logits(self, x: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w1, b1, w2, b2 = self.params
        hidden = np.tanh(x @ w1 + b1)
        return np.where(masks, hidden @ w2 + b2, -1e9), hidden

    def choose(self, x: np.ndarray, masks: np.ndarray) -> np.ndarray:
        logits, _ = self.logits(x, masks)
        return np.stack([logits[:, a:b].argmax(axis=1) for a, b in zip(self.bounds[:-1], self.bounds[1:])], 1)

    def fit(self, x: np.ndarray, masks: np.ndarray, labels: np.ndarray, epochs: int, lr: float) -> float:
        """Full-batch Adam steps; returns the last mean loss (nats per decision, summed over dimensions)."""
        w1, _, w2, _ = self.params
        loss = 0.0
        for _ in range(epochs):
            logits, hidden = self.logits(x, masks)
            grad = np.zeros_like(logits)
            loss = 0.0
            for d, (a, b) in enumerate(zip(self.bounds[:-1], self.bounds[1:])):
                z = logits[:, a:b] - logits[:, a:b].max(axis=1, keepdims=True)
                p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
                rows = np.arange(len(x))
                loss -= np.log(p[rows, labels[:, d]] + 1e-12).mean()
                p[rows, labels[:, d]] -= 1.0
                grad[:, a:b] = p / len(x)
            back = (grad @ w2.T) * (1.0 - hidden**2)
            self.step([x.T @ back, back.sum(0), hidden.T @ grad, grad.sum(0)], lr)
        return float(loss)

    def step(self, grads: list[np.ndarray], lr: float, betas=(0.9, 0.999), eps=1e-8) -> None:
        self.updates += 1
        for i, (p, g) in enumerate(zip(self.params, grads)):
            m, v = self.moments[i]
            m[:] = betas[0] * m + (1 - betas[0]) * g
            v[:] = betas[1] * v + (1 - betas[1]) * g * g
            m_hat, v_hat = m / (1 - betas[0] ** self.updates), v / (1 - betas[1] ** self.updates)
            p -= lr * m_hat / (np.sqrt(v_hat) + eps)


def normaliser(obs: np.ndarray, clip: float):
    mean, std = obs.mean(axis=0), np.sqrt(obs.var(axis=0) + 1e-8)
    return mean, std, lambda o: np.clip((o - mean) / std, -clip, clip)


def main(argv: list[str] | None = None) -> list[dict]:
    """Runs DAgger as the arguments say; returns the held-out table's rows."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--duration", type=float, default=None, help="episode length in seconds")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--envs", type=int, default=8, help="environments, one episode each per round")
    parser.add_argument("--epochs", type=int, default=300, help="Adam steps on all data after each round")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1, help="first training seed")
    parser.add_argument("--vm-need-multiples", default="0.5,0.75,1,1.25,1.5,2,2.5")
    parser.add_argument("--heldout-seeds", type=int, default=5)
    parser.add_argument("--out", default="runs/dagger/policy.ron")
    args = parser.parse_args(argv)

    actions = {"vm_need_multiples": [float(m) for m in args.vm_need_multiples.split(",")]}
    venv = serflow.VectorEnv(args.envs, scenario=args.scenario, duration=args.duration, expert=True, **actions)
    rng = np.random.default_rng(args.seed)
    actor = Actor(len(venv.feature_names), 64, venv.single_action_space.nvec, rng)
    data_obs, data_masks, data_labels = [], [], []
    norm = None
    started = time.time()
    for round_ in range(args.rounds):
        expert_prob = 0.5**round_
        obs, _ = venv.reset(seed=args.seed + round_ * args.envs)
        agreed = decisions = 0
        while True:
            masks, expert = venv.action_masks(), venv.expert_actions()
            data_obs.append(obs)
            data_masks.append(masks)
            data_labels.append(expert)
            act = expert
            if norm is not None:
                student = actor.choose(norm(obs), masks)
                agreed += int((student == expert).all(axis=1).sum())
                decisions += len(obs)
                act = np.where(rng.random((len(obs), 1)) < expert_prob, expert, student)
            obs, _, _, truncated, _ = venv.step(act)
            if truncated.any():  # every environment's episode has the same length
                break
        x, masks, labels = (np.concatenate(d) for d in (data_obs, data_masks, data_labels))
        mean, std, norm = normaliser(x, 10.0)
        loss = actor.fit(norm(x), masks, labels, args.epochs, args.lr)
        agreement = f"{agreed / decisions:.2f}" if decisions else "-"
        print(
            f"round {round_}: expert acts w.p. {expert_prob:.3f}, {len(x)} labelled decisions, "
            f"student agreed with the expert on {agreement} of this round's, loss {loss:.3f} "
            f"({time.time() - started:.0f} s)"
        )

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    w1, b1, w2, b2 = actor.params
    serflow.export_policy(
        out, [(w1, b1), (w2, b2)], mean, std, 10.0, scenario=args.scenario, notes="dagger.py", **actions
    )
    print(f"wrote {out}")
    return heldout_table(str(out), scenario=args.scenario, seeds=args.heldout_seeds)


if __name__ == "__main__":
    main()
