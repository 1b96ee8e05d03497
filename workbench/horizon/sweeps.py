"""Horizon and discount sweeps: the exact figures of one tabular MDP as its horizon T or
its discount gamma varies.

The same transitions and rewards, analysed at several horizons (or discounts): the
optimal and random policies' returns from the start, min_k, the effective planning
window and the bound on the effective horizon. A long horizon makes the random policy's
values more informative or less (a trap far away, a goal behind a long corridor); a
smaller discount shortens how far rewards reach back. The sweeps show which.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from workbench.horizon.analysis import (
    effective_horizon_bound,
    effective_planning_window,
    min_k,
    value_functions,
)
from workbench.horizon.mdp import HorizonMDP
from workbench.horizon.memory import check_mdp_memory
from workbench.horizon.progress import Progress

SWEEP_FIELDS = ("optimal", "random", "min_k", "epw", "effective_horizon")

SWEEP_POINT_PARTS = ("values", "min_k", "epw", "bound")
"""What each point of a sweep computes (:data:`~workbench.horizon.memory.MEMORY_PARTS`)."""


def default_horizons(horizon: int, count: int = 8) -> list[int]:
    """About ``count`` horizons from 1 to ``horizon``, spaced geometrically (distinct,
    increasing, ``horizon`` itself last)."""
    if horizon < 1:
        raise ValueError(f"horizon T must be at least 1, got {horizon}")
    points = np.unique(np.round(np.geomspace(1, horizon, count)).astype(int))
    return [int(t) for t in points]


def with_horizon(mdp: HorizonMDP, horizon: int) -> HorizonMDP:
    """The same MDP with horizon T = ``horizon`` (validated like any HorizonMDP)."""
    return dataclasses.replace(mdp, horizon=horizon)


def _figures(mdp: HorizonMDP) -> dict[str, float]:
    values = value_functions(mdp)
    returns = values.start_values(mdp)
    return {
        "optimal": returns["optimal"],
        "random": returns["random"],
        "min_k": min_k(mdp, values).k,
        "epw": effective_planning_window(mdp, values).k,
        # NaN where the bound is undefined (stochastic MDPs): no number is shown.
        "effective_horizon": (
            effective_horizon_bound(mdp, values).effective_horizon if mdp.deterministic else np.nan
        ),
    }


def _sweep(
    mdps: list[HorizonMDP], axis: str, points: Sequence[float], progress: Progress | None
) -> dict[str, np.ndarray]:
    # Each point is a whole analysis; the one at the longest horizon needs the most.
    check_mdp_memory(max(mdps, key=lambda mdp: mdp.horizon), SWEEP_POINT_PARTS)
    rows = []
    for mdp in mdps:
        if progress is not None:
            progress(len(rows), len(mdps))
        rows.append(_figures(mdp))
    if progress is not None:
        progress(len(rows), len(mdps))
    result = {axis: np.asarray(points)}
    result |= {
        name: np.array([row[name] for row in rows], dtype=np.float64) for name in SWEEP_FIELDS
    }
    return result


def horizon_sweep(
    mdp: HorizonMDP, horizons: Sequence[int] | None = None, progress: Progress | None = None
) -> dict[str, np.ndarray]:
    """The figures of ``mdp`` at each horizon T in ``horizons`` (default:
    :func:`default_horizons` of its own T); ``progress`` is called with (points done,
    points) before each point and after the last.

    Returns arrays keyed ``horizon`` and :data:`SWEEP_FIELDS`: the optimal and random
    returns from the start distribution, min_k, epw and the effective-horizon bound H
    (NaN for a stochastic MDP, where it is undefined).
    """
    horizons = default_horizons(mdp.horizon) if horizons is None else list(horizons)
    if not horizons:
        raise ValueError("a sweep needs at least one horizon T")
    for horizon in horizons:
        if int(horizon) != horizon or horizon < 1:
            raise ValueError(f"horizon T must be a positive integer, got {horizon!r}")
    swept = [with_horizon(mdp, int(horizon)) for horizon in horizons]
    return _sweep(swept, "horizon", np.array(horizons, dtype=np.int64), progress)


DEFAULT_DISCOUNTS = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 1.0)


def discount_sweep(
    mdp: HorizonMDP,
    discounts: Sequence[float] = DEFAULT_DISCOUNTS,
    progress: Progress | None = None,
) -> dict[str, np.ndarray]:
    """The figures of ``mdp`` (its own horizon) at each discount gamma; arrays keyed
    ``discount`` and :data:`SWEEP_FIELDS`, returns discounted. ``progress`` as in
    :func:`horizon_sweep`."""
    if not discounts:
        raise ValueError("a sweep needs at least one discount")
    for gamma in discounts:
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"discount must be in [0, 1], got {gamma!r}")
    swept = [dataclasses.replace(mdp, discount=float(gamma)) for gamma in discounts]
    return _sweep(swept, "discount", np.array(discounts, dtype=np.float64), progress)
