"""What both training examples share: the held-out comparison of an exported policy beside the
baselines and serflow's own shipped policy, on the seeds `serflow compare --first-seed heldout` uses."""

from __future__ import annotations

import serflow


def heldout_table(policy_file: str, scenario: str = "default", seeds: int = 5) -> list[dict]:
    """Mean cost and SLO attainment per policy over the held-out seeds, printed as a table."""
    names = ["faas-only", "vm-only", "serflow", "learned", policy_file]
    runs = serflow.compare(names, seeds=seeds, first_seed="heldout", scenario=scenario)
    rows = []
    for i, name in enumerate(names):
        mine = runs[i * seeds : (i + 1) * seeds]  # policy after policy, seed order within
        cost = sum(r["cost"]["total"] for r in mine) / len(mine)
        attainment = sum(r["slo"]["attainment"] for r in mine) / len(mine)
        target = mine[0]["slo"]["target"]
        rows.append({"policy": name, "cost": cost, "slo_attainment": attainment, "meets_target": attainment >= target})
    print(f"held-out seeds 2000000..{2000000 + seeds - 1}, scenario {scenario}")
    for row in rows:
        mark = "" if row["meets_target"] else "  (below target)"
        print(f"  {row['policy']:<40} ${row['cost']:.4f}  {100 * row['slo_attainment']:.3f} %{mark}")
    return rows
