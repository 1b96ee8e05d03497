"""The Horizon page's progress in a real browser: the analysis ends in its final status
with the bar full, and switching the sweep's axis sweeps off the server's loop with a
status line of its own."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def test_horizon_analysis_and_axis_switch_end_in_their_status_lines(
    page: Page, page_problems, served_dashboard
):
    page.goto(served_dashboard.url + "/?page=horizon")
    status = page.locator(".horizon-status:visible")
    expect(status).to_contain_text("analysed in", timeout=60_000)
    # Full and still once done (it stays in the layout: see WorkProgress).
    expect(page.locator("progress.horizon-progress")).to_have_attribute("value", "1000")
    page.get_by_role("button", name="against gamma").click()
    sweep_status = page.locator(".sweep-axis-status:visible")
    expect(sweep_status).to_contain_text("swept against gamma: 7 points in", timeout=30_000)
    expect(page.locator("progress.sweep-axis-progress")).to_have_attribute("value", "1000")
    assert page_problems == []
