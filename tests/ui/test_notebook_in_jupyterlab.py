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
QUICKSTART = "00_quickstart.ipynb"
# Tutorials whose live run view sits above a cell that waits for the run (code cell 3). nbmake
# does not run them (notebooks/conftest.py): these tests execute every cell, as nbmake would.
TUTORIALS = ("01_metra_skills.ipynb", "02_hilp_zero_shot.ipynb")


@pytest.fixture(scope="module")
def jupyter_lab(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """A JupyterLab server over a copy of the notebooks (so nothing is saved into the
    repository); yields its URL and token."""
    root = tmp_path_factory.mktemp("lab")
    for name in (NOTEBOOK, QUICKSTART, *TUTORIALS):
        shutil.copy(REPO / "notebooks" / name, root / name)
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(root / ".config"),
        "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
        "PANEL_INLINE": "1",  # no CDN: the kernel inherits it
        "PYTHONPATH": str(REPO),
        "RL_WORKBENCH_HOME": str(root / "home"),  # never the user's run store
    }
    # A file, not a pipe: a pipe nobody reads would fill and block the server.
    with (root / "jupyterlab.log").open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
                "--ip=127.0.0.1", "--allow-root", f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
            ],
            env=env, stdout=log, stderr=subprocess.STDOUT,
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


def _text(locator) -> str:
    """An element's text whether or not it is drawn: JupyterLab skips drawing cells scrolled
    out of view (CSS content-visibility), and their innerText is then empty."""
    return locator.evaluate("e => e.textContent")


def _tracebacks(page: Page) -> list[str]:
    """Text of every error or stderr output that holds a traceback (widget callbacks print
    theirs there), in view or not."""
    errors = page.locator(
        ".jp-NotebookPanel:visible .jp-OutputArea-output"
        '[data-mime-type="application/vnd.jupyter.stderr"]'
    )
    texts = [_text(error) for error in errors.all()]
    return [t[:400] for t in texts if "Traceback" in t or "Error:" in t]


def _shown_number(locator) -> int:
    """The number a Panel StaticText ends with (its text is in a shadow root, after styles)."""
    text = locator.evaluate("e => (e.shadowRoot || e).textContent")
    match = re.search(r"(\d+)\s*$", text)
    return int(match.group(1)) if match else -1


def _painted_share(png: bytes) -> float:
    """Share of a screenshot's pixels that are not white (a blank picture is about 0)."""
    import io

    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return float((pixels.min(-1) < 235).mean())


def _run_all_and_watch_the_run_view(page: Page, jupyter_lab, name: str):
    """Open ``name``, Run All, and check that the run view's step moves while the cells
    from code cell 3 on (``run.wait_for_step`` and the rest) keep the kernel busy; returns
    the notebook and its code cells."""
    url, token = jupyter_lab
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{url}/lab/workspaces/{secrets.token_hex(4)}/tree/{name}?reset&token={token}")
    _run_all_cells(page)

    notebook = page.locator(".jp-NotebookPanel:visible")
    code_cells = notebook.locator(".jp-CodeCell")
    waiting_prompt = code_cells.nth(3).locator(".jp-InputArea-prompt")
    last_prompt = code_cells.last.locator(".jp-InputArea-prompt")
    step_text = notebook.locator(".run-step").first
    expect(step_text).to_be_attached(timeout=180_000)
    expect(waiting_prompt).to_have_text("[*]:", timeout=180_000)
    step_text.scroll_into_view_if_needed()  # a student scrolls back up to watch the run
    seen = set()
    # Until the last cell has run: on a fast machine the quick run reaches cell 3's step
    # within 2 s, before the kernel opens the view's comm (widgets.common.live).
    while "*" in _text(last_prompt):
        seen.add(_shown_number(step_text))
        page.wait_for_timeout(200)
    # It moved while later cells ran (it stayed at step 0 until the whole notebook had run).
    assert len(seen) >= 2 and max(seen) > 0, (
        f"the view showed steps {sorted(seen)} while later cells ran"
    )
    return notebook, code_cells


def test_quickstart_run_all_updates_its_view_while_later_cells_wait(page: Page, jupyter_lab):
    """A student's Run All: the run view moves while `run.wait_for_step` blocks the kernel,
    the rollout picture is drawn, and no traceback appears in any output."""
    notebook, code_cells = _run_all_and_watch_the_run_view(page, jupyter_lab, QUICKSTART)

    # Run All finishes: the last code cell gets its number.
    last_prompt = code_cells.last.locator(".jp-InputArea-prompt")
    expect(last_prompt).to_have_text(re.compile(r"\[\d+\]"), timeout=600_000)
    rollout = notebook.locator(".rollout-view").first
    rollout.scroll_into_view_if_needed()
    expect(notebook.locator(".rollout-caption").first).to_contain_text("step", timeout=60_000)
    page.wait_for_timeout(1_000)
    assert _painted_share(rollout.screenshot()) > 0.002, "the rollout picture is blank"
    assert _tracebacks(page) == []
    # Its formulas are typeset as maths (JupyterLab's MathJax), not left as $...$ source.
    maths = notebook.locator(".jp-MarkdownCell mjx-container")
    maths.first.scroll_into_view_if_needed()
    expect(maths.first).to_be_visible(timeout=30_000)
    rendered = notebook.locator(".jp-MarkdownCell .jp-RenderedMarkdown")
    assert not any("$" in text for text in rendered.all_inner_texts()), "raw $...$ left"


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_run_all_updates_its_view_while_later_cells_wait(page: Page, jupyter_lab, name):
    """Run All of a tutorial: its run view (METRA's skills, HILP's distances) moves while the
    next cell waits for the run, every cell runs to the end with its output kept, no traceback
    appears, and the objective beside the view is typeset."""
    notebook, code_cells = _run_all_and_watch_the_run_view(page, jupyter_lab, name)

    prompts = code_cells.locator(".jp-InputArea-prompt")
    expect(prompts.last).to_have_text(re.compile(r"\[\d+\]"), timeout=600_000)
    numbered = [_text(prompt) for prompt in prompts.all()]
    assert all(re.fullmatch(r"\[\d+\]:", p) for p in numbered), f"prompts {numbered}"
    # The cell that waited kept what it printed.
    assert "at step" in _text(code_cells.nth(3).locator(".jp-OutputArea"))
    assert _tracebacks(page) == []
    formula = notebook.locator(".objective-formula").first
    formula.scroll_into_view_if_needed()
    expect(formula.locator("mjx-container").first).to_be_visible(timeout=30_000)
