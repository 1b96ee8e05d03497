"""A Tabulator patched while a dynamic tab rebuilds it: without the guard, Panel 1.9 threw
"Cannot read properties of null" in about one page in three (CI's Hilbert page failure,
from the Runs table patched in the background)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import panel_served

APP = Path(__file__).parent / "apps" / "patched_table.py"


@pytest.fixture(scope="module")
def served_table(tmp_path_factory) -> Iterator[str]:
    with panel_served(APP, tmp_path_factory.mktemp("patched-table") / "panel.log") as url:
        yield url


def _first_step(page: Page) -> int:
    cell = page.locator(".tabulator-cell[tabulator-field=step]:visible").first
    return int(cell.inner_text().replace(",", ""))


def test_a_table_patched_while_its_tab_is_rebuilt_throws_nothing_and_keeps_moving(
    page: Page, page_problems, served_table
):
    for session in range(3):  # each a new session, whose tab is built while patched
        view = page if session == 0 else page.context.new_page()
        if view is not page:
            view.on("pageerror", lambda e: page_problems.append(f"page error: {e}"))
        view.goto(served_table)
        for _ in range(6):
            view.get_by_text("Table", exact=True).click()
            view.wait_for_timeout(250)
            view.get_by_text("Other", exact=True).click()
            view.wait_for_timeout(250)
        view.get_by_text("Table", exact=True).click()
        expect(view.locator(".tabulator-cell[tabulator-field=step]:visible").first).to_be_visible()
        shown = _first_step(view)
        view.wait_for_timeout(1_000)
        assert _first_step(view) > shown, "the rebuilt table stopped following its patches"
    assert page_problems == []


# Marks the table's selection boxes, to tell later whether they are the same elements.
MARK_BOXES = "boxes => boxes.forEach(box => { box._marked = true })"
MARKED_BOXES = "boxes => boxes.filter(box => box._marked).length"


def test_a_patch_keeps_the_rows_so_a_slow_click_selects_and_the_selection_stays(
    page: Page, page_problems, served_table
):
    """Panel redraws a patched table with ``setData``, which builds every row anew: a click
    whose mouse-down and mouse-up straddle a patch (the Runs table is patched every two
    seconds) landed on a box that was gone by the mouse-up, and was lost."""
    page.goto(served_table)
    page.get_by_text("Table", exact=True).click()
    boxes = page.locator(".patched .tabulator-row:visible input[type=checkbox]")
    expect(boxes).to_have_count(8)
    # A tab's new table is drawn again once Bokeh has laid it out (Panel's own resize
    # redraw), whenever that comes: wait until the boxes outlive a second of patches (20).
    # Before the guard's in-place patches they never did.
    deadline = time.monotonic() + 20
    while True:
        boxes.evaluate_all(MARK_BOXES)
        page.wait_for_timeout(1_000)
        if boxes.evaluate_all(MARKED_BOXES) == 8:
            break
        assert time.monotonic() < deadline, "every patch builds the table's rows anew"
    shown = _first_step(page)
    # A click held for half a second, ten patches, as a hesitant hand or a busy page makes.
    box = boxes.nth(2)
    box.hover()
    page.mouse.down()
    page.wait_for_timeout(500)
    page.mouse.up()
    expect(box).to_be_checked()
    page.wait_for_timeout(1_000)
    assert _first_step(page) > shown, "the table did not follow its patches"
    assert boxes.evaluate_all(MARKED_BOXES) == 8, "a patch built the rows anew"
    expect(box).to_be_checked()  # and the selection is still drawn
    assert page_problems == []
