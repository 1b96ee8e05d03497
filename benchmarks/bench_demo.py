"""The dashboard's demo run over its first minutes: return and success against wall-clock
seconds and steps, for the demo's settings before issue 15 and for today's.

Each setting runs exactly as ``make serve`` starts the demo (``Run.create("sb3", ...)``
with the knobs of ``widgets/default_runs.py``, in a subprocess, on a fresh run store), one
after the other, for ``--seconds`` of wall time from the call to ``start``; so the figures
include the process start and model build a user waits for. The machine's load average is
sampled while each runs, since other work on a shared machine slows a run down.

    .venv/bin/python benchmarks/bench_demo.py [--seconds 300] [--only old|new] [--curves PATH]

Writes the section "Demo run: return over its first 5 minutes" of benchmarks/RESULTS.md;
``--curves`` also writes every logged point (wall seconds, step, value) as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

from _results import machine_line, write_section  # noqa: E402

from widgets.default_runs import DEMO_KNOBS, DEMO_NAME  # noqa: E402
from workbench.runs import Run, RunStore  # noqa: E402

# The demo's knobs before issue 15 (commit 015bc03): PPO with minus the straight-line
# distance to the goal, which settles behind the U-maze's inner wall.
OLD_KNOBS: dict[str, Any] = {
    "algorithm": "PPO",
    "env_id": "workbench/PointMaze-UMaze-v0",
    "reward_mode": "dense",
    "total_timesteps": 2_000_000,
    "eval_every": 4_000,
}
SETTINGS = {"old": OLD_KNOBS, "new": DEMO_KNOBS}
# Wall-clock seconds at which the table reads the curves.
TABLE_SECONDS = (30, 60, 90, 120, 180, 240, 300)
# Episodes finished within this many seconds before a table time make its mean return.
RETURN_WINDOW_S = 30.0
METRICS = (
    "charts/episodic_return",
    "rollout/success_rate",
    "eval/return",
    "eval/success",
)


def run_demo(knobs: dict[str, Any], seconds: float, home: Path) -> dict[str, Any]:
    """Start the demo with ``knobs`` as the server does, let it train for ``seconds`` of
    wall time, stop it, and return its scalars with their wall-clock offsets."""
    store = RunStore(home)
    run = Run.create("sb3", store=store, name=DEMO_NAME, **knobs)
    started = time.time()
    run.start("subprocess")
    loads = []
    while time.time() - started < seconds:
        if run.state not in ("created", "running", "paused"):
            raise RuntimeError(f"demo run ended {run.state}: {run.record.message}")
        loads.append(os.getloadavg()[0])
        time.sleep(min(10.0, max(0.0, seconds - (time.time() - started))))
    run.stop(wait=60)
    rows = (
        store._connect()
        .execute(
            f"SELECT step, name, value, time FROM scalars WHERE run_id = ? "
            f"AND name IN ({', '.join('?' * len(METRICS))}) ORDER BY rowid",
            (run.id, *METRICS),
        )
        .fetchall()
    )
    curves: dict[str, list[tuple[float, int, float]]] = {name: [] for name in METRICS}
    for step, name, value, when in rows:
        curves[name].append((round(when - started, 2), int(step), float(value)))
    return {"knobs": knobs, "curves": curves, "load": loads}


def read_at(result: dict[str, Any], t: float) -> dict[str, float | None]:
    """The figures of one run at ``t`` seconds after its start."""
    curves = result["curves"]

    def latest(name: str) -> tuple[int, float] | None:
        before = [(step, value) for when, step, value in curves[name] if when <= t]
        return before[-1] if before else None

    episodes = [
        (step, value)
        for when, step, value in curves["charts/episodic_return"]
        if t - RETURN_WINDOW_S < when <= t
    ]
    steps = [step for name in METRICS for when, step, _ in curves[name] if when <= t]
    success, eval_return, eval_success = (
        latest(n) for n in ("rollout/success_rate", "eval/return", "eval/success")
    )
    return {
        "step": max(steps) if steps else None,
        "return": float(np.mean([v for _, v in episodes])) if episodes else None,
        "success": None if success is None else success[1],
        "eval_return": None if eval_return is None else eval_return[1],
        "eval_success": None if eval_success is None else eval_success[1],
    }


def first_success(result: dict[str, Any]) -> str:
    """When a deterministic evaluation rollout first reached the goal: seconds and step."""
    for when, step, value in result["curves"]["eval/success"]:
        if value > 0:
            return f"{when:.1f} s (step {step:,})"
    return "never"


def table(results: dict[str, dict[str, Any]], seconds: float) -> str:
    def fmt(value: float | None, pattern: str) -> str:
        return "-" if value is None else pattern.format(value)

    lines = [
        "| setting | seconds | steps | mean return (episodes of the last 30 s) | "
        "success (last 100 episodes end at the goal) | eval return | eval reaches goal |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, result in results.items():
        for t in (t for t in TABLE_SECONDS if t <= seconds):
            row = read_at(result, t)
            lines.append(
                f"| {label} | {t} | {fmt(row['step'], '{:,}')} | {fmt(row['return'], '{:.1f}')} "
                f"| {fmt(row['success'], '{:.2f}')} | {fmt(row['eval_return'], '{:.1f}')} "
                f"| {fmt(row['eval_success'], '{:.0f}')} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="wall time per setting")
    parser.add_argument("--only", choices=list(SETTINGS), help="run one setting only")
    parser.add_argument("--curves", type=Path, help="also write the curves as JSON here")
    args = parser.parse_args()
    labels = [args.only] if args.only else list(SETTINGS)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label in labels:
            print(f"running {label}: {SETTINGS[label]} for {args.seconds:.0f} s", flush=True)
            results[label] = run_demo(SETTINGS[label], args.seconds, Path(tmp) / label)
    if args.curves is not None:
        args.curves.write_text(json.dumps(results))

    knob_lines = "\n".join(
        f"- **{label}**: `{json.dumps(SETTINGS[label])}`; load average while it ran "
        f"{min(results[label]['load']):.1f}-{max(results[label]['load']):.1f}; first "
        f"evaluation rollout to reach the goal: {first_success(results[label])}"
        for label in labels
    )
    body = f"""## Demo run: return over its first 5 minutes (issue 15)

`.venv/bin/python benchmarks/bench_demo.py --seconds {args.seconds:.0f}` on {machine_line()};
written {time.strftime("%Y-%m-%d %H:%M")}. Each setting runs as `make serve` starts the demo
(SB3 trainer in a subprocess with one torch thread), one after the other; seconds count
from `start()`, so they include the process start and model build. Other knobs are
`SB3Config`'s defaults (n_envs 4, two hidden layers of 64, learning rate 3e-4, PPO n_steps
512, batch 64). The machine is shared: a load average above 2 means other work took CPU
time from the run, which then reaches fewer steps in the same seconds.

{knob_lines}

Returns of the two settings are not on one scale (old: minus the straight-line distance,
about -300 when stuck behind the inner wall; new: minus the distance through the maze,
-883 for a policy that stays at the start, about -50 for one that walks straight to the
goal and stays there); success is comparable (the episode ends within 0.5 of the goal).

{table(results, args.seconds)}
"""
    write_section("demo-run", body)
    print(body)


if __name__ == "__main__":
    main()
