"""The objective beside the picture, in a real browser: a tutorial notebook served as an
app whose live view moves, and the Horizon page's maths rendered, at 1280 px without
anything cut off."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import REPO, panel_served

QUICKSTART = REPO / "notebooks" / "00_quickstart.ipynb"


@pytest.fixture(scope="module")
def served_quickstart(tmp_path_factory) -> Iterator[str]:
    """``panel serve notebooks/00_quickstart.ipynb`` in quick mode on 127.0.0.1, over a
    fresh run store; yields its URL."""
    home = tmp_path_factory.mktemp("quickstart-home")
    env = {"WORKBENCH_QUICK": "1", "RL_WORKBENCH_HOME": str(home)}
    with panel_served(QUICKSTART, home.parent / f"{home.name}-panel.log", env) as url:
        yield url


def _step(page: Page) -> int:
    text = page.locator(".run-step:visible").first.evaluate("e => (e.shadowRoot || e).textContent")
    match = re.search(r"(\d+)\s*$", text)
    return int(match.group(1)) if match else -1


def test_quickstart_served_as_an_app_shows_its_run_view_moving(
    page: Page, page_problems, served_quickstart
):
    page.goto(served_quickstart, timeout=180_000)  # the page comes once its cells have run
    expect(page.locator(".run-state:visible").first).to_contain_text("running", timeout=60_000)
    expect(page.locator(".scalar-chart .bk-Canvas:visible").first).to_be_visible(timeout=30_000)
    first = _step(page)
    deadline = time.monotonic() + 90
    while _step(page) <= first and time.monotonic() < deadline:
        page.wait_for_timeout(500)
    assert _step(page) > first, "the served notebook's run view did not move"
    assert page_problems == []


def _cut_off(page: Page) -> list[str]:
    """Visible pictures, maths and inputs of the page whose right edge lies past the
    window's: cut off, whether or not the page scrolls."""
    return page.evaluate(
        """() => {
        const width = document.scrollingElement.clientWidth, cut = [];
        const all = (root, found) => {
            root.querySelectorAll('*').forEach(e => {
                if (e.matches('canvas, img, mjx-container, input, select, button')) found.push(e);
                if (e.shadowRoot) all(e.shadowRoot, found);
            });
            return found;
        };
        for (const e of all(document, [])) {
            const box = e.getBoundingClientRect();
            if (box.width > 0 && box.height > 0 && box.right > width + 1)
                cut.push(`${e.tagName} ${e.className} right=${Math.round(box.right)}`);
        }
        return cut;
    }"""
    )


def test_horizon_page_fits_1280_px_and_renders_its_definitions_as_maths(
    page: Page, page_problems, served_dashboard
):
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.goto(served_dashboard.url + "/")
    page.locator(".bk-tab", has_text="Horizon").click()
    figures = page.locator(".horizon-figures:visible")
    expect(figures).to_contain_text("min_k", timeout=60_000)
    # Every figure drawn, then measured.
    for css in (".bound-chart", ".sweep-horizons", ".sweep-returns", ".lookahead-map"):
        expect(page.locator(f"{css} .bk-Canvas:visible").first).to_be_visible(timeout=30_000)
    expect(page.locator(".horizon-picture img:visible").first).to_be_visible(timeout=30_000)
    maths = page.locator(".objective-formula mjx-container:visible").first
    expect(maths).to_be_visible(timeout=30_000)
    box, deadline = None, time.monotonic() + 10
    while box is None and time.monotonic() < deadline:
        box = maths.bounding_box()  # None while MathJax typesets a new value again
    assert box is not None and box["width"] > 150  # typeset, not the raw TeX
    expect(page.locator(".objective-formula:visible").first).not_to_contain_text(r"\knob")
    page.wait_for_timeout(1_000)  # the last layout pass
    scroll, client = page.evaluate(
        "[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
    )
    assert scroll <= client, f"the page scrolls sideways: {scroll} > {client} px"
    assert _cut_off(page) == []
    assert page_problems == []
