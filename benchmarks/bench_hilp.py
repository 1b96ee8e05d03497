"""HILP: rank correlation and zero-shot goal reaching against training steps, per dataset
kind on two mazes; the dashboard's default run on four rooms to convergence; and gradient
updates per second against the machine's matrix-product ceiling.

Parts (``--parts``, each writes its own block inside the ``hilp_<device>`` section):

- ``curves``: for each maze (U-maze, four rooms) and behaviour (random, momentum, play):
  build a dataset (``--episodes`` x 1,000 steps), train one headless HILP run and read its
  evaluations every ``--eval-every`` updates: Spearman's rho between learned and geodesic
  distance over 1,000 held-out pairs, and the share of 16 goals reached zero-shot.
- ``converge``: the dashboard's default HILP run (``HILPConfig``'s defaults: four rooms,
  the play dataset of 200 episodes, MLP 256 x 3, batch 256) for ``--converge-steps``
  updates, evaluated every ``--converge-every``.
- ``speed``: updates per second of one HILP update (phi, Q, V and the actor together) at our
  dashboard's size (MLP 256 x 3, batch 256) and the authors' (512 x 3, batch 1024), against
  the ceiling: a measured large matrix product's FLOP/s divided by one update's
  matrix-product FLOPs (:func:`update_flops`), as ``bench_sac.py`` does for SAC. Ours and
  the ceiling are measured in turns in one process (the shared machine's speed drifts).

    .venv/bin/python benchmarks/bench_hilp.py [--parts curves,converge,speed] [--steps 3000] [--episodes 100] [--hidden 128] [--converge-steps 12000] [--device auto] [--no-write]
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
from workbench.trainers.hilp import HILPConfig

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


def convergence(args) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The dashboard's default HILP run (the config's defaults) for ``--converge-steps``
    updates. Returns evaluation steps, rho, goal success and seconds taken."""
    store = RunStore(tempfile.mkdtemp(prefix="bench-hilp-converge-"))
    run = Run.create(
        "hilp", store=store, name="default four rooms", total_steps=args.converge_steps,
        eval_every=args.converge_every, checkpoint_every=0, device=args.device,
    )  # fmt: skip
    start = time.perf_counter()
    run.start()
    if (state := run.wait()) != "finished":
        raise RuntimeError(f"the default run ended {state}: {run.record.message}")
    steps, rho = run.scalars("eval/spearman")
    _, success = run.scalars("eval/goal_success")
    for step, r, g in zip(steps, rho, success, strict=True):
        print(f"default run: {step:,.0f} updates, rho {r:.3f}, goals {g:.0%}", flush=True)
    return steps, rho, success, time.perf_counter() - start


def update_flops(hidden: int, batch: int, layers: int = 3, latent: int = 32) -> float:
    """Matrix-product FLOPs of one HILP update (observations and actions 2-D), a backward
    pass counted as twice its forward (weight and input gradients).

    Hilbert value: the two target phis on s', g and s, forward; the two phis on s and g,
    forward and backward. Skill reward: the first phi on s' (its phi(s) is the value's).
    IQL: V on s' and the two target Qs, forward; the two Qs, V and the actor, forward and
    backward.
    """

    def mlp(inputs: int, outputs: int) -> float:  # one network's forward pass
        return 2.0 * batch * (inputs * hidden + (layers - 1) * hidden * hidden + hidden * outputs)

    phi, skill = mlp(2, latent), 2 + latent
    q, v, actor = mlp(skill + 2, 1), mlp(skill, 1), mlp(skill, 2)
    return 2 * 3 * phi + 3 * 2 * 2 * phi + phi + v + 2 * q + 3 * (2 * q + v + actor)


def timed(step, seconds: float) -> float:
    """Calls of ``step`` per second, after two warm-up calls."""
    for _ in range(2):
        step()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or count < 3:
        step()
        count += 1
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return count / (time.perf_counter() - start)


