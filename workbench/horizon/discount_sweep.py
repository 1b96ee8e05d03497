"""Return against discount for a stable-baselines3 learner on a continuous environment.

Each discount is its own live :class:`~workbench.runs.Run` of the ``sb3`` trainer in the
run store, so the dashboard's Runs page shows every point of the sweep while it trains
(and any of them can be paused, changed or forked there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.runs import Run, RunStore
from workbench.runs.run import FINAL_STATES


def start_discount_sweep(
    discounts: Sequence[float],
    store: RunStore | None = None,
    executor: str = "thread",
    **knobs: Any,
) -> list[Run]:
    """One ``sb3`` run per discount (the other knobs shared), all started now. Knobs are
    checked for every run before any starts."""
    if not discounts:
        raise ValueError("a discount sweep needs at least one discount")
    for gamma in discounts:
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"discount {gamma} is outside [0, 1]")
    store = store or RunStore()
    runs = [
        Run.create("sb3", store=store, name=f"discount sweep gamma={gamma:g}", **knobs, gamma=gamma)
        for gamma in discounts
    ]
    return [run.start(executor) for run in runs]


def sweep_returns(runs: Sequence[Run], last: int = 3) -> list[dict[str, Any]]:
    """Per run: its discount, step, length (``total_timesteps``) and state, and the mean
    of its last ``last`` evaluation returns (``nan`` before the first evaluation)."""
    rows = []
    for run in runs:
        record = run.record  # one read of the store for gamma, step and state
        _, returns = run.scalars("eval/return")
        rows.append({
            "gamma": float(record.config["gamma"]), "step": record.step, "state": record.state,
            "length": int(record.config.get("total_timesteps", 0)),
            "return": float(np.mean(returns[-last:])) if len(returns) else math.nan,
            "evaluations": len(returns),
        })  # fmt: skip
    return rows


@dataclass
class SweepProgress:
    """How far a discount sweep is.

    Attributes:
        runs: runs in the sweep; ended: those finished, failed or stopped; failed: those
            failed.
        done: the mean of the runs' fractions of their steps taken (an ended run
            counts as complete).
        slowest: the least advanced running run's fraction of its steps, and its gamma
            (None once every run has ended).
        seconds_left: until the last running run ends, at each one's speed (the runs
            train side by side); None while some running run's speed is unknown.
    """

    runs: int
    ended: int
    failed: int
    done: float
    slowest: tuple[float, float] | None
    seconds_left: float | None


def sweep_progress(rows: Sequence[dict[str, Any]], speeds: Sequence[float | None]) -> SweepProgress:
    """The progress of a sweep from :func:`sweep_returns`' ``rows`` and each run's
    speed in steps per second (None: not measured yet), in the same order."""
    going = [
        (row, speed)
        for row, speed in zip(rows, speeds, strict=True)
        if row["state"] not in FINAL_STATES
    ]

    def fraction(row: dict[str, Any]) -> float:
        if row["state"] in FINAL_STATES or row["length"] <= 0:
            return 1.0
        return min(row["step"] / row["length"], 1.0)

    slowest = min(going, key=lambda pair: fraction(pair[0]), default=None)
    seconds_left: float | None = 0.0
    for row, speed in going:
        if not speed or speed <= 0:
            seconds_left = None  # a run not started yet, or stalled: no honest estimate
            break
        seconds_left = max(seconds_left, max(row["length"] - row["step"], 0) / speed)
    return SweepProgress(
        runs=len(rows),
        ended=len(rows) - len(going),
        failed=sum(row["state"] == "failed" for row in rows),
        done=float(np.mean([fraction(row) for row in rows])) if rows else 1.0,
        slowest=None if slowest is None else (fraction(slowest[0]), slowest[0]["gamma"]),
        seconds_left=seconds_left if going else 0.0,
    )
