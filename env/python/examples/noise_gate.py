"""A rule written in Python over a shipped policy's action set: per interval, every stage's VM target
is the need forecast one boot ahead times 1.11 (what the PPO policy trained on ``production``,
checkpoints/production/policy.ron, always chooses) or the measured need times 1.4 (the reactive rule's choice), by how noisy stage 1's rate
was over the last ``window`` intervals. Noise is ``1 - |net change| / total variation`` of those
rates: 0 on a clean ramp, near 1 when the rate only jitters, where a trend extrapolated a boot ahead
books VMs for ramps that do not come.

It asks whether the observation tells the workloads apart well enough to choose between the two
rules. The window and threshold are chosen on the mixture's selection seeds (1,000,000 on), then
the gate and both constant choices run on held-out seeds (2,000,000 on), per workload: the
``production`` mixture and each trace found. checkpoints/production/report.md has serflow's run
of it beside the calibrated rules.

    pip install ./env/python
    python env/python/examples/noise_gate.py            # ~4 min on 2 cores with the LIBRA traces
"""

from __future__ import annotations

import argparse
import itertools
import os
from multiprocessing import Pool
from pathlib import Path

import numpy as np

import serflow

REPO = Path(__file__).resolve().parents[3]
SELECTION, HELDOUT = 1_000_000, 2_000_000
# Held-out workloads as checkpoints/production/baselines.md replays them: (label, trace, time scale).
TRACES = [
    ("WITS", "wits_logs.txt", 0.11),
    ("sine", "sin_logs.txt", 0.5),
    ("square wave", "square_load.txt", 4.5),
]


def choices(options: dict) -> tuple[int, int]:
    """The VM choices `1.11 x forecast need` and `1.4 x measured need` of an action set whose VM
    choices are: 0 holds, then one block of the multiples per need lead (README, "Action design")."""
    multiples, leads = options["vm_need_multiples"], options["vm_need_leads"]
    block = len(multiples)
    forecast = 1 + leads.index(max(leads)) * block + multiples.index(1.11)
    measured = 1 + leads.index(0.0) * block + multiples.index(1.4)
    return forecast, measured


def noise(rates: np.ndarray) -> float:
    steps = np.diff(rates)
    total = np.abs(steps).sum()
    return 0.0 if total == 0 else 1.0 - abs(steps.sum()) / total


def episode(job: tuple) -> tuple:
    """One episode of `rule` (`forecast`, `measured`, or `(window, threshold)` for the gate) in the
    action set `options`."""
    workload, env_kwargs, options, seed, rule = job
    forecast, measured = choices(options)
    env = serflow.ServingEnv(scenario="production", **env_kwargs, **options)
    rate = env.feature_names.index("stage0.arrival_rate")
    obs, _ = env.reset(seed=seed)
    rates, done, gated = [], False, 0
    while not done:
        rates.append(obs[rate])
        if rule == "measured":
            choice = measured
        elif rule == "forecast" or len(rates) <= rule[0]:
            choice = forecast
        else:
            choice = measured if noise(np.array(rates[-rule[0] - 1 :])) > rule[1] else forecast
        gated += choice == measured
        obs, _, terminated, truncated, _ = env.step(np.array([choice, 0] * (env.action_space.shape[0] // 2)))
        done = terminated or truncated
    report = env.episode_report(str(rule))
    slo = report["slo"]
    return workload, rule, report["cost"]["total"], slo["attainment"], gated / len(rates), slo["target"]


def means(rows: list[tuple]) -> dict:
    """Mean cost, attainment, share of `measured` choices and the SLO target per (workload, rule)."""
    grouped: dict = {}
    for workload, rule, *figures in rows:
        grouped.setdefault((workload, rule), []).append(figures)
    return {key: tuple(np.mean(values, axis=0)) for key, values in grouped.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, nargs="+", default=[6, 12, 18])
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 0.9])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--duration", type=float, help="seconds per episode (default: the scenario's hour)")
    parser.add_argument("--traces", default=os.environ.get("SERFLOW_TRACES", REPO.parent / "shared" / "traces"))
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    args = parser.parse_args(argv)
    mixture = {} if args.duration is None else {"duration": args.duration}
    traced = {"duration": args.duration or 3500.0}
    workloads = [("mixture", mixture)]
    workloads += [
        (label, {**traced, "trace": str(Path(args.traces) / name), "time_scale": scale})
        for label, name, scale in TRACES
        if (Path(args.traces) / name).exists()
    ]
    workloads.append(("Azure LLM (never trained on)", {**traced, "trace": str(REPO / "traces" / "azure_llm_conv_2023.csv")}))
    gates = list(itertools.product(args.windows, args.thresholds))
    ppo = REPO / "checkpoints" / "production" / "policy.ron"
    options = serflow.Policy.load(str(ppo), scenario="production").action_options

    with Pool(args.jobs) as pool:
        seeds = range(SELECTION, SELECTION + args.seeds)
        selection = means(pool.map(episode, [("mixture", mixture, options, s, g) for g in gates for s in seeds]))
        at_target = [g for g in gates if selection[("mixture", g)][1] >= selection[("mixture", g)][3]] or gates
        chosen = min(at_target, key=lambda g: selection[("mixture", g)][0])
        print(f"selection seeds {SELECTION}..{SELECTION + args.seeds - 1}, mixture:")
        for g in gates:
            cost, attained, share, _ = selection[("mixture", g)]
            print(f"  window {g[0]:>2}, threshold {g[1]:.2f}: ${cost:.4f} at {100 * attained:.3f} %, measured {share:.2f}")
        print(f"chosen: window {chosen[0]}, threshold {chosen[1]}")

        rules = ["forecast", "measured", chosen]
        seeds = range(HELDOUT, HELDOUT + args.seeds)
        jobs = [(w, kwargs, options, s, r) for w, kwargs in workloads for r in rules for s in seeds]
        heldout = means(pool.map(episode, jobs))
    print(f"held-out seeds {HELDOUT}..{HELDOUT + args.seeds - 1}: cost $ (attainment %, share of 1.4 x measured)")
    names = {"forecast": "1.11 x forecast", "measured": "1.4 x measured", chosen: "noise gate"}
    print(f"  {'workload':<30}" + "".join(f"{names[r]:>30}" for r in rules))
    for w, _ in workloads:
        cells = [heldout[(w, r)] for r in rules]
        print(f"  {w:<30}" + "".join(f"{f'{c:.4f} ({100 * a:.2f} %, {s:.2f})':>30}" for c, a, s, _ in cells))
    return {"chosen": chosen, "selection": selection, "heldout": heldout}


if __name__ == "__main__":
    main()
