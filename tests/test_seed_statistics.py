"""Seed statistics over runs (workbench.runs.statistics): grouping by configuration, final
scores from the store, and rliable's statistics on fixed arrays. No training."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.runs import statistics
from workbench.runs.statistics import (
    config_key,
    config_label,
    final_score,
    group_by_config,
    group_labels,
    metrics,
    performance_profile,
    probability_of_improvement,
    rly,
    score_table,
    seed_statistics,
)

REPS = 300  # enough to compare with rliable exactly; keeps the module well under a second

# Eight seeds, one far outlier: the IQM drops it, the mean does not.
WITH_OUTLIER = np.array([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [7.0], [100.0]])
STEADY = np.array([[2.0], [2.5], [3.0], [3.5], [4.0]])


def _iqm(scores: np.ndarray) -> np.ndarray:
    return np.array([metrics.aggregate_iqm(scores)])


def test_seed_statistics_equal_a_direct_rliable_call():
    result = seed_statistics({"a": WITH_OUTLIER, "b": STEADY}, reps=REPS, seed=7)
    for key, scores in (("a", WITH_OUTLIER), ("b", STEADY)):
        np.random.seed(7)
        points, intervals = rly.get_interval_estimates(
            {key: scores}, _iqm, reps=REPS, confidence_interval_size=0.95
        )
        stats = result[key]
        assert stats.n_runs == len(scores)
        assert stats.iqm == pytest.approx(points[key][0], abs=1e-9)
        assert stats.ci_low == pytest.approx(intervals[key][0, 0], abs=1e-9)
        assert stats.ci_high == pytest.approx(intervals[key][1, 0], abs=1e-9)
        assert stats.mean == pytest.approx(metrics.aggregate_mean(scores), abs=1e-9)
        assert stats.median == pytest.approx(metrics.aggregate_median(scores), abs=1e-9)
        assert stats.ci_low <= stats.iqm <= stats.ci_high
        assert stats.label == key


def test_seed_statistics_are_reproducible_and_leave_the_global_rng_alone():
    np.random.seed(123)
    expected_next = np.random.random()
    np.random.seed(123)
    first = seed_statistics({"a": WITH_OUTLIER}, reps=REPS, seed=3)
    assert np.random.random() == expected_next  # the caller's stream went on untouched
    assert seed_statistics({"a": WITH_OUTLIER}, reps=REPS, seed=3) == first
    # A group's interval does not depend on the other groups present.
    with_other = seed_statistics({"b": STEADY, "a": WITH_OUTLIER}, reps=REPS, seed=3)
    assert with_other["a"] == first["a"]


def test_iqm_is_not_the_mean_on_outliers():
    stats = seed_statistics({"a": WITH_OUTLIER}, reps=REPS)["a"]
    assert stats.iqm == pytest.approx(4.5)  # trimmed to the middle four: 3, 4, 5, 6
    assert stats.mean == pytest.approx(16.0)
    # rliable's median is over tasks of the per-task means: with one task, the mean.
    assert stats.median == pytest.approx(16.0)
    assert stats.ci_low < stats.iqm < stats.ci_high


def test_a_group_of_one_run_has_points_and_no_interval():
    result = seed_statistics({"one": np.array([[3.0]]), "b": STEADY}, reps=REPS)
    one = result["one"]
    assert (one.n_runs, one.iqm, one.mean, one.median) == (1, 3.0, 3.0, 3.0)
    assert math.isnan(one.ci_low) and math.isnan(one.ci_high)
    taus = np.array([2.0, 3.0, 4.0])
    profile, low, high = performance_profile({"one": np.array([3.0])}, taus, reps=REPS)["one"]
    assert profile.tolist() == [1.0, 0.0, 0.0]  # strictly above tau, as rliable counts
    points, _ = rly.create_performance_profile({"one": np.array([[3.0]])}, taus, reps=REPS)
    np.testing.assert_allclose(profile, points["one"])
    assert np.isnan(low).all() and np.isnan(high).all()
    point, low, high = probability_of_improvement(
        {"one": np.array([[3.0]]), "b": STEADY}, ("one", "b"), reps=REPS
    )
    assert 0 <= point <= 1 and math.isnan(low) and math.isnan(high)


def test_performance_profile_equals_rliable():
    taus = np.linspace(0.0, 8.0, 9)
    result = performance_profile({"a": WITH_OUTLIER, "b": STEADY}, taus, reps=REPS, seed=5)
    for key, scores in (("a", WITH_OUTLIER), ("b", STEADY)):
        np.random.seed(5)
        points, bands = rly.create_performance_profile({key: scores}, taus, reps=REPS)
        profile, low, high = result[key]
        np.testing.assert_allclose(profile, points[key], atol=1e-9)
        np.testing.assert_allclose(low, bands[key][0], atol=1e-9)
        np.testing.assert_allclose(high, bands[key][1], atol=1e-9)
        assert profile.shape == taus.shape
    # The fraction of runs above tau = 4.5 in WITH_OUTLIER: 5, 6, 7, 100.
    assert result["a"][0][np.searchsorted(taus, 4.0)] == pytest.approx(4 / 8)


def test_probability_of_improvement_of_a_clearly_better_group():
    better = STEADY + 10.0
    point, low, high = probability_of_improvement(
        {"better": better, "worse": STEADY}, ("better", "worse"), reps=REPS, seed=1
    )
    assert point == pytest.approx(1.0) and low > 0.9 and high == pytest.approx(1.0)
    reverse, _, _ = probability_of_improvement(
        {"better": better, "worse": STEADY}, ("worse", "better"), reps=REPS
    )
    assert reverse == pytest.approx(0.0)
    # Same as rliable's README computation.
    np.random.seed(1)
    points, intervals = rly.get_interval_estimates(
        {"better,worse": (better, STEADY)}, metrics.probability_of_improvement, reps=REPS
    )
    assert (point, low, high) == pytest.approx(
        (points["better,worse"], *np.ravel(intervals["better,worse"])), abs=1e-9
    )


def test_grouping_ignores_the_seed_but_separates_other_knobs(store):
    records = [
        store.create_run("a0", "sac", {"lr": 3e-4, "net_width": 64, "seed": 0}),
        store.create_run("b0", "sac", {"lr": 1e-3, "net_width": 64, "seed": 0}),
        store.create_run("a1", "sac", {"seed": 1, "net_width": 64, "lr": 3e-4}),
        store.create_run("c0", "metra", {"lr": 3e-4, "net_width": 64, "seed": 0}),
    ]
    assert config_key(records[0]) == config_key(records[2])
    assert config_key(records[0]) != config_key(records[1])  # another lr
    assert config_key(records[0]) != config_key(records[3])  # another trainer
    assert config_key(records[0], ignore=()) != config_key(records[2], ignore=())
    groups = group_by_config(records)
    assert [[record.name for record in group] for group in groups.values()] == [
        ["a0", "a1"],
        ["b0"],
        ["c0"],
    ]
    assert config_label(records[1], records) == "trainer=sac, lr=0.001"
    assert config_label(records[0], records[:1] + records[2:3]) == "all runs"
    assert list(group_labels(records).values()) == [
        "trainer=sac, lr=0.0003",
        "trainer=sac, lr=0.001",
        "trainer=metra, lr=0.0003",
    ]


def test_final_score_uses_the_tail_of_the_run_and_no_other(store):
    run = store.create_run("a", "sac", {"seed": 0})
    other = store.create_run("b", "sac", {"seed": 1})
    store.add_scalars(run.id, [(step, "return", float(step)) for step in range(20)])
    store.add_scalars(run.id, [(step, "loss", 1000.0) for step in range(20)])
    store.add_scalars(other.id, [(step, "return", 500.0) for step in range(20, 40)])
    # 10% of 20 values: the last two, 18 and 19.
    assert final_score(store, run.id, "return") == pytest.approx(18.5)
    assert final_score(store, run.id, "return", last_fraction=0.25) == pytest.approx(17.0)
    assert final_score(store, run.id, "return", last_fraction=1.0) == pytest.approx(9.5)
    assert final_score(store, run.id, "missing") is None
    short = store.create_run("c", "sac", {"seed": 2})
    store.add_scalars(short.id, [(0, "return", 4.0), (1, "return", 6.0)])
    assert final_score(store, short.id, "return") == pytest.approx(6.0)  # at least one point
    long = store.create_run("d", "sac", {"seed": 3})
    store.add_scalars(long.id, [(step, "return", float(step)) for step in range(30)])
    assert final_score(store, long.id, "return") == pytest.approx(28.0)  # 10% of 30: three
    with pytest.raises(ValueError):
        final_score(store, run.id, "return", last_fraction=0.0)

    table = score_table(store, [run, other, short], "return")
    assert list(table) == [config_key(run)]  # one group: the runs differ only by seed
    np.testing.assert_allclose(table[config_key(run)], [[18.5], [500.0], [6.0]])
    # A rollback's abandoned rows do not count.
    store.abandon_after(short.id, 0)
    assert final_score(store, short.id, "return") == pytest.approx(4.0)
    assert score_table(store, [run, other], "missing") == {}


def test_the_module_uses_rliable():
    assert statistics.rly.__name__ == "rliable.library"
    assert statistics.metrics.__name__ == "rliable.metrics"
