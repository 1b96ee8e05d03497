"""The Sweeps page's parts over a sweep written straight into the store (no Ray): trials
table, parallel coordinates, seed statistics, lineage; and seed statistics on the Runs page."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import widgets.sweeps.seed_statistics as seed_statistics_module
from widgets.common.live import LiveSession
from widgets.runs import RunsPage
from widgets.sweeps import SweepsView
from workbench.runs.statistics import score_table, seed_statistics
from workbench.runs.sweeps import SweepSpec


@pytest.fixture
def sweep(store):
    """Two learning rates x three seeds (the larger one scores better), and a PBT-style
    fork: trial 00006's run cloned from 00003's at step 50 with a new learning rate."""
    spec = SweepSpec(
        trainer="regression",
        params=["learning_rate=loguniform:1e-3:1e-1"],
        samples=2,
        seeds=3,
        metric="losses/mse",
        mode="min",
    )
    record = store.create_sweep("lr sweep", "regression", spec.to_dict())
    rng = np.random.default_rng(0)
    for index, (rate, seed) in enumerate((r, s) for r in (0.003, 0.03) for s in range(3)):
        run = store.create_run(
            f"lr sweep {index:05d}", "regression", {"learning_rate": rate, "seed": seed},
            sweep_id=record.id, trial=f"abc_{index:05d}",
        )  # fmt: skip
        level = 1.0 if rate == 0.003 else 0.2
        store.add_scalars(
            run.id, [(step, "losses/mse", level + 0.05 * rng.random()) for step in range(100)]
        )
        store.set_state(run.id, "finished", "", 100)
    donor = store.list_runs(record.id)[3]
    child = store.create_run(
        "lr sweep 00006", "regression", {"learning_rate": 0.02, "seed": 0},
        parent_id=donor.id, fork_step=50, sweep_id=record.id, trial="abc_00006",
    )  # fmt: skip
    store.add_event(child.id, 50, "knob", {"changes": {"learning_rate": 0.02}, "by": "pbt explore"})
    store.add_scalars(child.id, [(step, "losses/mse", 0.1) for step in range(51, 100)])
    store.set_state(child.id, "stopped", "", 99)
    return record


def test_sweeps_view_lists_the_trials_ranks_the_configurations_and_draws_the_fork(store, sweep):
    view = SweepsView(LiveSession(store), sweep_id=sweep.id)
    for part in (view, view.trials, view.coordinates, view.lineage):
        part.refresh()
    view.statistics.settle()
    table = view.trials.table.value
    assert len(table) == 7 and set(table["state"]) == {"finished", "stopped"}
    assert table.loc[table["trial"] == "00006", "cloned from"].item().endswith("@ 50")
    assert view.curves.run_ids == table["run"].tolist() and view.curves.metric == "losses/mse"
    # Lower is better here: the clone (0.1) ranks first, then the 0.03 runs (about 0.2).
    labels = view.statistics.intervals.data["label"]
    assert [label.split(",")[0] for label in labels] == [
        "learning_rate=0.02", "learning_rate=0.03", "learning_rate=0.003",
    ]  # fmt: skip
    # The best is the one clone: no probability of improvement from one run.
    assert "needs at least two seeds" in view.statistics.summary.object
    # One line per run with a score, through an axis per knob and one for the score.
    assert len(view.coordinates.lines.data["xs"]) == 7
    assert "learning_rate (log)" in view.coordinates.ticks.data["text"]
    assert view.lineage.exploit_count == 1
    assert view.lineage.exploits.data["x0"] == [50]
    assert "7 runs" in view.header.object and "lr sweep" in view.header.object


def test_sweeps_view_without_a_sweep_says_how_to_start_one(store):
    view = SweepsView(LiveSession(store))
    assert view.hint.visible and not view.body.visible
    assert "workbench sweep" in view.hint.object


def test_the_runs_page_shows_seed_statistics_of_the_selected_runs(store, sweep):
    page = RunsPage(LiveSession(store))
    runs = [r.id for r in store.list_runs(sweep.id)][:6]
    page.table.selection = runs
    page.metrics = ["losses/mse"]
    assert page.seed_panel.visible and page.seed_statistics.mode == "min"
    page.seed_statistics.settle()
    records = [store.get_run(run_id) for run_id in runs]
    expected = seed_statistics(score_table(store, records, "losses/mse"), reps=1000)
    drawn = sorted(page.seed_statistics.intervals.data["iqm"])
    assert drawn == pytest.approx(sorted(s.iqm for s in expected.values()))
    # Three seeds each: 0.03 beats 0.003 in every pair of runs.
    assert "**P(best beats the runner-up)** = 1.00" in page.seed_statistics.summary.object
    page.table.selection = runs[:1]
    assert not page.seed_panel.visible


def test_seed_statistics_are_bootstrapped_off_the_refreshing_thread(store, sweep, monkeypatch):
    """The bootstraps of a PBT population take seconds: a refresh (the server's loop) starts
    them in a thread and returns; the next refresh after they end draws them."""
    release, started, computed_on = threading.Event(), threading.Event(), []

    def held_back(*args, **kwargs):
        computed_on.append(threading.current_thread())
        started.set()
        release.wait(30)
        return seed_statistics(*args, **kwargs)

    monkeypatch.setattr(seed_statistics_module, "seed_statistics", held_back)
    view = SweepsView(LiveSession(store), sweep_id=sweep.id)
    view.refresh()
    view.statistics.refresh()
    try:
        assert view.statistics.intervals.data["iqm"] == []  # returned before the bootstrap
        assert started.wait(30) and computed_on[0] is not threading.current_thread()
    finally:
        release.set()
    view.statistics.settle()
    assert len(view.statistics.intervals.data["iqm"]) == 3
    # Runs changed while a computation runs: its now stale result is not drawn.
    drawn_before = list(view.statistics.intervals.data["iqm"])
    release.clear()
    view.statistics.run_ids = view.statistics.run_ids[:3]
    view.statistics.refresh()
    stale = view.statistics._computing
    view.statistics.run_ids = last = view.statistics.run_ids[:2]
    release.set()
    stale.join(30)
    view.statistics.refresh()  # would draw the stale result, were it kept
    assert view.statistics.intervals.data["iqm"] == drawn_before
    view.statistics.settle()
    records = [store.get_run(run_id) for run_id in last]
    expected = seed_statistics(score_table(store, records, "losses/mse"), reps=1000)
    assert sorted(view.statistics.intervals.data["iqm"]) == pytest.approx(
        sorted(s.iqm for s in expected.values())
    )


def test_the_sweep_picker_names_a_sweep_by_its_id_only_where_two_read_alike():
    """The id made every label too long for the picker (it was cut off mid-id)."""
    from widgets.dashboard import _picker_options

    options = _picker_options(
        [
            "lr · running · started Dec 04 22:35",
            "pbt · finished · started Dec 04 22:35",
            "lr · running · started Dec 04 22:35",
        ],
        ["sweep-a", "sweep-b", "sweep-c"],
    )
    assert options == {
        "lr · running · started Dec 04 22:35 (sweep-a)": "sweep-a",
        "pbt · finished · started Dec 04 22:35": "sweep-b",
        "lr · running · started Dec 04 22:35 (sweep-c)": "sweep-c",
    }
