"""The Runs page without a browser: its table's columns, the metric list that follows the
selected runs, one panel per metric, the CSV of what is drawn, the log scale and the
wall-clock x-axis."""

from __future__ import annotations

import io
import sqlite3

import pandas as pd
import pytest
from bokeh.models import GlyphRenderer, LogScale, SaveTool

from widgets import LiveSession
from widgets.runs.page import RunsPage
from workbench.runs import RunStore

RETURN, EVAL, MSE = "charts/episodic_return", "eval/return", "losses/mse"


@pytest.fixture
def store(tmp_path) -> RunStore:
    """Two PPO runs that differ in learning rate (the second forked from the first), and a
    regression run: different trainers log different metrics."""
    store = RunStore(tmp_path)
    knobs = {"env_id": "workbench/Plane-v0", "net_width": 64, "device": "cpu"}
    a = store.create_run("ppo fast", "sb3", {**knobs, "learning_rate": 1e-3}).id
    b = store.create_run("ppo slow", "sb3", {**knobs, "learning_rate": 3e-4}, parent_id=a).id
    c = store.create_run("fit", "regression", {"lr": 0.1}).id
    store.add_scalars(a, [(step, RETURN, step / 100) for step in (100, 200, 300)])
    store.add_scalars(b, [(step, RETURN, -step / 100) for step in (100, 200)])
    store.add_scalars(b, [(200, EVAL, 5.0)])  # one point: drawn as a dot
    store.add_scalars(c, [(step, MSE, 1 / step) for step in (10, 20, 30, 40)])
    return store


def _ids(store: RunStore) -> dict[str, str]:
    return {run.name: run.id for run in store.list_runs()}


def _select(page: RunsPage, *names: str) -> None:
    """Tick the rows of the named runs, as a click in the table's checkboxes does."""
    frame = page.table.table.value
    page.table.table.selection = [i for i, name in enumerate(frame["name"]) if name in names]


def test_table_names_runs_and_trainers_filters_by_trainer_and_shows_only_telling_knobs(store):
    table = RunsPage(LiveSession(store)).table.table
    frame = table.value
    assert list(frame["name"]) == ["fit", "ppo slow", "ppo fast"]  # newest first
    assert list(frame["trainer"]) == ["regression", "sb3", "sb3"]
    assert list(frame["forked from"]) == ["", "ppo fast", ""]  # the parent's name, not its id
    assert list(frame["environment"]) == ["", "Plane", "Plane"]
    # Knobs that differ between runs of one trainer get a column; equal ones would only
    # widen the table. Ids stay hidden.
    assert "learning_rate" in frame and "net_width" not in frame and "device" not in frame
    assert table.hidden_columns == ["id"]
    assert table.header_filters["trainer"]["type"] == "list"
    assert table.titles[RETURN] == "return" and table.titles[MSE] == "mse"
    assert table.layout == "fit_columns"  # no sideways scrolling
    table.filters = [{"field": "trainer", "type": "=", "value": "sb3"}]
    assert list(table.current_view["name"]) == ["ppo slow", "ppo fast"]


def test_knob_cells_keep_the_runs_values_beside_empty_cells(store):
    store.create_run("ppo wide", "sb3", {"env_id": "workbench/Plane-v0", "net_width": 256})
    frame = RunsPage(LiveSession(store)).table.table.value
    # A width of 256 and 64, not 256.0 beside an empty cell (the regression run's).
    assert list(frame["net_width"]) == [256, None, 64, 64]
    assert all(type(v) is int for v in frame["net_width"] if v is not None)


def test_metric_list_follows_the_selected_runs_and_keeps_what_they_still_log(store):
    page = RunsPage(LiveSession(store))
    assert page.metric_choice.options == [] and page.charts == []
    assert page.hint.visible  # no empty chart, with no runs to draw
    _select(page, "fit")
    assert page.metric_choice.options == [MSE]
    assert page.metrics == [MSE]  # a metric is chosen for a first selection
    _select(page, "ppo fast", "ppo slow")
    assert page.metric_choice.options == [RETURN, EVAL]  # the union of what they log
    assert page.metrics == [RETURN]  # the headline metric, as MSE is not logged by them
    page.metrics = [RETURN, EVAL]
    _select(page, "ppo slow")
    assert page.metrics == [RETURN, EVAL]  # both still logged by the selection
    # A metric logged after the selection was made appears at the next re-read.
    store.add_scalars(_ids(store)["ppo slow"], [(300, "eval/length", 200.0)])
    for _ in range(page.refresh_every):
        page.refresh()
    assert "eval/length" in page.metric_choice.options


def test_each_chosen_metric_gets_a_panel_of_the_selected_runs_named_by_run(store):
    page = RunsPage(LiveSession(store))
    _select(page, "ppo fast", "ppo slow")
    page.metrics = [RETURN, EVAL]
    assert [c.metric for c in page.shown_charts] == [RETURN, EVAL]
    assert len(page.grid.objects) == 2 and page.grid.ncols == 2
    figures = {c.metric: c.figure for c in page.shown_charts}
    labels = {item.label["value"] for item in figures[RETURN].legend[0].items}
    assert labels == {"ppo fast", "ppo slow"}
    # Each panel has its own axes: an empty or short series never takes another's range,
    # and eval/return's single point is drawn.
    assert len({id(c.figure.y_range) for c in page.shown_charts}) == len(page.shown_charts)
    assert figures[EVAL].yaxis[0].axis_label == EVAL
    dots = [r for r in figures[EVAL].select(GlyphRenderer) if type(r.glyph).__name__ == "Scatter"]
    assert [list(r.data_source.data["step"]) for r in dots] == [[200]]
    # The toolbar's save tool downloads a PNG named after the metric.
    assert figures[EVAL].select_one(SaveTool).filename == "eval_return"
    # One metric fewer: its chart stops reading the store, and stays for reuse.
    page.metrics = [EVAL]
    assert [c.metric for c in page.shown_charts] == [EVAL] and page.grid.ncols == 1
    assert len(page.charts) == 2 and page.charts[1].run_ids == []


