"""The Runs page in a real browser: select runs, pick metrics from what they log, several
panels, log scale, a trainer filter, and downloads of the data (CSV) and of a chart (PNG)."""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import heading_look
from workbench.runs import RunStore

PPO, FIT = "seeded PPO on the plane", "seeded regression fit"
SCREENSHOTS = Path(os.environ.get("WORKBENCH_SCREENSHOTS", "/tmp/workbench-screenshots"))

# The value axes of the page's figures, by title, read from BokehJS's own models.
LOG_AXES = """() => {
  const titles = [];
  for (const doc of Bokeh.documents)
    for (const model of doc._all_models.values())
      if (model.y_scale !== undefined && model.y_scale.type === 'LogScale' && model.title)
        titles.push(model.title.text);
  return titles;
}"""


@pytest.fixture(scope="module")
def seeded(served_dashboard):
    """Two finished runs of different trainers beside the demo run: they log different
    metrics, known in advance."""
    store = RunStore(served_dashboard.home)
    # Five knobs that differ from the demo run's: five knob columns, as in a sweep.
    knobs = {"gamma": 0.9, "learning_rate": 1e-3, "net_width": 128, "n_envs": 2, "seed": 3}
    ppo = store.create_run(PPO, "sb3", {"env_id": "workbench/Plane-v0", **knobs}).id
    store.add_scalars(ppo, [(s, "charts/episodic_return", s / 100) for s in range(100, 2100, 100)])
    store.add_scalars(ppo, [(1000, "eval/return", 8.0)])  # a single point
    store.set_state(ppo, "finished", step=2000)
    fit = store.create_run(FIT, "regression", {"lr": 0.1}).id
    store.add_scalars(fit, [(s, "losses/mse", 10.0 / s) for s in range(10, 500, 10)])
    store.set_state(fit, "finished", step=490)
    return served_dashboard


def _wait_for(condition, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return condition()


def test_runs_page_overlays_selected_runs_per_metric_filters_by_trainer_and_downloads(
    page, page_problems, seeded
):
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.goto(seeded.url + "/")
    page.locator(".bk-tab", has_text="Runs").click()
    rows = page.locator(".runs-table .tabulator-row:visible")
    expect(rows.filter(has_text=PPO)).to_have_count(1, timeout=60_000)
    # Readable columns: the trainer is one, and ids are not shown.
    header = page.locator(".runs-table .tabulator-col[tabulator-field=trainer]")
    expect(header).to_contain_text("trainer")
    expect(rows.filter(has_text=FIT)).to_contain_text("regression")
    expect(page.locator(".runs-table .tabulator-cell[tabulator-field=id]:visible")).to_have_count(0)
    # At 1280 px no column is squeezed below its title's width (they were cut to slivers).
    # Columns that do not fit are hidden whole (display: none), not drawn a few pixels wide.
    columns = page.locator(".runs-table .tabulator-col[tabulator-field]")
    widths = columns.evaluate_all(
        """cs => cs.filter(c => c.getAttribute('tabulator-field') !== 'id'
                             && getComputedStyle(c).display !== 'none')
                   .map(c => c.getBoundingClientRect().width)"""
    )
    assert len(widths) >= 8 and min(widths) >= 80, widths

    for name in (PPO, FIT):
        box = rows.filter(has_text=name).locator("input[type=checkbox]")
        # One click: the table is patched while the demo run trains, and a patch keeps the
        # rows (tests/ui/test_tabulator_guard.py), so the click is not lost.
        box.click()
        expect(box).to_be_checked()
    # The metric list is what the selected runs log; a headline metric is drawn at once.
    choices = page.locator(".runs-metrics .choices__item--choice")  # the list, open or not
    expect(choices.filter(has_text="losses/mse")).to_have_count(1, timeout=30_000)
    expect(choices.filter(has_text="eval/return")).to_have_count(1)
    expect(choices.filter(has_text="train/")).to_have_count(0)  # the demo run is not selected
    # The headline metric is chosen in the browser's picker (its pill), not only offered.
    chosen = page.locator(".runs-metrics .choices__list--multiple .choices__item")
    expect(chosen.filter(has_text="charts/episodic_return")).to_have_count(1, timeout=30_000)
    page.locator(".runs-metrics input").first.click()
    # Choices.js picks an item on mousedown: sent to the item itself, so that where the
    # dropdown happens to open (it differed with the suite's earlier tests) does not matter.
    choices.filter(has_text="losses/mse").dispatch_event("mousedown")
    page.keyboard.press("Escape")
    charts = page.locator(".runs-charts .scalar-chart .bk-Canvas:visible")
    # A new figure per chosen metric: seconds when idle, longer at the suite's busiest.
    expect(charts).to_have_count(2, timeout=90_000)

    assert page.evaluate(LOG_AXES) == []
    page.locator(".runs-logy input").click()
    # Both charts are drawn again on log axes; one may first show "(no data yet)" while its
    # runs' points are read again for the new axis (seen once in a full run).
    both = {"charts/episodic_return", "losses/mse"}
    assert _wait_for(lambda: both <= set(page.evaluate(LOG_AXES))), page.evaluate(LOG_AXES)
    expect(charts).to_have_count(2, timeout=30_000)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(1_000)  # the redrawn figures settle
    page.screenshot(path=SCREENSHOTS / "runs-page.png", full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1280, f"the page scrolls sideways: {width} px wide"
    holder = page.locator(".runs-table .tabulator-tableholder")
    widths = holder.evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert widths[0] <= widths[1], f"the table scrolls sideways: {widths}"

    with page.expect_download() as download:
        page.locator(".runs-csv button").click()
    assert download.value.suggested_filename == "runs.csv"
    with open(download.value.path(), newline="") as file:
        points = list(csv.DictReader(file))
    assert {(p["run"], p["metric"]) for p in points} == {
        (PPO, "charts/episodic_return"),
        (FIT, "losses/mse"),
    }
    assert len([p for p in points if p["metric"] == "losses/mse"]) == 49

    # Each chart's toolbar saves it as a PNG named after its metric.
    with page.expect_download() as download:
        page.locator(".runs-charts .bk-tool-icon-save").last.click()
    assert download.value.suggested_filename == "losses_mse.png"
    assert Path(download.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Tabulator's header filter on the trainer column.
    page.locator(".runs-table .tabulator-col[tabulator-field=trainer] input").click()
    page.locator(".tabulator-edit-list-item", has_text="regression").click()
    expect(rows).to_have_count(1, timeout=10_000)
    expect(rows).to_contain_text(FIT)

    # The seed statistics' title looks the same once the tab is revisited (a first load drew
    # a large heading with pink code, a revisit a small one with blue code).
    title = page.locator(".runs-seed-title:visible")
    expect(title).to_contain_text("Seed statistics of the 2 selected runs")
    first_look = heading_look(page, title, "h4")
    page.locator(".bk-tab", has_text="Live").click()
    page.locator(".bk-tab", has_text="Runs").click()
    expect(title).to_contain_text("Seed statistics of the 2 selected runs", timeout=30_000)
    assert heading_look(page, title, "h4") == first_look == ("20px", "rgb(11, 83, 148)")
    assert page_problems == []
