"""The served dashboard in a real browser."""

from __future__ import annotations

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
