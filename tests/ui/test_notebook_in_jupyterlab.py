"""A tutorial notebook opened and run in a real JupyterLab, in a real browser.

Executing cells (nbmake) does not prove that widgets render or that a streamed plot
updates: only a connected browser makes Panel send updates.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import REPO, free_port, wait_for_http

NOTEBOOK = "environments_tour.ipynb"


@pytest.fixture(scope="module")
def jupyter_lab(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """A JupyterLab server over a copy of the notebooks (so nothing is saved into the
    repository); yields its URL and token."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(REPO / "notebooks" / NOTEBOOK, root / NOTEBOOK)
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(root / ".config"),
        "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
        "PANEL_INLINE": "1",  # no CDN: the kernel inherits it
        "PYTHONPATH": str(REPO),
    }
    process = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
            "--ip=127.0.0.1", "--allow-root", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
        ],
        env=env,
        stdout=(root / "jupyterlab.log").open("w"),  # a pipe nobody reads would fill and block
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/api/status?token={token}", process, root / "jupyterlab.log")
        yield url, token
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _run_all_cells(page: Page) -> None:
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=60_000)
    first_prompt = page.locator(".jp-NotebookPanel:visible .jp-CodeCell .jp-InputArea-prompt").first
    for _ in range(3):
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        try:
            expect(first_prompt).to_have_text(re.compile(r"\[(\*|\d+)\]"), timeout=10_000)
            return
        except AssertionError:
            continue  # the kernel was not connected yet and the click was lost
    raise AssertionError("JupyterLab did not start running the notebook")


def _steps_shown(counter) -> int:
    # The text lives in the pane's shadow root, which Playwright's text locators pierce.
    text = counter.get_by_text(re.compile(r"steps: \d+")).inner_text()
    match = re.search(r"steps: (\d+)", text)
    assert match, f"no step count in {text!r}"
    return int(match.group(1))


def test_tour_notebook_runs_in_jupyterlab_and_its_live_plot_updates(page: Page, jupyter_lab):
    url, token = jupyter_lab
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
    page.goto(f"{url}/lab/workspaces/{secrets.token_hex(4)}/tree/{NOTEBOOK}?reset&token={token}")
    _run_all_cells(page)

    outputs = page.locator(".jp-NotebookPanel:visible .jp-OutputArea-output")
    cards = outputs.locator(".environment-card:visible")
    expect(cards.first).to_be_visible(timeout=120_000)
    counter = outputs.locator(".rollout-steps:visible")
    expect(counter).to_contain_text("steps:", timeout=120_000)
    plot = outputs.locator(".rollout-plot .bk-Canvas:visible").first
    expect(plot).to_be_visible(timeout=60_000)
    plot.scroll_into_view_if_needed()

    first_count, first_picture = _steps_shown(counter), plot.screenshot()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _steps_shown(counter) <= first_count + 100:
        page.wait_for_timeout(500)
    assert _steps_shown(counter) > first_count + 100, "the step counter did not grow"
    # The plot redraws at its own pace, behind the counter on a busy machine: poll it.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and plot.screenshot() == first_picture:
        page.wait_for_timeout(500)
    assert plot.screenshot() != first_picture, "the live plot did not change"
    # The last cell ran too (it prints after taking steps by hand).
    expect(outputs.filter(has_text="steps so far:")).to_have_count(1, timeout=60_000)
    external = [f for f in failed if "127.0.0.1" not in f]
    assert external == [], f"requests left the machine (a CDN?): {external}"
