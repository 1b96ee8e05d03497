"""HILP: rank correlation and zero-shot goal reaching against training steps, per dataset
kind on two mazes; and gradient updates per second.

(a) For each maze (U-maze, four rooms) and behaviour (random, momentum, play): build a
dataset (``--episodes`` x 1,000 steps), train one headless HILP run and read its
evaluations every ``--eval-every`` updates: Spearman's rho between learned and geodesic
distance over 1,000 held-out pairs, and the share of 16 goals reached zero-shot.
(b) Updates per second of one HILP update (phi, Q, V and the actor together) at our dashboard's
size (MLP 256 x 3, batch 256) and the authors' (512 x 3, batch 1024), on this device.

    .venv/bin/python benchmarks/bench_hilp.py [--steps 3000] [--episodes 100] [--hidden 128] [--device auto] [--no-write]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine_line, write_section

from workbench.agents.hilp import HILP, GoalSampling, OfflineBatches
from workbench.agents.sac import resolve_device
from workbench.runs import Run, RunStore

MAZES = {"U-maze": "workbench/PointMaze-UMaze-v0", "four rooms": "workbench/PointMaze-FourRooms-v0"}
BEHAVIOURS = ("random", "momentum", "play")


def learning_curves(args) -> list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray]]:
    store = RunStore(tempfile.mkdtemp(prefix="bench-hilp-"))
    rows = []
    for maze, env_id in MAZES.items():
        for behaviour in BEHAVIOURS:
            run = Run.create(
                "hilp", store=store, name=f"{behaviour} {maze}", env_id=env_id,
                behaviour=behaviour, dataset=f"bench-{env_id[19:-3].lower()}-{behaviour}",
                episodes=args.episodes, hidden=args.hidden, layers=2, latent_dim=32,
                total_steps=args.steps, eval_every=args.eval_every, checkpoint_every=0,
                device=args.device,
            )  # fmt: skip
            # The trainer builds a missing dataset; build it here so the name is ours.
            from workbench.datasets import build_dataset

            build_dataset(
                run.config["dataset"], env_id, behaviour, episodes=args.episodes, home=store.home
            )
            start = time.perf_counter()
            run.start()
            if (state := run.wait()) != "finished":
                raise RuntimeError(f"{behaviour} on {maze} ended {state}: {run.record.message}")
            steps, rho = run.scalars("eval/spearman")
            _, success = run.scalars("eval/goal_success")
            rows.append((maze, behaviour, steps, rho, success))
            print(
                f"{maze:10s} {behaviour:8s} rho {np.round(rho, 3).tolist()} success "
                f"{np.round(success, 2).tolist()} ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    return rows


def updates_per_second(hidden: int, batch: int, device: torch.device, seconds: float) -> float:
    data = load_dataset_or_random()
    agent = HILP(2, 2, 0.2, latent_dim=32, hidden=hidden, layers=3, device=device)
    batches, goals = OfflineBatches(data, agent.device), GoalSampling()
    for _ in range(3):
        agent.update(batches.sample(batch, goals))
    if device.type == "cuda":
        torch.cuda.synchronize()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or count < 5:
        agent.update(batches.sample(batch, goals))
        count += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return count / (time.perf_counter() - start)


def load_dataset_or_random():
    """Random transitions shaped like a dataset: the update's cost does not depend on them."""
    from workbench.datasets import OfflineData

    rng = np.random.default_rng(0)
    states = rng.uniform(0, 13, (100_001, 2)).astype(np.float32)
    return OfflineData(
        "random", None, states, rng.uniform(-0.2, 0.2, (100_000, 2)).astype(np.float32),
        np.arange(100_000), np.full(100_000, 100_000),
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3_000, help="updates per run")
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument(
        "--episodes", type=int, default=100, help="dataset episodes (x 1,000 steps)"
    )
    parser.add_argument("--hidden", type=int, default=128, help="MLP width of the learning runs")
    parser.add_argument("--seconds", type=float, default=5.0, help="time per speed measurement")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args = parser.parse_args()
    device = resolve_device(args.device)

    speeds = [
        (hidden, batch, updates_per_second(hidden, batch, device, args.seconds))
        for hidden, batch in ((256, 256), (512, 1024))
    ]
    for hidden, batch, rate in speeds:
        print(f"MLP {hidden} x 3, batch {batch}: {rate:.1f} updates/s", flush=True)
    rows = learning_curves(args)

    steps = rows[0][2]
    marks = sorted({len(steps) // 3 - 1, 2 * len(steps) // 3 - 1, len(steps) - 1})
    header = " | ".join(f"rho @ {steps[m]:,.0f} | goals @ {steps[m]:,.0f}" for m in marks)
    table = "\n".join(
        f"| {maze} | {behaviour} | "
        + " | ".join(f"{rho[m]:.3f} | {success[m]:.0%}" for m in marks)
        + " |"
        for maze, behaviour, _, rho, success in rows
    )
    speed_table = "\n".join(f"| {h} x 3 | {b} | {r:,.1f} |" for h, b, r in speeds)
    name = "cuda" if device.type == "cuda" else f"cpu, {torch.get_num_threads()} torch threads"
    body = f"""## HILP: distance ranks and zero-shot goals against steps, and speed (issue 5, {device.type})

Learning runs: dataset of {args.episodes} episodes x 1,000 steps per behaviour; MLP {args.hidden} x 2,
latent 32, batch 256, the authors' losses and goal sampling; {args.steps:,} updates. rho: Spearman
between ||phi(p) - phi(q)|| and geodesic distance over 1,000 held-out pairs; goals: share of
16 free-cell goals reached (within 0.5) from the start in the maze's time limit.
Device: {name}.
Command: `.venv/bin/python benchmarks/bench_hilp.py --steps {args.steps} --eval-every {args.eval_every} --seconds {args.seconds:g} --episodes {args.episodes} --hidden {args.hidden} --device {args.device}`
Machine: {machine_line()}

| maze | behaviour | {header} |
|---|---|{"---:|" * (2 * len(marks))}
{table}

| MLP | batch | HILP updates/s |
|---|---:|---:|
{speed_table}"""
    print(body)
    if not args.no_write:
        write_section(f"hilp_{device.type}", body)


if __name__ == "__main__":
    main()
