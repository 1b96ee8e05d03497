"""Seed statistics over runs, as Agarwal et al. (2021) recommend for deep RL results.

Runs that differ only by their seed form a group (one configuration). Each run gives one
score, the mean of the last part of a metric's curve; a group's scores make a
``(runs, 1)`` array, rliable's ``(runs, tasks)`` layout with a single task. The statistics
are rliable's: interquartile mean (IQM) with a stratified-bootstrap 95% confidence interval,
mean, median, performance profiles and the probability of improvement.

Reproducibility: rliable's bootstrap draws its indices from numpy's *global* legacy RNG
(``np.random.choice`` in ``StratifiedBootstrap.update_indices``); its ``random_state``
argument only reaches arch's own generator, which the percentile method never uses (and
which arch deprecates). So each computation here seeds the global RNG, and puts its
former state back afterwards, so that other code's random streams are left as they were.
Each group is bootstrapped on its own from the same seed: a group's interval does not
change when another group is added or removed.

Groups of one run: a bootstrap of one value always returns that value, a zero-width
interval that would read as certainty. Their intervals are NaN instead (the point
estimates are given); check ``n_runs``.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from rliable import library as rly
from rliable import metrics

if TYPE_CHECKING:
    from workbench.runs.store import RunRecord, RunStore

CONFIDENCE = 0.95
"""Coverage of every confidence interval in this module."""

# Seeding numpy's global RNG is process-wide: one computation at a time (a dashboard may
# compute from several threads).
_GLOBAL_RNG_LOCK = threading.Lock()


@contextmanager
def _seeded_global_rng(seed: int) -> Iterator[None]:
    """Seed numpy's global RNG for rliable, then restore the state it had before."""
    with _GLOBAL_RNG_LOCK:
        saved = np.random.get_state()
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(saved)


# ---------------------------------------------------------------------------------------
# Grouping runs by configuration


def config_key(record: RunRecord, ignore: Sequence[str] = ("seed",)) -> str:
    """A stable key of the run's trainer and all its knobs but ``ignore``: JSON with sorted
    keys, so that runs that differ only by seed have the same key."""
    knobs = {knob: value for knob, value in record.config.items() if knob not in ignore}
    # default=str: a config read back from the store is JSON already; this only keeps a
    # hand-made record with, say, a Path from failing.
    return json.dumps({"trainer": record.trainer, "config": knobs}, sort_keys=True, default=str)


def group_by_config(
    records: Sequence[RunRecord], ignore: Sequence[str] = ("seed",)
) -> dict[str, list[RunRecord]]:
    """Runs grouped by :func:`config_key`, groups in order of their first run."""
    groups: dict[str, list[RunRecord]] = {}
    for record in records:
        groups.setdefault(config_key(record, ignore), []).append(record)
    return groups


