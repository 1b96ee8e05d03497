"""Steps per second of the array-vectorized point maze against gymnasium's SyncVectorEnv.

Both step the same environment (``workbench/PointMaze-FourRooms-v0``, 400-step episodes,
auto-reset) with the same pre-drawn random actions, in one process, one after the other.
Target (issue 2): at 1024 copies, at least 50x SyncVectorEnv.

    .venv/bin/python benchmarks/bench_vector_env.py [--seconds 2] [--no-write]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium.vector import SyncVectorEnv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine_line, write_section

import environments  # noqa: F401  (registers the ids)

ENV_ID = "workbench/PointMaze-FourRooms-v0"
COPIES = (1, 64, 1024)


def steps_per_second(env: gym.vector.VectorEnv, num_envs: int, seconds: float) -> float:
    """Environment steps (copies x vector steps) per second, over at least ``seconds``."""
    rng = np.random.default_rng(0)
    actions = rng.uniform(-0.2, 0.2, size=(64, num_envs, 2)).astype(np.float32)
    env.reset(seed=0)
    for i in range(5):  # warm-up
        env.step(actions[i])
    steps, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or steps < 10:
        env.step(actions[steps % len(actions)])
        steps += 1
    return steps * num_envs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args = parser.parse_args()

    rows = []
    for n in COPIES:
        ours = steps_per_second(gym.make_vec(ENV_ID, num_envs=n), n, args.seconds)
        sync = SyncVectorEnv([lambda: gym.make(ENV_ID) for _ in range(n)])
        reference = steps_per_second(sync, n, args.seconds)
        rows.append((n, ours, reference, ours / reference))
        print(
            f"{n:5d} copies: PointVectorEnv {ours:12,.0f}  SyncVectorEnv {reference:10,.0f}  ratio {ours / reference:7.1f}x"
        )

    table = "\n".join(f"| {n} | {o:,.0f} | {r:,.0f} | {x:.1f}x |" for n, o, r, x in rows)
    verdict = "met" if rows[-1][3] >= 50 else "NOT met"
    body = f"""## Vectorized point maze against gymnasium's SyncVectorEnv (issue 2)

`{ENV_ID}`, random actions, auto-reset; environment steps per second (copies x vector steps).
Command: `.venv/bin/python benchmarks/bench_vector_env.py --seconds {args.seconds:g}`
Machine: {machine_line()}

| copies | PointVectorEnv steps/s | SyncVectorEnv steps/s | ratio |
|---:|---:|---:|---:|
{table}

Target: at least 50x at 1024 copies: **{verdict}** ({rows[-1][3]:.0f}x)."""
    if not args.no_write:
        write_section("vector_env", body)
    print(body)


if __name__ == "__main__":
    main()
