"""The served dashboard in a real browser."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from environments import ENVIRONMENTS


def test_dashboard_lists_and_draws_every_environment(page, page_problems, served_dashboard):
    page.goto(served_dashboard + "/")
    cards = page.locator(".environment-card:visible")
    expect(cards).to_have_count(len(ENVIRONMENTS), timeout=30_000)
    for info in ENVIRONMENTS:
        expect(cards.filter(has_text=info.id)).to_have_count(1)
    pictures = page.locator(".environment-card img:visible")
    expect(pictures).to_have_count(len(ENVIRONMENTS))
    widths = pictures.evaluate_all("images => images.map(i => i.complete ? i.naturalWidth : 0)")
    assert min(widths) > 0, widths
    assert page_problems == []


def _steps_shown(page) -> int:
    text = page.locator(".rollout-steps:visible").get_by_text(re.compile(r"\d+")).inner_text()
    return int(re.search(r"(\d+)", text).group(1))


def test_dashboard_live_plot_streams_while_the_page_is_open(page, page_problems, served_dashboard):
    page.goto(served_dashboard + "/")
    plot = page.locator(".rollout-plot .bk-Canvas:visible").first
    expect(plot).to_be_visible(timeout=30_000)
    expect(page.locator(".rollout-steps:visible")).to_contain_text("steps", timeout=30_000)
    first_count, first_picture = _steps_shown(page), plot.screenshot()
    page.wait_for_timeout(2_000)
    assert _steps_shown(page) > first_count
    assert plot.screenshot() != first_picture
    assert page_problems == []
