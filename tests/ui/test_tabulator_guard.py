"""A Tabulator patched while a dynamic tab rebuilds it: without the guard, Panel 1.9 threw
"Cannot read properties of null" in about one page in three (CI's Hilbert page failure,
from the Runs table patched in the background)."""

from __future__ import annotations

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
