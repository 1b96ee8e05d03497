"""Return against discount for a stable-baselines3 learner on a continuous environment.

Each discount is its own live :class:`~workbench.runs.Run` of the ``sb3`` trainer in the
run store, so the dashboard's Runs page shows every point of the sweep while it trains
(and any of them can be paused, changed or forked there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from workbench.runs import Run, RunStore


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


def sweep_returns(runs: Sequence[Run], last: int = 3) -> list[dict[str, float]]:
    """Per run: its discount, step and state, and the mean of its last ``last``
    evaluation returns (``nan`` before the first evaluation)."""
    rows = []
    for run in runs:
        record = run.record  # one read of the store for gamma, step and state
        _, returns = run.scalars("eval/return")
        rows.append({
            "gamma": float(record.config["gamma"]), "step": record.step, "state": record.state,
            "return": float(np.mean(returns[-last:])) if len(returns) else math.nan,
            "evaluations": len(returns),
        })  # fmt: skip
    return rows
