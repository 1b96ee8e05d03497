"""The live scalar chart's data: one point per step, a dot at each run's latest value, and an
axis of its own metric."""

from __future__ import annotations

import re
from unittest import mock

import numpy as np
from bokeh.models import GlyphRenderer

from widgets import LiveSession, ScalarChart
from widgets.common.scalar_chart import MAX_LEGEND_ENTRIES
from workbench.runs import RunStore


def _chart_of(store: RunStore, run_id: str, metric: str = "charts/episodic_return") -> ScalarChart:
    chart = ScalarChart(LiveSession(store), run_ids=[run_id], metric=metric, smoothing=0.0)
    chart.refresh(force=True)
    return chart


def _drawn(chart: ScalarChart) -> dict[str, list]:
    figure = chart.figure
    drawn: dict[str, list] = {}
    for renderer in figure.select(GlyphRenderer):
        data = renderer.data_source.data
        if "step" in data:
            drawn.setdefault(type(renderer.glyph).__name__, []).append(list(data["step"]))
    return {"figure": figure, **drawn}


def test_values_logged_at_one_step_are_drawn_as_their_mean_even_across_refreshes(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run("r", "regression", {}).id
    # Four copies of an environment end their episodes at the same step, twice.
    store.add_scalars(run_id, [(100, "charts/episodic_return", v) for v in (1, 2, 3)])
    chart = _chart_of(store, run_id)
    store.add_scalars(run_id, [(100, "charts/episodic_return", 6.0)])
    store.add_scalars(run_id, [(200, "charts/episodic_return", v) for v in (10, 20)])
    chart.refresh(force=True)
    series = chart._series[run_id]
    assert series.steps.tolist() == [100, 200]
    np.testing.assert_allclose(series.values, [3.0, 15.0])


def test_a_metric_with_one_point_is_drawn_as_a_dot_on_its_own_named_axis(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run("h", "hilp", {}).id
    store.add_scalars(run_id, [(400, "eval/spearman", 0.7)])
    chart = _chart_of(store, run_id, metric="eval/spearman")
    drawn = _drawn(chart)
    assert drawn["Scatter"] == [[400]]
    assert drawn["figure"].yaxis[0].axis_label == "eval/spearman"
    # Each chart has ranges of its own: an empty one never shows another's.
    other = _chart_of(store, run_id, metric="charts/episodic_return")
    assert other.figure.y_range is not chart.figure.y_range
    assert other.figure.x_range is not chart.figure.x_range


def test_the_legend_names_runs_by_name_and_tells_apart_runs_of_one_name(tmp_path):
    store = RunStore(tmp_path)
    ids = [store.create_run(name, "sb3", {}).id for name in ("PPO", "PPO", "PPO · gamma=0.5")]
    for run_id in ids:
        store.add_scalars(run_id, [(10, "charts/episodic_return", 1.0)])
    chart = ScalarChart(LiveSession(store), run_ids=ids)
    chart.refresh(force=True)
    legend = chart.figure.legend[0]
    labels = [item.label["value"] for item in legend.items]
    assert sorted(labels) == sorted([f"PPO ({ids[0]})", f"PPO ({ids[1]})", "PPO · gamma=0.5"])
    assert legend.visible


def test_a_population_too_large_for_a_legend_is_drawn_without_one(tmp_path):
    store = RunStore(tmp_path)
    ids = [store.create_run(f"member {i}", "sb3", {}).id for i in range(MAX_LEGEND_ENTRIES + 1)]
    for run_id in ids:
        store.add_scalars(run_id, [(10, "charts/episodic_return", 1.0)])
    chart = ScalarChart(LiveSession(store), run_ids=ids)
    chart.refresh(force=True)
    assert not chart.figure.legend[0].visible
    assert len(chart.figure.legend[0].items) == len(ids)  # still there to hover and hide


def test_a_run_that_went_back_to_a_checkpoint_draws_its_live_branch_and_the_rest_faint(tmp_path):
    """Before, a run resumed from its step-50 checkpoint drew its curve running to 100 and
    jumping back to 50."""
    store = RunStore(tmp_path)
    run_id = store.create_run("r", "regression", {}).id
    metric = "charts/episodic_return"
    store.add_scalars(run_id, [(step, metric, 1.0) for step in range(0, 101, 10)])
    chart = _chart_of(store, run_id)
    assert chart._series[run_id].steps.tolist()[-1] == 100
    # The run goes back to step 50 and trains on: steps 60-100 are abandoned.
    assert store.abandon_after(run_id, 50) == 5
    store.add_scalars(run_id, [(step, metric, 2.0) for step in range(60, 81, 10)])
    chart.refresh(force=True)
    series = chart._series[run_id]
    assert series.steps.tolist() == [0, 10, 20, 30, 40, 50, 60, 70, 80]
    assert series.values.tolist() == [1.0] * 6 + [2.0] * 3
    assert series.abandoned[0].tolist() == [60, 70, 80, 90, 100]
    assert store.last_scalars(run_id)[metric] == 2.0

    figure = chart.figure
    faint = [r for r in figure.select(GlyphRenderer) if type(r.glyph).__name__ == "MultiLine"]
    assert len(faint) == 1 and faint[0].glyph.line_dash == "dotted"
    assert list(faint[0].data_source.data["xs"][0]) == [60, 70, 80, 90, 100]
    frame = chart.data_frame()
    assert frame.groupby("branch")["step"].apply(list).to_dict() == {
        "abandoned": [60, 70, 80, 90, 100],
        "live": [0, 10, 20, 30, 40, 50, 60, 70, 80],
    }
    # A chart opened after the rollback reads both branches the same way.
    assert _chart_of(store, run_id)._series[run_id].abandoned[0].tolist() == [60, 70, 80, 90, 100]


def test_a_hidden_session_reads_nothing_and_catches_up_when_shown(tmp_path):
    """A dashboard page's tab that nobody sees costs no reads (eight students' hidden tabs
    slowed the trainer); shown again, its chart catches up at once."""
    store = RunStore(tmp_path)
    run_id = store.create_run("r", "regression", {}).id
    session = LiveSession(store)
    chart = ScalarChart(session, run_ids=[run_id], smoothing=0.0)
    with mock.patch.object(chart, "refresh", wraps=chart.refresh) as refresh:
        session.hide()
        store.add_scalars(run_id, [(10, "charts/episodic_return", 1.0)])
        session.refresh()
        assert refresh.call_count == 0 and len(chart._series[run_id].steps) == 0
        session.show()
        assert refresh.call_count == 1 and chart._series[run_id].steps.tolist() == [10]


def test_with_many_sessions_shown_each_refreshes_every_few_ticks(tmp_path):
    """Eight students on the Live page: each page refreshes every other tick (once a
    second), so that together they cost the trainer as much as four."""
    session = LiveSession(RunStore(tmp_path))
    with mock.patch.object(session, "refresh") as refresh:
        with mock.patch.object(LiveSession, "shown_count", return_value=8):
            for _ in range(6):
                session.tick()
        assert refresh.call_count == 3
        with mock.patch.object(LiveSession, "shown_count", return_value=2):
            for _ in range(6):
                session.tick()
        assert refresh.call_count == 9


def test_two_rebuilds_in_one_hold_send_no_change_of_a_model_the_browser_never_got(tmp_path):
    """A sweep's runs change in the same tick as the chart's own refresh: two new figures in
    one ``hold``. Events are about models of the document the browser ends up with; a change
    to the first new figure's data, sent after the second replaced it, named models the
    browser never received ("reference p5088 isn't known" on the Sweeps page)."""
    from bokeh.document import Document
    from bokeh.document.events import ColumnDataChangedEvent, ModelChangedEvent

    store = RunStore(tmp_path)
    first, second = (store.create_run(name, "regression", {}).id for name in ("a", "b"))
    chart = ScalarChart(LiveSession(store), run_ids=[first], metric="losses/mse")
    document = Document()
    document.add_root(chart.__panel__().get_root(document))
    events = []
    document.on_change(events.append)
    document.hold("combine")
    store.add_scalars(first, [(1, "losses/mse", 1.0)])
    chart.refresh(force=True)  # a curve appears: a new figure
    store.add_scalars(second, [(1, "losses/mse", 2.0)])
    chart.run_ids = [first, second]  # and another, in the same hold
    document.unhold()
    known = {model.id for model in document.models}
    named = [
        event.model.id
        for event in events
        if isinstance(event, ModelChangedEvent | ColumnDataChangedEvent)
    ]
    assert named, "the hold sent nothing"
    assert [model for model in named if model not in known] == []


def test_runs_set_by_another_view_during_a_refresh_make_no_second_figure_in_it(tmp_path):
    """On the Sweeps page the chart refreshes first (a run's first point: a new figure), then
    the page sets the sweep's runs, one more of them with data. A second new figure in the
    same refresh (one hold) left Panel's styling of the first one, never sent, in the message
    that replaced it: "reference p10134 isn't known". The second waits for the next refresh."""
    store = RunStore(tmp_path)
    first, second = (store.create_run(name, "regression", {}).id for name in ("a", "b"))
    session = LiveSession(store)
    chart = ScalarChart(session, run_ids=[first], metric="losses/mse")

    class SweepPage:  # registered after the chart, as the Sweeps page is
        def refresh(self) -> None:
            chart.run_ids = [first, second]

    session.register(SweepPage())
    figures = []
    chart._pane.param.watch(lambda event: figures.append(event.new), "object")
    store.add_scalars(first, [(1, "losses/mse", 1.0)])
    store.add_scalars(second, [(1, "losses/mse", 2.0)])
    with mock.patch.object(LiveSession, "redraw_interval", return_value=0.0):  # no waiting
        session.refresh()
        assert len(figures) == 1  # the first run's curve
        assert [r.name for r in figures[-1].renderers if r.name] == ["a"]
        session.refresh()
        assert len(figures) == 2  # both runs, at the next refresh
        assert [r.name for r in figures[-1].renderers if r.name] == ["a", "b"]


def test_the_knob_changes_line_lists_the_latest_changes_of_all_runs_in_step_order(tmp_path):
    """With a population, each run's changes came one run after another (steps 1692, 2776,
    466, ...), and the five shown were the last runs', not the latest."""
    store = RunStore(tmp_path)
    ids = [store.create_run(f"trial {i}", "sb3", {}).id for i in range(3)]
    for run_id, steps in zip(ids, ((100, 700), (300, 900), (200, 500)), strict=True):
        store.add_scalars(run_id, [(1_000, "charts/episodic_return", 1.0)])
        for step in steps:
            store.add_event(run_id, step, "knob", {"changes": {"learning_rate": step / 1e6}})
    chart = ScalarChart(LiveSession(store), run_ids=ids)
    chart.refresh(force=True)
    shown = [int(s) for s in re.findall(r"step (\d+)", chart.markers_text.value)]
    assert shown == [200, 300, 500, 700, 900]


def test_the_live_view_charts_what_a_hilp_run_logs_and_keeps_a_metric_a_person_picked(tmp_path):
    from widgets import RunView

    store = RunStore(tmp_path)
    hilp = store.create_run("h", "hilp", {}).id
    view = RunView(hilp, session=LiveSession(store))
    chart = view.chart
    chart.smoothing = 0.0
    chart.refresh(force=True)
    assert chart.metric == "charts/episodic_return"  # nothing logged yet: nothing to follow
    store.add_scalars(hilp, [(10, "losses/value", 0.5)])
    chart.refresh()
    assert chart.metric == "losses/value"  # a stand-in until a headline metric comes
    store.add_scalars(hilp, [(20, "losses/value", 0.4), (20, "eval/spearman", 0.8)])
    chart.refresh()
    assert chart.metric == "eval/spearman" and chart.metric_select.value == "eval/spearman"
    assert _drawn(chart)["Scatter"] == [[20]]
    chart.metric_select.value = "losses/value"  # a person's pick is kept
    chart.refresh()
    assert chart.metric == "losses/value" and not chart.follow_headline
    # Another run follows its own headline again; one asked for by name is kept.
    sb3 = store.create_run("p", "sb3", {}).id
    store.add_scalars(sb3, [(5, "charts/episodic_return", 1.0), (5, "eval/return", 2.0)])
    view.run_id = sb3
    chart.refresh()
    assert chart.metric == "charts/episodic_return"
    asked = RunView(hilp, session=LiveSession(store), metric="charts/episodic_return")
    asked.chart.refresh()
    assert asked.chart.metric == "charts/episodic_return"