def test_csv_holds_every_point_drawn_with_run_names_steps_seconds_and_values(store):
    page = RunsPage(LiveSession(store), smoothing=0.0)
    _select(page, "ppo fast", "ppo slow")
    page.metrics = [RETURN, EVAL]
    csv = pd.read_csv(io.StringIO(page._csv_file().getvalue()))
    assert list(csv.columns) == [
        "run", "run_id", "metric", "branch", "step", "wall_seconds", "value", "smoothed"
    ]  # fmt: skip
    rows = sorted(zip(csv["run"], csv["metric"], csv["step"], csv["value"], strict=True))
    assert rows == [
        ("ppo fast", RETURN, 100, 1.0),
        ("ppo fast", RETURN, 200, 2.0),
        ("ppo fast", RETURN, 300, 3.0),
        ("ppo slow", RETURN, 100, -1.0),
        ("ppo slow", RETURN, 200, -2.0),
        ("ppo slow", EVAL, 200, 5.0),
    ]
    assert set(csv["run_id"]) == {_ids(store)["ppo fast"], _ids(store)["ppo slow"]}
    assert (csv["wall_seconds"] >= 0).all()
    # No run selected: a header and no rows.
    _select(page)
    assert page._csv_file().getvalue().strip() == ",".join(csv.columns)


def test_log_scale_makes_every_panel_logarithmic_and_leaves_out_values_below_zero(store):
    page = RunsPage(LiveSession(store))
    _select(page, "ppo fast", "ppo slow")
    page.metrics = [RETURN, EVAL]
    chart = page.shown_charts[0]
    assert not isinstance(chart.figure.y_scale, LogScale)
    page.logy = True
    assert all(c.logy for c in page.shown_charts)
    figure = chart.figure
    assert isinstance(figure.y_scale, LogScale)
    # ppo slow's returns are negative: a log axis cannot place them, and the title says so.
    labels = {item.label["value"] for item in figure.legend[0].items}
    assert labels == {"ppo fast"}
    assert "2 points <= 0 not on the log axis" in figure.title.text


def test_wall_clock_axis_places_each_step_at_the_seconds_since_its_run_was_created(store):
    ids = _ids(store)
    # Known write times: the run was created at t=1000, its steps written 5, 10 and 20 s on.
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE runs SET created_at = 1000 WHERE id = ?", (ids["ppo fast"],))
        for step, seconds in ((100, 5.0), (200, 10.0), (300, 20.0)):
            db.execute(
                "UPDATE scalars SET time = ? WHERE run_id = ? AND step = ?",
                (1000 + seconds, ids["ppo fast"], step),
            )
    assert [row[3] for row in store.timed_scalars(ids["ppo fast"], RETURN)] == [
        1005.0, 1010.0, 1020.0
    ]  # fmt: skip
    page = RunsPage(LiveSession(store), smoothing=0.0)
    _select(page, "ppo fast")
    page.x_axis = "wall"
    chart = page.shown_charts[0]
    figure = chart.figure
    assert figure.xaxis[0].axis_label == "wall-clock seconds"
    curve = next(r for r in figure.select(GlyphRenderer) if type(r.glyph).__name__ == "Line")
    assert list(curve.data_source.data["wall"]) == [5.0, 10.0, 20.0]
    assert list(page.data_frame()["wall_seconds"]) == [5.0, 10.0, 20.0]
    page.x_axis = "step"
    figure = chart.figure
    assert figure.xaxis[0].axis_label == "step"


def test_a_training_run_patches_its_cells_and_keeps_the_table_and_its_selection(store):
    """Steps change every re-read while a run trains: the changed cells are patched (a new
    value redraws the table in the browser, where a checkbox clicked meanwhile was lost),
    and a new run replaces the value with the selection kept."""
    session = LiveSession(store)
    page = RunsPage(session)
    table = page.table
    _select(page, "ppo fast")
    shown = table.table.value
    patches = []
    original_patch = table.table.patch
    table.table.patch = lambda value, **kw: (patches.append(value), original_patch(value, **kw))
    store.set_state(_ids(store)["ppo fast"], "running", step=400)
    for _ in range(table.refresh_every):
        table.refresh()
    assert table.table.value is shown  # patched in place, not replaced
    row = list(shown["name"]).index("ppo fast")
    assert patches == [{"step": [(row, 400)], "state": [(row, "running")]}]
    assert table.selection == [_ids(store)["ppo fast"]]
    # A new run is a new row: a new value, the same run selected.
    store.create_run("ppo new", "sb3", {"env_id": "workbench/Plane-v0", "learning_rate": 1e-2})
    for _ in range(table.refresh_every):
        table.refresh()
    assert table.table.value is not shown and table.table.value["name"].iloc[0] == "ppo new"
    assert table.selection == [_ids(store)["ppo fast"]]
    assert table.table.selection == [list(table.table.value["name"]).index("ppo fast")]