def matmul_flops_per_second(device: torch.device, seconds: float) -> float:
    """The machine's rate on a large product (bench_sac's: 1024 x 1024 by 1024 x 1024)."""
    a = torch.randn(1024, 1024, device=device)
    b = torch.randn(1024, 1024, device=device)
    return timed(lambda: a @ b, seconds) * 2.0 * 1024**3


SPEED_SIZES = ((256, 256), (512, 1024))  # (MLP width, batch): the dashboard's, the authors'


def speeds(device: torch.device, seconds: float, repeats: int) -> dict[str, list[float]]:
    """Rounds of: the ceiling's product rate, then each size's updates per second."""
    data = load_dataset_or_random()
    agents = {}
    for hidden, batch in SPEED_SIZES:
        agent = HILP(2, 2, 0.2, latent_dim=32, hidden=hidden, layers=3, device=device)
        batches, goals = OfflineBatches(data, agent.device), GoalSampling()
        agents[hidden, batch] = lambda a=agent, b=batches, g=goals, n=batch: a.update(
            b.sample(n, g)
        )
    runs: dict[str, list[float]] = {}
    for repeat in range(repeats):
        runs.setdefault("flops", []).append(matmul_flops_per_second(device, seconds))
        for (hidden, batch), step in agents.items():
            runs.setdefault(f"{hidden}x{batch}", []).append(timed(step, seconds))
        print(
            f"round {repeat + 1}: products {runs['flops'][-1] / 1e9:.1f} GFLOP/s, "
            + ", ".join(f"{k} {v[-1]:.2f} updates/s" for k, v in runs.items() if k != "flops"),
            flush=True,
        )
    return runs


def load_dataset_or_random():
    """Random transitions shaped like a dataset: the update's cost does not depend on them."""
    from workbench.datasets import OfflineData

    rng = np.random.default_rng(0)
    states = rng.uniform(0, 13, (100_001, 2)).astype(np.float32)
    return OfflineData(
        "random", None, states, rng.uniform(-0.2, 0.2, (100_000, 2)).astype(np.float32),
        np.arange(100_000), np.full(100_000, 100_000),
    )  # fmt: skip


