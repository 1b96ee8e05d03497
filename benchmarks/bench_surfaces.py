"""Reward-surface points per second: batched evaluation against one policy at a time.

The same grid (random filter-normalised directions, seed 0) and the same episodes (episode
e of every point seeded e) are evaluated twice in one process: by
``workbench.landscapes.surfaces.evaluate_grid`` (every point of a chunk in one vector env,
the actions of all points from one batched call per step: for this MlpPolicy, batched
matrix products over the stacked weights) and by the reference
loop (``evaluate_point_reference``: SB3's ``evaluate_policy`` per point, one env, one
episode after another, as Sullivan et al.'s code). The returns must agree: identical with
discrete actions, to float32 rounding with continuous ones.
A third case is one of our own agents: an untrained METRA skill policy (our SAC at the
dashboard's width, 256) in four rooms, copied into an SB3 SAC and paid its skill reward
(``workbench.landscapes.agent_policies``); both evaluations step the same wrappers.
Target (issue 18): batched at least 20x faster.

    .venv/bin/python benchmarks/bench_surfaces.py [--grid 11] [--episodes 4] [--threads 1] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine_line, write_section

import environments  # noqa: F401  (registers the ids)
from workbench.agents.metra import SkillDiscovery
from workbench.landscapes.agent_policies import (
    SkillRewardVectorEnv,
    SkillRewardWrapper,
    sb3_model_of,
    skill_reward_of,
)
from workbench.landscapes.surfaces import (
    evaluate_grid,
    evaluate_point_reference,
    grid_axis,
    make_vector_env,
    perturb,
    policy_parameters,
    random_directions,
)
from workbench.trainers.metra import env_kwargs as metra_env_kwargs

FOUR_ROOMS = "workbench/PointMaze-FourRooms-v0"

Case = tuple[Any, Any, Any, dict[str, Any]]
"""(model, env for the batched evaluation, env for the reference, constructor keywords)."""


def ppo_case(env_id: str, env_kwargs: dict[str, Any]) -> Callable[[], Case]:
    """An untrained PPO MlpPolicy [64, 64] on a registered id."""

    def build() -> Case:
        model = PPO(
            "MlpPolicy", gym.make(env_id, **env_kwargs), policy_kwargs={"net_arch": [64, 64]},
            seed=0, device="cpu",
        )  # fmt: skip
        return model, env_id, env_id, env_kwargs

    return build


def metra_case() -> Case:
    """An untrained METRA skill policy (our SAC, 256 x 2) in four rooms on one skill's
    reward, as ``workbench surface`` builds it for a METRA run."""
    torch.manual_seed(0)
    kwargs = metra_env_kwargs(FOUR_ROOMS)
    space = gym.make(FOUR_ROOMS, **kwargs).action_space
    agent = SkillDiscovery(
        2, torch.as_tensor(space.low), torch.as_tensor(space.high), hidden=256, device="cpu"
    )
    skill = np.array([0.6, 0.8], dtype=np.float32)
    reward = skill_reward_of(agent, skill)

    def single() -> gym.Env:
        return SkillRewardWrapper(gym.make(FOUR_ROOMS, **kwargs), skill, reward)

    def vector(num_envs: int) -> SkillRewardVectorEnv:
        return SkillRewardVectorEnv(
            make_vector_env(FOUR_ROOMS, num_envs, env_kwargs=kwargs), skill, reward
        )

    return sb3_model_of(agent, single()), vector, single, {}


# Each env's own time limit (CartPole 500, U-maze 200, four rooms 400 steps).
CASES: tuple[tuple[str, Callable[[], Case]], ...] = (
    ("CartPole-v1", ppo_case("CartPole-v1", {})),
    ("U-maze, dense reward", ppo_case("workbench/PointMaze-UMaze-v0", {"reward_mode": "dense"})),
    ("METRA skill policy, four rooms", metra_case),
)


def measure(case: Callable[[], Case], grid: int, episodes: int) -> dict[str, Any]:
    """Time both evaluations of one case's grid; assert they agree."""
    model, env_id, single_env, env_kwargs = case()
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
                single_env,
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
    elif callable(env_id):  # the skill reward: phi of a batch against phi of one row
        np.testing.assert_allclose(batched.returns_mean, reference[:, 0], rtol=1e-5, atol=1e-6)
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
    for label, case in CASES:
        figures = measure(case, args.grid, args.episodes)
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

Untrained PPO MlpPolicy [64, 64] (seed 0); and an untrained METRA skill policy (our SAC,
256 x 2, copied into an SB3 SAC) paid its skill reward (phi(s') - phi(s)) . z with phi
256 x 2, in four rooms. {args.grid} x {args.grid} grid over two random
filter-normalised directions (seed 0), magnitude 1, {args.episodes} episodes per point seeded
0..{args.episodes - 1}, deterministic actions, each env's own time limit (CartPole 500, U-maze 200,
four rooms 400 steps). The METRA case's returns agree to 1e-5 relative or 1e-6 absolute
(phi of a batch against phi of one row; returns near 0 differ by up to 4e-5 relative). Batched: `evaluate_grid` (64 points per chunk, one vector env, one batched head
per step: batched matrix products over the points' stacked MlpPolicy weights; for the SAC
actor, `functional_call` under `vmap`). One at a time: `evaluate_point_reference` per point (SB3
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
