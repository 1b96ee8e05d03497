"""A Tabulator patched while a dynamic tab rebuilds it: without the guard, Panel 1.9 threw
"Cannot read properties of null" in about one page in three (CI's Hilbert page failure,
from the Runs table patched in the background)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import REPO, free_port, wait_for_http

APP = Path(__file__).parent / "apps" / "patched_table.py"


@pytest.fixture(scope="module")
def served_table(tmp_path_factory) -> Iterator[str]:
    port, log = free_port(), tmp_path_factory.mktemp("patched-table") / "panel.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "panel", "serve", str(APP), "--address", "127.0.0.1",
                "--port", str(port), "--allow-websocket-origin", f"127.0.0.1:{port}",
                "--liveness",
            ],
            cwd=REPO, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/liveness", process, log)
        yield f"http://127.0.0.1:{port}/{APP.stem}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


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