def curves_body(args, rows, name: str) -> str:
    steps = rows[0][2]
    marks = sorted({len(steps) // 3 - 1, 2 * len(steps) // 3 - 1, len(steps) - 1})
    header = " | ".join(f"rho @ {steps[m]:,.0f} | goals @ {steps[m]:,.0f}" for m in marks)
    table = "\n".join(
        f"| {maze} | {behaviour} | "
        + " | ".join(f"{rho[m]:.3f} | {success[m]:.0%}" for m in marks)
        + " |"
        for maze, behaviour, _, rho, success in rows
    )
    return f"""### Distance ranks and goals against steps, per dataset

Learning runs: dataset of {args.episodes} episodes x 1,000 steps per behaviour; MLP {args.hidden} x 2,
latent 32, batch 256, the authors' losses and goal sampling; {args.steps:,} updates. rho: Spearman
between ||phi(p) - phi(q)|| and geodesic distance over 1,000 held-out pairs; goals: share of
16 free-cell goals reached (within 0.5) from the start in the maze's time limit.
Device: {name}.
Command: `.venv/bin/python benchmarks/bench_hilp.py --parts curves --steps {args.steps} --eval-every {args.eval_every} --episodes {args.episodes} --hidden {args.hidden} --device {args.device}`
Machine: {machine_line()}

| maze | behaviour | {header} |
|---|---|{"---:|" * (2 * len(marks))}
{table}"""


def converge_body(args, steps, rho, success, seconds: float, name: str) -> str:
    config = HILPConfig()
    table = "\n".join(
        f"| {s:,.0f} | {r:.3f} | {g:.0%} |" for s, r, g in zip(steps, rho, success, strict=True)
    )
    first = next((f"{s:,.0f}" for s, r in zip(steps, rho, strict=True) if r >= 0.9), "never")
    return f"""### The dashboard's default run on four rooms, to convergence

`HILPConfig` defaults: {config.env_id}, the {config.behaviour} dataset of {config.episodes} episodes,
MLP {config.hidden} x {config.layers}, latent {config.latent_dim}, batch {config.batch_size}, learning rate {config.learning_rate:g},
gamma {config.gamma}, expectile {config.expectile}; {args.converge_steps:,} updates in {seconds / 60:.0f} min. First evaluation at rho >= 0.9: {first} updates.
Device: {name}.
Command: `.venv/bin/python benchmarks/bench_hilp.py --parts converge --converge-steps {args.converge_steps} --converge-every {args.converge_every} --device {args.device}`
Machine: {machine_line()}

| updates | rho | goals |
|---:|---:|---:|
{table}"""


def speed_body(args, runs: dict[str, list[float]], name: str) -> str:
    flops = runs["flops"]
    rows = []
    for hidden, batch in SPEED_SIZES:
        ours = runs[f"{hidden}x{batch}"]
        per_round = [o * update_flops(hidden, batch) / f for o, f in zip(ours, flops, strict=True)]
        ceiling = max(flops) / update_flops(hidden, batch)
        rows.append(
            f"| {hidden} x 3 | {batch} | {update_flops(hidden, batch) / 1e9:.1f} | {max(ours):,.2f} "
            f"| {ceiling:,.2f} | {max(ours) / ceiling:.0%} | {min(per_round):.0%} to {max(per_round):.0%} |"
        )
    table = "\n".join(rows)
    authors = max(
        o * update_flops(512, 1024) / f for o, f in zip(runs["512x1024"], flops, strict=True)
    )
    return f"""### Update speed against the matrix-product ceiling

Device: {name}. {args.repeats} rounds of {args.seconds:g} s each: the product rate (1024 x 1024 by 1024 x 1024), then
each size's updates, in one process. Ceiling: that rate divided by one update's matrix-product FLOPs.
Best: best of the rounds over the best rate; per round: each round's updates against that round's rate.
Command: `.venv/bin/python benchmarks/bench_hilp.py --parts speed --seconds {args.seconds:g} --repeats {args.repeats} --device {args.device}`
Machine: {machine_line()}

| MLP | batch | GFLOP per update | HILP updates/s (best) | ceiling updates/s | best / ceiling | per round |
|---|---:|---:|---:|---:|---:|---:|
{table}

Product rate over the rounds: {min(flops) / 1e9:,.1f} to {max(flops) / 1e9:,.1f} GFLOP/s.
Target (issue 14): at least 80% of the ceiling at the authors' size: **{"met" if authors >= 0.8 else "NOT met"}** (best round {authors:.0%})."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="curves,converge,speed", help="comma-separated")
    parser.add_argument("--steps", type=int, default=3_000, help="updates per curves run")
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument(
        "--episodes", type=int, default=100, help="dataset episodes (x 1,000 steps)"
    )
    parser.add_argument("--hidden", type=int, default=128, help="MLP width of the curves runs")
    parser.add_argument(
        "--converge-steps", type=int, default=12_000, help="updates of the default run"
    )
    parser.add_argument("--converge-every", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="time per speed measurement")
    parser.add_argument("--repeats", type=int, default=3, help="speed rounds")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args = parser.parse_args()
    device = resolve_device(args.device)
    name = "cuda" if device.type == "cuda" else f"cpu, {torch.get_num_threads()} torch threads"
    parts = set(args.parts.split(","))
    if unknown := parts - {"curves", "converge", "speed"}:
        parser.error(f"unknown parts {sorted(unknown)}; choose from curves, converge, speed")
    bodies = {}
    if "speed" in parts:
        bodies["speed"] = speed_body(args, speeds(device, args.seconds, args.repeats), name)
    if "curves" in parts:
        bodies["curves"] = curves_body(args, learning_curves(args), name)
    if "converge" in parts:
        bodies["converge"] = converge_body(args, *convergence(args), name)
    for part, body in bodies.items():
        print(body)
        if not args.no_write:
            # Each part has its own block inside the hilp section, so that one part can be
            # re-measured alone.
            write_section(f"hilp_{device.type}_{part}", body)


if __name__ == "__main__":
    main()
