"""Reward-surface points per second: batched evaluation against one policy at a time.

The same grid (random filter-normalised directions, seed 0) and the same episodes (episode
e of every point seeded e) are evaluated twice in one process: by
``workbench.landscapes.surfaces.evaluate_grid`` (every point of a chunk in one vector env,
the actions of all points from one batched call per step: for this MlpPolicy, batched
matrix products over the stacked weights) and by the reference
loop (``evaluate_point_reference``: SB3's ``evaluate_policy`` per point, one env, one
episode after another, as Sullivan et al.'s code). The returns must agree: identical with
discrete actions, to float32 rounding with continuous ones.
Target (issue 18): batched at least 20x faster.

    .venv/bin/python benchmarks/bench_surfaces.py [--grid 11] [--episodes 4] [--threads 1] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine_line, write_section

import environments  # noqa: F401  (registers the ids)
from workbench.landscapes.surfaces import (
    evaluate_grid,
    evaluate_point_reference,
    grid_axis,
    perturb,
    policy_parameters,
    random_directions,
)

# (label, env id, constructor keywords); each env's own time limit (500 and 200 steps).
CASES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("CartPole-v1", "CartPole-v1", {}),
    ("U-maze, dense reward", "workbench/PointMaze-UMaze-v0", {"reward_mode": "dense"}),
)


def measure(env_id: str, env_kwargs: dict[str, Any], grid: int, episodes: int) -> dict[str, Any]:
    """Time both evaluations of one env's grid; assert they agree."""
    model = PPO(
        "MlpPolicy",
        gym.make(env_id, **env_kwargs),
        policy_kwargs={"net_arch": [64, 64]},
        seed=0,
        device="cpu",
    )
    params = policy_parameters(model)
    directions = random_directions(params, seed=0)
    axis = grid_axis(grid, 1.0)
    coords = np.array([(a, b) for a in axis for b in axis])
    # Warm-up (first vmap and env construction), not timed.
    evaluate_grid(model, env_id, directions, coords[:2], 1, 0, env_kwargs=env_kwargs)

    start = time.perf_counter()
    batched = evaluate_grid(model, env_id, directions, coords, episodes, 0, env_kwargs=env_kwargs)
    batched_seconds = time.perf_counter() - start

    start = time.perf_counter()
    reference = np.array(
        [
            evaluate_point_reference(
                model,
                env_id,
                perturb(params, directions, point),
                episodes,
                0,
                env_kwargs=env_kwargs,
            )
            for point in coords
        ]
    )
    reference_seconds = time.perf_counter() - start

    if isinstance(model.action_space, gym.spaces.Discrete):
        np.testing.assert_array_equal(batched.returns_mean, reference[:, 0])
        np.testing.assert_array_equal(batched.returns_stderr, reference[:, 1])
    else:  # continuous actions: a batched matmul may round one float32 ulp differently
        np.testing.assert_allclose(batched.returns_mean, reference[:, 0], rtol=1e-6, atol=0)
    difference = np.abs(batched.returns_mean - reference[:, 0]) / np.abs(reference[:, 0]).clip(
        1e-12
    )
    return {
        "points": len(coords),
        "batched": len(coords) / batched_seconds,
        "reference": len(coords) / reference_seconds,
        "batched_seconds": batched_seconds,
        "reference_seconds": reference_seconds,
        "returns": (float(batched.returns_mean.min()), float(batched.returns_mean.max())),
        "difference": float(difference.max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=11, help="points per axis")
    parser.add_argument("--episodes", type=int, default=4, help="episodes per point")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (both methods)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args = parser.parse_args()
    # Small networks: more intra-op threads only contend, and on a busy machine their
    # spinning slows the batched matmuls tenfold.
    torch.set_num_threads(args.threads)
    load_at_start = os.getloadavg()[0]

    rows = []
    for label, env_id, env_kwargs in CASES:
        figures = measure(env_id, env_kwargs, args.grid, args.episodes)
        ratio = figures["batched"] / figures["reference"]
        rows.append((label, figures, ratio))
        print(
            f"{label}: batched {figures['batched']:.1f} points/s ({figures['batched_seconds']:.2f} s), "
            f"one at a time {figures['reference']:.2f} points/s ({figures['reference_seconds']:.1f} s), "
            f"{ratio:.1f}x, returns {figures['returns'][0]:.4g} .. {figures['returns'][1]:.4g}"
        )

    table = "\n".join(
        f"| {label} | {f['batched']:,.1f} | {f['reference']:,.2f} | {ratio:.1f}x | "
        f"{f['returns'][0]:.4g} .. {f['returns'][1]:.4g} | {f['difference']:.1g} |"
        for label, f, ratio in rows
    )
    verdict = "met" if all(ratio >= 20 for _, _, ratio in rows) else "NOT met"
    worst = min(ratio for _, _, ratio in rows)
    body = f"""## Reward surfaces, batched against one policy at a time (issue 18)

Untrained PPO MlpPolicy [64, 64] (seed 0), {args.grid} x {args.grid} grid over two random
filter-normalised directions (seed 0), magnitude 1, {args.episodes} episodes per point seeded
0..{args.episodes - 1}, deterministic actions, each env's own time limit (CartPole 500, U-maze 200
steps). Batched: `evaluate_grid` (64 points per chunk, one vector env, one batched head
per step: batched matrix products over the points' stacked MlpPolicy weights). One at a time: `evaluate_point_reference` per point (SB3
`evaluate_policy`, one env, one episode after another). Returns asserted identical for
CartPole (discrete actions) and equal to float32 rounding for the maze (continuous actions:
a batched matmul may round an action one ulp differently from SB3's).
Command: `.venv/bin/python benchmarks/bench_surfaces.py --grid {args.grid} --episodes {args.episodes} --threads {args.threads}`
Machine: {machine_line()}, torch {torch.__version__}, torch threads: {torch.get_num_threads()}

| environment | batched points/s | one-at-a-time points/s | speed-up | mean returns | largest relative difference |
|---|---:|---:|---:|---|---:|
{table}

Target: batched at least 20x faster: **{verdict}** (lowest {worst:.1f}x). The U-maze steps all
its copies as arrays, so the batched run costs little more than one policy call per step.
CartPole's copies are gymnasium `CartPoleEnv`s in a `SyncVectorEnv` (its own vector env does
not replay single-env seeds): the batched run still makes one Python `step` per episode step
(about 90,000 here, over half its time since the policy's head is batched matrix
products), which bounds its speed-up whatever the policy costs. Load average (1 min) when
the run started: {load_at_start:.1f}."""
    if not args.no_write:
        write_section("surfaces", body)
    print(body)


if __name__ == "__main__":
    main()