def _format_value(value: Any) -> str:
    """A knob value for a label: floats to four significant digits (a sampled learning rate
    of 0.02693883019285411 reads 0.02694)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def config_label(
    record: RunRecord, against: Sequence[RunRecord], ignore: Sequence[str] = ("seed",)
) -> str:
    """A short label for ``record``'s group: the knobs (and the trainer) whose values vary
    among ``against``, sorted, as ``"lr=0.0003, net_width=64"``; ``"all runs"`` when none
    vary. A knob that some runs lack counts as varying; it is left out of the label of a
    run that lacks it."""
    varying = []
    if len({other.trainer for other in against} | {record.trainer}) > 1:
        varying.append(f"trainer={record.trainer}")
    knobs = sorted({knob for other in [record, *against] for knob in other.config} - set(ignore))
    for knob in knobs:
        values = {
            (knob in other.config, json.dumps(other.config.get(knob), sort_keys=True, default=str))
            for other in [record, *against]
        }
        if len(values) > 1 and knob in record.config:
            varying.append(f"{knob}={_format_value(record.config[knob])}")
    return ", ".join(varying) or "all runs"


def group_labels(records: Sequence[RunRecord], ignore: Sequence[str] = ("seed",)) -> dict[str, str]:
    """Group key -> :func:`config_label` of the group among all ``records``."""
    return {
        key: config_label(group[0], records, ignore)
        for key, group in group_by_config(records, ignore).items()
    }


# ---------------------------------------------------------------------------------------
# Scores


def final_score(
    store: RunStore, run_id: str, metric: str, last_fraction: float = 0.1
) -> float | None:
    """The mean of the last ``last_fraction`` of the run's values of ``metric`` (rounded
    up, at least one value), in the order they were logged; ``None`` when the run has no
    such value yet. A live run gives whatever it has logged so far. Only the live branch
    counts: rows a rollback abandoned are left out (``RunStore.scalars``' default), and so
    are non-finite values, which would make the whole group's statistics NaN."""
    if not 0 < last_fraction <= 1:
        raise ValueError(f"last_fraction must be in (0, 1], not {last_fraction}")
    values = [value for _, _, _, value in store.scalars(run_id, metric) if math.isfinite(value)]
    if not values:
        return None
    # The tolerance keeps 0.1 * 30 (3.0000000000000004 in floats) at three values, not four.
    tail_length = max(1, math.ceil(last_fraction * len(values) - 1e-9))
    tail = values[-tail_length:]
    return float(np.mean(tail))


def score_table(
    store: RunStore,
    records: Sequence[RunRecord],
    metric: str,
    last_fraction: float = 0.1,
    ignore: Sequence[str] = ("seed",),
) -> dict[str, np.ndarray]:
    """Group key -> the :func:`final_score` of its runs that have one, as an array of shape
    ``(n_runs, 1)`` (rliable's ``(runs, tasks)`` layout). Groups without any score are left
    out."""
    table: dict[str, np.ndarray] = {}
    for key, group in group_by_config(records, ignore).items():
        scores = [final_score(store, record.id, metric, last_fraction) for record in group]
        scores = [score for score in scores if score is not None]
        if scores:
            table[key] = np.asarray(scores, dtype=float).reshape(-1, 1)
    return table


def _runs_by_tasks(scores: np.ndarray, key: str) -> np.ndarray:
    """``scores`` as a float ``(runs, tasks)`` array; a 1-D array is one task."""
    scores = np.asarray(scores, dtype=float)
    if scores.ndim == 1:
        scores = scores.reshape(-1, 1)
    if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ValueError(f"group {key!r}: scores must be (runs, tasks), not {scores.shape}")
    return scores


# ---------------------------------------------------------------------------------------
# Statistics


@dataclass(frozen=True)
class SeedStatistics:
    """One group's statistics over its runs. ``ci_low``/``ci_high`` bound the IQM (95%
    stratified bootstrap, percentile method); NaN when the group has a single run.
    ``mean`` and ``median`` are rliable's aggregates: the median is taken over tasks of the
    per-task mean scores, so with one task (the layout of :func:`score_table`) it equals
    ``mean``, not the median over runs."""

    label: str
    n_runs: int
    iqm: float
    ci_low: float
    ci_high: float
    mean: float
    median: float


def _iqm(scores: np.ndarray) -> np.ndarray:
    # rliable's interval estimates want a function that returns a 1-D array.
    return np.array([metrics.aggregate_iqm(scores)])


def seed_statistics(
    score_dict: Mapping[str, np.ndarray],
    reps: int = 2000,
    seed: int = 0,
    labels: Mapping[str, str] | None = None,
) -> dict[str, SeedStatistics]:
    """Per group (same keys, same order as ``score_dict``): IQM with its bootstrap CI, mean
    and median. ``labels`` maps keys to :attr:`SeedStatistics.label` (e.g. from
    :func:`group_labels`); the key itself otherwise."""
    labels = labels or {}
    statistics: dict[str, SeedStatistics] = {}
    for key, raw_scores in score_dict.items():
        scores = _runs_by_tasks(raw_scores, key)
        iqm = float(metrics.aggregate_iqm(scores))
        ci_low = ci_high = math.nan
        if scores.shape[0] > 1:
            with _seeded_global_rng(seed):
                points, intervals = rly.get_interval_estimates(
                    {key: scores}, _iqm, reps=reps, confidence_interval_size=CONFIDENCE
                )
            iqm = float(points[key][0])
            ci_low, ci_high = (float(bound) for bound in intervals[key][:, 0])
        statistics[key] = SeedStatistics(
            label=labels.get(key, key),
            n_runs=int(scores.shape[0]),
            iqm=iqm,
            ci_low=ci_low,
            ci_high=ci_high,
            mean=float(metrics.aggregate_mean(scores)),
            median=float(metrics.aggregate_median(scores)),
        )
    return statistics


def performance_profile(
    score_dict: Mapping[str, np.ndarray], taus: np.ndarray, reps: int = 2000, seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per group: the score distribution (fraction of runs scoring above each tau, rliable's
    ``create_performance_profile``) and its 95% bootstrap band, as ``(profile, low, high)``
    arrays of ``len(taus)``. The band is NaN for a group of one run."""
    taus = np.asarray(taus, dtype=float)
    profiles: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for key, raw_scores in score_dict.items():
        scores = _runs_by_tasks(raw_scores, key)
        if scores.shape[0] < 2:
            # No band from one run, and no bootstrap for it either: a PBT population is a
            # group per member, and its resampling took seconds on the server's loop.
            profile = np.array([np.mean(scores > tau) for tau in taus], dtype=float)
            nan = np.full_like(profile, np.nan)
            profiles[key] = (profile, nan, nan.copy())
            continue
        with _seeded_global_rng(seed):
            points, bands = rly.create_performance_profile(
                {key: scores}, taus, reps=reps, confidence_interval_size=CONFIDENCE
            )
        low, high = np.asarray(bands[key][0], dtype=float), np.asarray(bands[key][1], dtype=float)
        profiles[key] = (np.asarray(points[key], dtype=float), low, high)
    return profiles


def probability_of_improvement(
    score_dict: Mapping[str, np.ndarray],
    pair: tuple[str, str],
    reps: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """P(X > Y) for ``pair = (x_key, y_key)``: the probability that a run of group X scores
    above a run of group Y (Mann-Whitney, ties count half), with its 95% bootstrap CI, each
    group resampled independently, as rliable's README computes it. Returns
    ``(point, low, high)``; the CI is NaN when either group has a single run (its spread is
    unknown, so an interval would be too narrow)."""
    x_key, y_key = pair
    x_scores = _runs_by_tasks(score_dict[x_key], x_key)
    y_scores = _runs_by_tasks(score_dict[y_key], y_key)
    if min(x_scores.shape[0], y_scores.shape[0]) < 2:
        return float(metrics.probability_of_improvement(x_scores, y_scores)), math.nan, math.nan
    pair_key = f"{x_key},{y_key}"
    with _seeded_global_rng(seed):
        points, intervals = rly.get_interval_estimates(
            {pair_key: (x_scores, y_scores)},
            metrics.probability_of_improvement,
            reps=reps,
            confidence_interval_size=CONFIDENCE,
        )
    low, high = (float(bound) for bound in np.ravel(intervals[pair_key]))
    return float(points[pair_key]), low, high


__all__ = [
    "CONFIDENCE",
    "SeedStatistics",
    "config_key",
    "config_label",
    "final_score",
    "group_by_config",
    "group_labels",
    "performance_profile",
    "probability_of_improvement",
    "score_table",
    "seed_statistics",
]
