"""Wall time of the full horizon analysis (value functions, min_k, planning window and
the effective-horizon bound): our vectorized code against a straightforward per-state
Python loop implementation of the same definitions (written below the way the authors'
Julia code reads: loops over time steps, states, actions and successors), in one run,
on the same MDPs. Target (issue 6): on MDPs of thousands of states (DoorKey-8x8,
KeyCorridorS3R2), the vectorized code at least 20x faster, with the same values; the small
MDPs are listed for context (there a few hundred array operations per k cost more than
the states' arithmetic).

    .venv/bin/python benchmarks/bench_horizon.py [--sources ...] [--horizon 100] [--no-write]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine_line, write_section

from workbench.horizon import HorizonMDP, analyze, load_mdp
from workbench.horizon.analysis import REWARD_PRECISION

LARGE = 1_000  # states: the MDPs the target is about
SOURCES = (
    "workbench/GridWorld-FourRooms-v0",
    "MiniGrid-Empty-8x8-v0",
    "MiniGrid-DoorKey-5x5-v0",
    "MiniGrid-DoorKey-8x8-v0",
    "MiniGrid-KeyCorridorS3R2-v0",
)


def loop_analysis(mdp: HorizonMDP) -> dict[str, float]:
    """min_k, the planning window and the bound, one state at a time."""
    horizon, states, actions = mdp.horizon, mdp.num_states, mdp.num_actions
    succ, prob, reward = mdp.successors.tolist(), mdp.probabilities.tolist(), mdp.rewards.tolist()
    branches = [[[(n, p) for n, p in zip(succ[s][a], prob[s][a], strict=True) if p > 0]
                 for a in range(actions)] for s in range(states)]  # fmt: skip

    def expected(values: list[float], s: int, a: int) -> float:
        return sum(p * (values[n] if n >= 0 else 0.0) for n, p in branches[s][a])

    q = {name: [[[0.0] * actions for _ in range(states)] for _ in range(horizon)]
         for name in ("random", "optimal", "worst")}  # fmt: skip
    v = {name: [[0.0] * states for _ in range(horizon)] for name in q}
    for t in reversed(range(horizon)):
        for s in range(states):
            for name in q:
                following = v[name][t + 1] if t + 1 < horizon else [0.0] * states
                for a in range(actions):
                    q[name][t][s][a] = reward[s][a] + expected(following, s, a)
            v["optimal"][t][s] = max(q["optimal"][t][s])
            v["worst"][t][s] = min(q["worst"][t][s])
            mean = sum(q["random"][t][s]) / actions
            v["random"][t][s] = min(max(mean, v["worst"][t][s]), v["optimal"][t][s])
    optimal = [[[q["optimal"][t][s][a] >= v["optimal"][t][s] - REWARD_PRECISION
                 for a in range(actions)] for s in range(states)] for t in range(horizon)]  # fmt: skip
    starts = [s for s in range(states) if mdp.start[s] > 0]

    def backup(current: list) -> list:
        result = [[row[:] for row in current[t]] for t in range(horizon)]
        for t in range(horizon - 1):
            for s in range(states):
                for a in range(actions):
                    result[t][s][a] = reward[s][a] + sum(
                        p * (max(current[t + 1][n]) if n >= 0 else 0.0) for n, p in branches[s][a]
                    )
        return result

    def least_k(current: list) -> int:
        for k in range(1, horizon + 1):
            reached, works = set(starts), True
            for t in range(horizon):
                following = set()
                for s in reached:
                    best = max(current[t][s])
                    for a in range(actions):
                        if current[t][s][a] >= best:
                            if not optimal[t][s][a]:
                                works = False
                            following.update(n for n, _ in branches[s][a] if n >= 0)
                if not works:
                    break
                reached = following
            if works:
                return k
            current = backup(current)
        raise AssertionError("k = T always works")

    figures = {"min_k": least_k(q["random"])}
    figures["epw"] = least_k([[list(reward[s]) for s in range(states)] for _ in range(horizon)])

    current = q["random"]
    var = [[[(q["random"][t][s][a] - q["worst"][t][s][a]) * (q["optimal"][t][s][a] - q["worst"][t][s][a])
             for a in range(actions)] for s in range(states)] for t in range(horizon)]  # fmt: skip
    effective_horizon, k = float(horizon), 1
    while k < effective_horizon:
        reached, works, largest = set(starts), True, 0.0
        log_term = math.log(2 * horizon) + k * math.log(actions)
        for t in range(horizon):
            following = set()
            for s in reached:
                max_q = max(current[t][s])
                max_sub = max((current[t][s][a] for a in range(actions) if not optimal[t][s][a]),
                              default=-math.inf)  # fmt: skip
                if max_q == max_sub:
                    works = False
                    break
                gap = max_q - max_sub
                m = (
                    max(1.0, math.ceil(16 * max(var[t][s]) / gap**2 * log_term))
                    if gap < math.inf
                    else 1.0
                )
                largest = max(largest, m)
                for a in range(actions):
                    if current[t][s][a] > max_sub:
                        following.update(n for n, _ in branches[s][a] if n >= 0)
            if not works:
                break
            reached = following
        if works:
            effective_horizon = min(effective_horizon, k + math.log(largest) / math.log(actions))
        current = backup(current)
        new_var = [[row[:] for row in var[t]] for t in range(horizon)]
        for t in range(horizon - 1):
            for s in range(states):
                for a in range(actions):
                    new_var[t][s][a] = max(
                        (max(var[t + 1][n]) if n >= 0 else 0.0) for n, _ in branches[s][a]
                    )
        var = new_var
        k += 1
    figures["effective_horizon"] = effective_horizon
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", nargs="+", default=list(SOURCES))
    parser.add_argument("--horizon", type=int, default=None, help="T (default: each source's)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args = parser.parse_args()
    rows = []
    for source in args.sources:
        mdp = load_mdp(source, args.horizon)
        start = time.perf_counter()
        summary = analyze(mdp).summary()
        ours = time.perf_counter() - start
        start = time.perf_counter()
        reference = loop_analysis(mdp)
        loops = time.perf_counter() - start
        same = (
            summary["min_k"] == reference["min_k"]
            and summary["epw"] == reference["epw"]
            and np.isclose(summary["effective_horizon"], reference["effective_horizon"])
        )
        rows.append(
            (source, mdp.num_states, mdp.num_actions, mdp.horizon, summary, ours, loops, same)
        )
        print(f"{source}: {mdp.num_states} states, vectorized {ours:.2f} s, loops {loops:.1f} s, "
              f"{loops / ours:.0f}x, same values: {same}", flush=True)  # fmt: skip
    table = "\n".join(
        f"| {source} | {states:,} | {actions} | {horizon} | {s['min_k']} | {s['epw']} | "
        f"{s['effective_horizon']:.2f} | {ours:.2f} | {loops:.1f} | {loops / ours:.0f}x | {'yes' if same else 'NO'} |"
        for source, states, actions, horizon, s, ours, loops, same in rows
    )
    large = [row for row in rows if row[1] >= LARGE]
    slowest = min((loops / ours for *_, ours, loops, _ in large), default=float("nan"))
    same_everywhere = all(row[-1] for row in rows)
    body = f"""## Horizon analysis: vectorized against per-state loops (issue 6)

Full analysis (value functions of the random, optimal and worst policies, min_k, the
effective planning window, the effective-horizon bound) of each MDP; the loop version
implements the same definitions one state at a time, as the authors' Julia code reads.
Command: `.venv/bin/python benchmarks/bench_horizon.py{"" if args.horizon is None else f" --horizon {args.horizon}"}`
Machine: {machine_line()}

| MDP | states | actions | T | min_k | epw | effective horizon | vectorized s | loops s | speed-up | same values |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|
{table}

Target: at least 20x faster on the MDPs of {LARGE:,} states or more, with the same values
everywhere: **{"met" if slowest >= 20 and same_everywhere else "NOT met"}** (smallest speed-up there {slowest:.0f}x)."""
    print(body)
    if not args.no_write:
        write_section("horizon", body)


if __name__ == "__main__":
    main()
