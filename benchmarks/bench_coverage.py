"""Coverage against environment steps: METRA, LSD and DIAYN on the plane and in two mazes.

Each (environment, objective, seed) is one headless run of the ``metra`` trainer with the
same knobs; every ``--eval-every`` epochs it rolls out 48 deterministic skills and counts
the distinct 1 x 1 cells of (x, y) they visit (the authors' coverage metric). The skills
are random draws of the training distribution, as the authors' evaluation draws them,
fixed for each run (the trainer's default ``eval_skills="random"``). Writes a
table (mean and spread over seeds at a few step counts) to RESULTS.md and the curves to
``benchmarks/coverage.png`` (drawn by HoloViews/Bokeh, photographed by Debian's chromium
through Playwright, as the browser tests do). Every finished run's curve is kept in
``benchmarks/coverage_curves.json``; ``--resume`` skips the runs found there. All runs take
the same number of environment steps; a maze epoch is longer (its episodes are), so it
is evaluated at different step counts than the plane.

Knobs shared by every run (the authors' schedule, smaller networks and faster learning
rates so that a CPU shows the trend in minutes): 8 trajectories x 200 steps and 50
updates per epoch, MLP ``--hidden`` x 2, learning rate and dual step 1e-3.

    .venv/bin/python benchmarks/bench_coverage.py [--epochs 60] [--seeds 2] [--hidden 256]
        [--objectives metra lsd diayn] [--resume] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine_line, write_section

import environments  # noqa: F401  (registers the ids, for their episode lengths)
from workbench.runs import Run, RunStore

ENVIRONMENTS = {
    "plane": "workbench/Plane-v0",
    "four rooms": "workbench/PointMaze-FourRooms-v0",
    "large maze": "workbench/PointMaze-Large-v0",
}
OBJECTIVES = ("metra", "lsd", "diayn")
EPOCH_STEPS = 8 * 200
PLOT = Path(__file__).with_name("coverage.png")
CURVES = Path(__file__).with_name("coverage_curves.json")
TABLE_STEPS = (0.25, 0.5, 1.0)  # table columns: the last evaluation by these shares of the steps


def coverage_curve(store: RunStore, env_id: str, objective: str, seed: int, args) -> np.ndarray:
    """(steps, cells) of one run's evaluations."""
    run = Run.create(
        "metra",
        store=store,
        name=f"{objective} {env_id} seed {seed}",
        objective=objective,
        env_id=env_id,
        seed=seed,
        hidden=args.hidden,
        learning_rate=1e-3,
        dual_lr=1e-3,
        min_buffer=EPOCH_STEPS,
        total_steps=args.epochs * EPOCH_STEPS,
        eval_every=args.eval_every,
        checkpoint_every=0,
        device=args.device,
    )
    run.start()
    state = run.wait()
    if state != "finished":
        raise RuntimeError(f"run {run.id} ended {state}: {run.record.message}")
    steps, cells = run.scalars("eval/coverage")
    return np.stack([steps, cells]).astype(float)


