"""Progress of the Horizon page's long computations: the engine's callbacks count up to
their total, and the views' status lines say what is computed now, with a percent, and
end with the final status."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import numpy as np
import pytest

from workbench.horizon import HorizonMDP, analyze, load_mdp
from workbench.horizon.learners import (
    gorp,
    measured_sample_complexities,
    ppo_sample_complexity,
    sample_complexity,
    sqirl,
)
from workbench.horizon.sweeps import discount_sweep, horizon_sweep

CLIFF = "workbench/GridWorld-Cliff-v0"


def chain(length: int = 4, horizon: int = 6) -> HorizonMDP:
    """Left/right on a line; reaching the right end pays 1 and ends the episode."""
    successors = np.zeros((length, 2), dtype=int)
    for s in range(length):
        successors[s] = [max(s - 1, 0), s + 1 if s + 1 < length else -1]
    rewards = np.zeros((length, 2))
    rewards[length - 1, 1] = 1.0
    return HorizonMDP(successors, np.ones((length, 2)), rewards, horizon)


def recorder() -> tuple[list[tuple], Callable[..., None]]:
    calls: list[tuple] = []
    return calls, lambda *args: calls.append(args)


def assert_counts_up(calls: list[tuple[int, int]], total: int | None = None) -> None:
    """Done grows (it repeats only when the total shrinks, as work ends early), never
    past the total, and the last call is complete."""
    dones = [done for done, _ in calls]
    assert dones == sorted(dones), calls
    assert all(a != b for a, b in itertools.pairwise(calls)), calls
    assert all(0 <= done <= most for done, most in calls), calls
    assert calls[-1][0] == calls[-1][1], calls
    if total is not None:
        assert calls[-1] == (total, total)


def test_sweeps_report_every_point_up_to_the_total():
    mdp = load_mdp(CLIFF)
    calls, progress = recorder()
    horizon_sweep(mdp, [1, 5, 12, 30], progress=progress)
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    calls, progress = recorder()
    discount_sweep(mdp, [0.5, 0.9, 1.0], progress=progress)
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_analyze_names_each_part_before_it_and_ends_done():
    mdp = load_mdp(CLIFF)
    calls, progress = recorder()
    plain = analyze(mdp)
    assert analyze(mdp, progress=progress).summary() == plain.summary()
    assert calls == [
        ("values", 0, 5), ("min_k", 1, 5), ("epw", 2, 5), ("bound", 3, 5),
        ("greedy", 4, 5), ("done", 5, 5),
    ]  # fmt: skip
    calls, progress = recorder()
    analyze(load_mdp("workbench/GridWorld-SlipperyCliff-v0"), progress=progress)
    # A stochastic MDP has no bound to compute; given values are not computed again.
    assert [part for part, _, _ in calls] == ["values", "min_k", "epw", "greedy", "done"]


def test_sample_complexity_counts_learner_runs_under_a_shrinking_most():
    runs_done = []

    def counted(*args, **kwargs):
        runs_done.append(kwargs["episodes"])
        return gorp(*args, **kwargs)

    calls, progress = recorder()
    plain = sample_complexity(gorp, chain(), runs=3, max_samples=20_000, k=1)
    assert sample_complexity(counted, chain(), runs=3, max_samples=20_000, k=1,
                             progress=progress) == plain  # fmt: skip
    assert_counts_up(calls, total=len(runs_done))
    assert calls[0][0] == 0 and calls[0][1] >= len(runs_done)
    totals = [most for _, most in calls]
    assert totals == sorted(totals, reverse=True)  # an upper bound that only shrinks
    assert len(runs_done) % 3 == 0 and len(runs_done) > 3  # the cap, then bisection

    # The cap fails (k = 1 cannot see the gamble): the search ends after one median.
    successors = np.array([[1, 2, 2, 2], [-1] * 4, [-1] * 4])
    rewards = np.array([[0.0] * 4, [1.0, -1.0, -1.0, -1.0], [0.1] * 4])
    gamble = HorizonMDP(successors, np.ones((3, 4)), rewards, 2)
    calls, progress = recorder()
    assert sample_complexity(gorp, gamble, runs=3, max_samples=2_000, k=1,
                             progress=progress) == float("inf")  # fmt: skip
    assert calls[0][1] > 3 and calls[-1] == (3, 3)
    assert_counts_up(calls)
    # No episode fits the budget: nothing to run, and done at once.
    calls, progress = recorder()
    sample_complexity(sqirl, chain(), runs=3, max_samples=10, progress=progress)
    assert calls == [(0, 0)]


def test_ppo_and_the_three_learners_report_in_order_each_to_its_end():
    calls, progress = recorder()
    steps = ppo_sample_complexity(chain(6, 10), max_steps=2_048, eval_every=256,
                                  progress=progress)  # fmt: skip
    assert calls[0] == (0, 2_048) and calls[1] == (256, 2_048)
    assert_counts_up(calls)
    assert steps == float("inf") or calls[-1] == (steps, steps)  # solved: ends there

    calls, progress = recorder()
    measured_sample_complexities(chain(), runs=3, max_samples=5_000, ppo_steps=256,
                                 progress=progress)  # fmt: skip
    names = [name for name, _, _ in calls]
    assert names == sorted(names, key=["GORP", "SQIRL", "PPO"].index)
    for name in ("GORP", "SQIRL", "PPO"):
        assert_counts_up([(done, total) for n, done, total in calls if n == name])


def test_minigrid_enumeration_reports_states_expanded_of_those_found(monkeypatch):
    from workbench.horizon import minigrid

    monkeypatch.setattr(minigrid, "PROGRESS_EVERY", 8)
    calls, progress = recorder()
    enumeration = minigrid.enumerate_states("MiniGrid-Empty-5x5-v0", 20, progress=progress)
    states = len(enumeration.depths)
    assert [done for done, _ in calls] == [*range(0, states, 8), states]
    found = [total for _, total in calls]
    assert found == sorted(found)  # a count so far: it only grows
    assert_counts_up(calls, total=states)


def test_progress_lines_give_percent_and_time_left_only_where_it_is_honest():
    from widgets.horizon.progress import describe

    assert describe("loading") == "loading..."
    line = describe("sweep against gamma", 3, 7, unit="points", speed=2.0)
    assert line == "sweep against gamma: 3 of 7 points (43%) · about 2 s left"
    assert describe("x", 3, 7, unit="points").endswith("estimating time left")
    assert describe("x", 3, 7, unit="parts", speed=1.0, estimate=False) == "x: 3 of 7 parts (43%)"
    line = describe("GORP", 30, 150, kind="at most", unit="runs", speed=0.1)
    assert line == "GORP: 30 of at most 150 runs (20%) · up to about 20 min left"
    line = describe("enumerating", 800, 1_000, kind="so far", unit="states expanded", speed=9.0)
    assert line == "enumerating: 800 states expanded of 1,000 found so far (80%)"
    assert describe("done", 0, 0) == "done: 0 of 0 (100%)"


def test_work_progress_redraws_counts_a_few_times_a_second_and_each_new_part_at_once():
    import panel as pn

    from widgets.horizon.progress import WorkProgress

    status = pn.widgets.StaticText(value="")
    shown: list[str] = []
    status.param.watch(lambda event: shown.append(event.new), "value")
    progress = WorkProgress(status, interval=0.2)
    progress.begin("four rooms")
    assert progress.bar.active and progress.bar.value == -1  # indeterminate until counted
    report = progress.reporter("sweep against gamma", "points")
    for done in range(201):
        report(done, 200)
    assert shown == ["four rooms: sweep against gamma: 0 of 200 points (0%) · estimating time left"]
    time.sleep(0.25)
    report(150, 200)  # the interval is over: drawn
    assert shown[-1].startswith("four rooms: sweep against gamma: 150 of 200 points (75%)")
    assert progress.bar.value == 750 and not progress.bar.active
    progress.report("drawing a state")  # a new part: drawn at once
    assert shown[-1] == "four rooms: drawing a state..." and progress.bar.active
    progress.finish("four rooms: analysed in 1.00 s")
    assert status.value == "four rooms: analysed in 1.00 s"
    assert progress.bar.value == 1000 and not progress.bar.active


def test_horizon_page_status_shows_each_part_with_a_percent_then_the_final_status():
    from widgets.horizon import HorizonView

    view = HorizonView()
    view.progress.interval = 0.0  # every report drawn, to see them all
    shown: list[str] = []
    view.status.param.watch(lambda event: shown.append(event.new), "value")
    values: list[int] = []
    view.progress.bar.param.watch(lambda event: values.append(event.new), "value")
    assert view.show(CLIFF) is not None
    assert shown[0] == f"{CLIFF}: loading..."
    assert f"{CLIFF} (32 states): bounding the effective horizon: 2 of 4 parts (50%)" in shown
    sweep = [line for line in shown if "sweep against T" in line]
    assert sweep[0].endswith("sweep against T: 0 of 8 points (0%)")
    assert sweep[-1].endswith("8 of 8 points (100%)")
    assert "left" not in " ".join(sweep)  # points at long horizons take longer: no estimate
    assert shown[-1].startswith(f"{CLIFF}: 32 states") and "analysed in" in shown[-1]
    # Indeterminate while loading, the sweep's points as they come, then full and still.
    assert values[0] == -1 and 500 in values and values[-1] == 1000
    assert not view.progress.bar.active
    # A load that fails ends in its message, the bar hidden again.
    assert view.show(CLIFF, horizon=0) is None
    assert view.status.value.startswith("cannot load") and not view.progress.bar.active


def test_switching_the_sweeps_axis_sweeps_in_a_thread_with_its_progress():
    from widgets.horizon import HorizonSweep

    sweep = HorizonSweep()
    sweep.progress.interval = 0.0
    shown: list[str] = []
    sweep.status.param.watch(lambda event: shown.append(event.new), "value")
    sweep.show(load_mdp(CLIFF))
    sweep.axis = "discount"
    deadline = time.monotonic() + 60
    while "discount" not in sweep.data and time.monotonic() < deadline:
        time.sleep(0.05)
    while not sweep.status.value.startswith("swept") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(sweep.data["discount"]) == 7
    assert "sweep against gamma: 3 of 7 points (43%)" in " ".join(shown)
    assert shown[-1].startswith("swept against gamma: 7 points in")


def test_discount_sweep_progress_names_the_slowest_run_and_the_time_left():
    from widgets.horizon.discount_sweep import describe_sweep
    from workbench.horizon.discount_sweep import sweep_progress

    rows = [
        {"gamma": 0.5, "step": 10_000, "length": 10_000, "state": "finished"},
        {"gamma": 0.9, "step": 2_000, "length": 10_000, "state": "running"},
        {"gamma": 0.99, "step": 6_000, "length": 10_000, "state": "running"},
    ]
    progress = sweep_progress(rows, [None, 400.0, 100.0])
    assert progress.ended == 1 and progress.slowest == (0.2, 0.9)
    assert progress.seconds_left == pytest.approx(40.0)  # gamma 0.99: 4,000 steps at 100/s
    assert progress.done == pytest.approx((1 + 0.2 + 0.6) / 3)
    assert describe_sweep(progress) == (
        "1 of 3 runs ended · slowest: gamma 0.9 at 20% · about 40 s left"
    )
    starting = sweep_progress(rows, [None, None, 100.0])  # one run's speed not known yet
    assert describe_sweep(starting).endswith("estimating time left")
    rows[1]["state"], rows[2]["state"] = "finished", "failed"
    ended = sweep_progress(rows, [None, None, None])
    assert ended.slowest is None and ended.done == 1.0
    assert describe_sweep(ended) == "3 of 3 runs ended (1 failed) · done"


def test_on_a_served_page_a_workers_lines_arrive_in_order_and_its_failure_last(monkeypatch):
    """A served page gets what the worker thread writes in the session's next ticks, in the
    order written: the status line and the bar together, and run_in_thread's failure after
    the lines written before it (set directly, it was overwritten by a line still queued)."""
    import threading
    from unittest import mock

    import panel as pn
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from widgets.common import run_in_thread
    from widgets.horizon.progress import WorkProgress

    document = Document()
    document._session_context = mock.Mock()  # as served: changes wait for the session's ticks
    ticks: list[Callable[[], None]] = []  # the server's loop runs them in this order
    monkeypatch.setattr(document, "add_next_tick_callback", ticks.append)
    status = pn.widgets.StaticText(value="")
    with set_curdoc(document):
        progress = WorkProgress(status, interval=0.0)

    def work() -> None:
        progress.begin("four rooms")
        progress.report("bounding the effective horizon", 1, 4)
        progress.stop()
        raise MemoryError("the bound needs 9 GiB")

    raised: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(args.exc_value))
    with set_curdoc(document):
        run_in_thread(status, work)
    deadline = time.monotonic() + 10
    while not raised and time.monotonic() < deadline:
        time.sleep(0.01)
    assert isinstance(raised[0], MemoryError)
    assert status.value == "working..." and progress.bar.value == 0  # nothing applied yet
    for tick in ticks:
        tick()
    assert status.value == "failed: MemoryError: the bound needs 9 GiB"
    assert progress.bar.value == 250 and not progress.bar.active  # stopped where it was
