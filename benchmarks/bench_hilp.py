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
  the ceiling: a large matrix product's measured FLOP/s divided by one update's
  matrix-product FLOPs (:func:`update_flops`), as ``bench_sac.py`` does for SAC. Ours and
  the products are timed back to back, pair by pair (the shared machine's speed drifts).

    .venv/bin/python benchmarks/bench_hilp.py [--parts curves,converge,speed] [--steps 3000] [--episodes 100] [--hidden 128] [--converge-steps 12000] [--seconds 60] [--device auto] [--no-write]
"""

from __future__ import annotations

import argparse
import itertools
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
from workbench.datasets import build_dataset
from workbench.runs import Run, RunStore
from workbench.trainers.hilp import HILPConfig, dataset_name

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


def convergence(args) -> dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The dashboard's default HILP run (the config's defaults; ``--converge-hidden`` and
    ``--converge-layers`` may shrink its networks) for ``--converge-steps`` updates, once
    per target rate in ``--converge-taus``, the runs side by side. Returns, per target
    rate: evaluation steps, rho and goal success."""
    store = RunStore(tempfile.mkdtemp(prefix="bench-hilp-converge-"))
    config = HILPConfig()  # the runs share the default dataset: build it once, first
    build_dataset(
        dataset_name(config), config.env_id, config.behaviour, config.episodes,
        seed=config.seed, home=store.home,
    )  # fmt: skip
    sizes = {}
    if args.converge_hidden:
        sizes = {"hidden": args.converge_hidden, "layers": args.converge_layers}
    runs = {
        tau: Run.create(
            "hilp", store=store, name=f"default four rooms, tau {tau:g}", tau=tau,
            total_steps=args.converge_steps, eval_every=args.converge_every,
            checkpoint_every=0, device=args.device, **sizes,
        ).start()
        for tau in args.converge_taus
    }  # fmt: skip
    curves = {}
    for tau, run in runs.items():
        if (state := run.wait()) != "finished":
            raise RuntimeError(f"the default run at tau {tau} ended {state}: {run.record.message}")
        steps, rho = run.scalars("eval/spearman")
        _, success = run.scalars("eval/goal_success")
        curves[tau] = (steps, rho, success)
        for step, r, g in zip(steps, rho, success, strict=True):
            print(f"tau {tau:g}: {step:,.0f} updates, rho {r:.3f}, goals {g:.0%}", flush=True)
    return curves


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


PRODUCT = 1024  # the ceiling's product: PRODUCT x PRODUCT by PRODUCT x PRODUCT (bench_sac's)
SPEED_SIZES = ((256, 256), (512, 1024))  # (MLP width, batch): the dashboard's, the authors'


def paired_speeds(step, flops: float, device: torch.device, seconds: float) -> np.ndarray:
    """Pairs (update time, product time) measured back to back, for ``seconds``: one update,
    then as many large products as hold about its matrix-product FLOPs. Each pair is one
    sample of ours / ceiling, taken within a second or so, so that the shared machine's
    drift (its product rate varied 3x within a minute) cancels. Returns rows of (updates
    per second, products' FLOP per second)."""
    a = torch.randn(PRODUCT, PRODUCT, device=device)
    b = torch.randn(PRODUCT, PRODUCT, device=device)
    per_call = 2.0 * PRODUCT**3
    calls = max(1, round(flops / per_call))

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(2):  # warm-up: allocations, thread pools
        step()
        a @ b
    rows, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(rows) < 5:
        sync()
        t0 = time.perf_counter()
        step()
        sync()
        t1 = time.perf_counter()
        for _ in range(calls):
            a @ b
        sync()
        t2 = time.perf_counter()
        rows.append((1.0 / (t1 - t0), calls * per_call / (t2 - t1)))
    return np.array(rows)


UPDATES = ("eager", "compiled")  # HILP(compile=False), HILP(compile=True)


def speeds(device: torch.device, seconds: float) -> dict[tuple[int, int, str], np.ndarray]:
    """Paired samples of ours and the ceiling for each size in :data:`SPEED_SIZES`, for the
    eager and the compiled update (its compile time is taken before the pairs: the warm-up)."""
    data = load_dataset_or_random()
    results = {}
    for (hidden, batch), update in itertools.product(SPEED_SIZES, UPDATES):
        agent = HILP(
            2, 2, 0.2, latent_dim=32, hidden=hidden, layers=3, device=device,
            compile=update == "compiled",
        )  # fmt: skip
        batches, goals = OfflineBatches(data, agent.device), GoalSampling()
        rows = paired_speeds(
            lambda a=agent, b=batches, n=batch, g=goals: a.update(b.sample(n, g)),
            update_flops(hidden, batch), device, seconds,
        )  # fmt: skip
        results[hidden, batch, update] = rows
        share = rows[:, 0] * update_flops(hidden, batch) / rows[:, 1]
        print(
            f"MLP {hidden} x 3, batch {batch}, {update}: {len(rows)} pairs, median "
            f"{np.median(rows[:, 0]):.2f} updates/s, products {np.median(rows[:, 1]) / 1e9:.1f} "
            f"GFLOP/s, ours / ceiling median {np.median(share):.0%}",
            flush=True,
        )
    return results


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


def converge_body(args, curves, name: str) -> str:
    config = HILPConfig()
    hidden = args.converge_hidden or config.hidden
    layers = args.converge_layers if args.converge_hidden else config.layers
    taus = list(curves)
    steps = curves[taus[0]][0]
    header = " | ".join(f"rho, tau {t:g} | goals, tau {t:g}" for t in taus)
    table = "\n".join(
        f"| {s:,.0f} | "
        + " | ".join(f"{curves[t][1][i]:.3f} | {curves[t][2][i]:.0%}" for t in taus)
        + " |"
        for i, s in enumerate(steps)
    )
    firsts = ", ".join(
        f"tau {t:g}: "
        + next((f"{s:,.0f}" for s, r in zip(*curves[t][:2], strict=True) if r >= 0.9), "never")
        for t in taus
    )
    sizes = (
        f" --converge-hidden {hidden} --converge-layers {layers}" if args.converge_hidden else ""
    )
    smaller = (
        "" if (hidden, layers) == (config.hidden, config.layers) else f", MLP {hidden} x {layers}"
    )
    return f"""### The dashboard's default run on four rooms, to convergence{smaller}

`HILPConfig` defaults: {config.env_id}, the {config.behaviour} dataset of {config.episodes} episodes,
latent {config.latent_dim}, batch {config.batch_size}, learning rate {config.learning_rate:g}, gamma {config.gamma}, expectile {config.expectile};
MLP {hidden} x {layers} here{"" if hidden == config.hidden and layers == config.layers else f" (the default is {config.hidden} x {config.layers})"}; target rate tau as in each column (the default: the authors' {config.tau:g}).
First evaluation at rho >= 0.9: {firsts} updates. Device: {name}.
Command: `.venv/bin/python benchmarks/bench_hilp.py --parts converge --converge-steps {args.converge_steps} --converge-every {args.converge_every}{sizes} --converge-taus {" ".join(f"{t:g}" for t in taus)} --device {args.device}`
Machine: {machine_line()}

| updates | {header} |
|---:|{"---:|" * (2 * len(taus))}
{table}"""


def speed_body(args, results: dict[tuple[int, int, str], np.ndarray], name: str) -> str:
    rows, shares = [], {}
    for (hidden, batch, update), pairs in results.items():
        flops = update_flops(hidden, batch)
        share = pairs[:, 0] * flops / pairs[:, 1]
        shares[hidden, batch, update] = np.median(share)
        q1, q3 = np.percentile(share, [25, 75])
        rows.append(
            f"| {hidden} x 3 | {batch} | {update} | {flops / 1e9:.1f} | {len(pairs)} "
            f"| {np.median(pairs[:, 0]):,.2f} | {np.median(pairs[:, 1]) / 1e9:,.1f} "
            f"| {np.median(pairs[:, 1]) / flops:,.2f} | **{shares[hidden, batch, update]:.0%}** "
            f"| {q1:.0%} to {q3:.0%} |"
        )
    table = "\n".join(rows)
    products = np.concatenate([p[:, 1] for p in results.values()]) / 1e9
    authors, eager = shares[512, 1024, "compiled"], shares[512, 1024, "eager"]
    return f"""### Update speed against the matrix-product ceiling

Device: {name}. For {args.seconds:g} s per size: one update, then at once as many {PRODUCT} x {PRODUCT} by {PRODUCT} x {PRODUCT}
products as hold its matrix-product FLOPs (counted from the layer shapes: `update_flops`), and again.
Each pair is one sample of ours / ceiling (the update's FLOPs at the products' rate, over its time);
the table gives medians and the middle half of the pairs.
Command: `.venv/bin/python benchmarks/bench_hilp.py --parts speed --seconds {args.seconds:g}{f" --threads {args.threads}" if args.threads else ""} --device {args.device}`
Machine: {machine_line()}

| MLP | batch | update | GFLOP per update | pairs | HILP updates/s | products GFLOP/s | ceiling updates/s | ours / ceiling | middle half |
|---|---:|---|---:|---:|---:|---:|---:|---:|---:|
{table}

eager: `HILP(compile=False)`, the default; compiled: `HILP(compile=True)` (the `compile` knob of
a HILP run), whose losses go through `torch.compile` (compiled before the pairs, in the warm-up).
The products' rate ranged over {products.min():,.1f} to {products.max():,.1f} GFLOP/s within the run.
Target (issue 14): at least 80% of the ceiling at the authors' size (512 x 3, batch 1024): **{"met" if authors >= 0.8 else "NOT met"}** ({authors:.0%} compiled; {eager:.0%} eager)."""


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
    parser.add_argument(
        "--converge-taus", type=float, nargs="+", default=[0.005, 0.02], help="target rates"
    )
    parser.add_argument("--converge-hidden", type=int, default=0, help="0: the default width")
    parser.add_argument("--converge-layers", type=int, default=3, help="with --converge-hidden")
    parser.add_argument("--seconds", type=float, default=60.0, help="speed: time per size")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's own)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    name = "cuda" if device.type == "cuda" else f"cpu, {torch.get_num_threads()} torch threads"
    parts = set(args.parts.split(","))
    if unknown := parts - {"curves", "converge", "speed"}:
        parser.error(f"unknown parts {sorted(unknown)}; choose from curves, converge, speed")
    bodies = {}
    if "speed" in parts:
        bodies["speed"] = speed_body(args, speeds(device, args.seconds), name)
    if "curves" in parts:
        bodies["curves"] = curves_body(args, learning_curves(args), name)
    if "converge" in parts:
        bodies["converge"] = converge_body(args, convergence(args), name)
    for part, body in bodies.items():
        print(body)
        if not args.no_write:
            # Each part has its own block inside the hilp section, so that one part can be
            # re-measured alone.
            block = f"hilp_{device.type}_{part}"
            if part == "converge" and args.converge_hidden:  # a smaller network: its own block
                block += f"_{args.converge_hidden}x{args.converge_layers}"
            write_section(block, body)


if __name__ == "__main__":
    main()