def plot(curves: dict[tuple[str, str], list[np.ndarray]], objectives: list[str]) -> None:
    """Mean coverage against steps, one panel per environment, saved as a PNG."""
    import holoviews as hv
    from bokeh.resources import INLINE
    from playwright.sync_api import sync_playwright

    hv.extension("bokeh", logo=False)
    panels = []
    for env_name in ENVIRONMENTS:
        lines = {}
        for objective in objectives:
            runs = curves[env_name, objective]
            steps = runs[0][0]
            mean = np.mean([r[1] for r in runs], axis=0)
            lines[objective.upper()] = hv.Curve((steps, mean), "environment steps", "cells covered")
        panels.append(
            hv.NdOverlay(lines, kdims="objective").opts(
                title=f"coverage, {env_name} (mean of {len(runs)} seeds)",
                width=420,
                height=300,
                legend_position="top_left",
            )
        )
    with tempfile.TemporaryDirectory() as folder:
        html = Path(folder) / "coverage.html"
        layout = hv.Layout(panels).cols(2).opts(shared_axes=False)  # a maze has far fewer cells
        hv.save(layout, html, resources=INLINE)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--headless", "--no-sandbox", "--disable-gpu"],
            )
            page = browser.new_page(viewport={"width": 900, "height": 340})
            page.goto(html.as_uri())
            page.locator(".bk-Canvas").first.wait_for()
            page.wait_for_timeout(500)
            page.screenshot(path=str(PLOT), full_page=True)
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60, help="epochs of 1,600 steps per run")
    parser.add_argument("--eval-every", type=int, default=4, help="epochs between evaluations")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--objectives", nargs="+", choices=OBJECTIVES, default=list(OBJECTIVES),
        help="objectives to run (default: all three)",
    )  # fmt: skip
    parser.add_argument("--resume", action="store_true", help=f"skip runs kept in {CURVES.name}")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args = parser.parse_args()

    store = RunStore(tempfile.mkdtemp(prefix="bench-coverage-"))
    kept = json.loads(CURVES.read_text()) if args.resume and CURVES.exists() else {}
    curves: dict[tuple[str, str], list[np.ndarray]] = {}
    start = time.perf_counter()
    for env_name, env_id in ENVIRONMENTS.items():
        for objective in args.objectives:
            key = f"{env_name}|{objective}"
            for seed in range(args.seeds):
                if seed < len(kept.get(key, [])):
                    curve = np.array(kept[key][seed], dtype=float)
                else:
                    curve = coverage_curve(store, env_id, objective, seed, args)
                    kept.setdefault(key, []).append(curve.tolist())
                    CURVES.write_text(json.dumps(kept))
                curves.setdefault((env_name, objective), []).append(curve)
                print(
                    f"{env_name:10s} {objective:5s} seed {seed}: {curve[1].astype(int).tolist()}"
                    f"  ({time.perf_counter() - start:.0f} s)",
                    flush=True,
                )

    total = args.epochs * EPOCH_STEPS
    header = " | ".join(f"cells by {share * total:,.0f} steps" for share in TABLE_STEPS)
    rows = []
    for (env_name, objective), runs in curves.items():
        steps, cells = runs[0][0], np.array([r[1] for r in runs])
        columns = [
            int(np.searchsorted(steps, share * total, side="right")) - 1 for share in TABLE_STEPS
        ]
        # A column before a run's first evaluation (a maze's first comes after 16,000 steps)
        # has no figure: index -1 would wrap to the last evaluation.
        figures = " | ".join(
            f"{cells[:, c].mean():.1f} ({cells[:, c].min():.0f}-{cells[:, c].max():.0f})"
            if c >= 0
            else "-"
            for c in columns
        )
        rows.append(f"| {env_name} | {objective.upper()} | {figures} |")
    command = (
        f".venv/bin/python benchmarks/bench_coverage.py --epochs {args.epochs} "
        f"--eval-every {args.eval_every} --seeds {args.seeds} --hidden {args.hidden} "
        f"--device {args.device}"
        + (
            ""
            if len(args.objectives) == len(OBJECTIVES)
            else f" --objectives {' '.join(args.objectives)}"
        )
    )
    episodes = ", ".join(
        f"{gym.spec(env_id).max_episode_steps} steps ({name})"
        for name, env_id in ENVIRONMENTS.items()
    )
    names = ", ".join(objective.upper() for objective in args.objectives)
    body = f"""## Coverage against environment steps: {names} (issue 4)

Distinct 1 x 1 cells of (x, y) visited by 48 deterministic evaluation skills, random draws
fixed per run; mean over {args.seeds} seeds (min-max in brackets). 2-D continuous skills
(DIAYN's standard normal, the others' unit length); 8 trajectories and 50 updates per epoch; MLP {args.hidden} x 2; learning
rate and dual step 1e-3. Every run takes {total:,} environment steps; an episode lasts
{episodes}, and evaluations come every {args.eval_every} epochs, so a column shows the
last evaluation by its step count.
Command: `{command}`
Machine: {machine_line()}

| environment | objective | {header} |
|---|---|{"---:|" * len(columns)}
{chr(10).join(rows)}

![coverage against environment steps](coverage.png)"""
    print(body)
    if not args.no_write:
        plot(curves, args.objectives)
        write_section("coverage", body)


if __name__ == "__main__":
    main()
