"""Shared fixtures: a run store that stops its runs, a served dashboard in a subprocess, a
free port, and the browser: Playwright runs Debian's chromium (it cannot download a browser
of its own here)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tmp_path):
    """A fresh run store. A failed assertion must not leave a run training in this process
    for the rest of the suite (it would slow every later test): running and paused runs
    are stopped at the end. Modules that need another store define their own."""
    from workbench.runs import Run, RunStore

    store = RunStore(tmp_path / "home")
    yield store
    for record in store.list_runs():
        if record.state in ("running", "paused"):
            Run(store, record.id).stop(wait=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    """Wait until ``url`` answers 200; ``log`` holds the server's output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            # A first page can take seconds on a busy machine: a short timeout would only
            # pile up abandoned sessions that each render the page again.
            with urllib.request.urlopen(url, timeout=20) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


class Served(NamedTuple):
    url: str
    home: Path
    log: Path  # the server's output, for failure messages


@pytest.fixture(scope="module")
def served_dashboard(tmp_path_factory) -> Iterator[Served]:
    """The README's ``make serve`` in a subprocess (its own process group) over a fresh
    workbench home, with its embedded demo run training."""
    port = free_port()
    home = tmp_path_factory.mktemp("workbench-home")
    # A file, not a pipe: nobody reads a pipe while the tests run, and a server whose pipe
    # is full blocks on its next log line and stops answering the browser.
    log = home.parent / f"{home.name}-server.log"
    with log.open("w") as output:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            ["make", "--no-print-directory", "serve", f"PORT={port}"],
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "RL_WORKBENCH_HOME": str(home)},
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/", process, log)
        yield Served(url, home, log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server stops its demo run, then exits
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture
def page_problems(page):
    """Console errors and failed network requests of ``page``; a test asserts it is empty.

    Any request leaving the machine fails here (no internet), so this also proves the
    page needs no CDN."""
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
    return problems


@contextlib.contextmanager
def panel_served(app: Path, log: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``panel serve APP`` on 127.0.0.1 (its output in ``log``) until the block ends;
    yields the app's URL once the server listens (a GET would start a session)."""
    port = free_port()
    with log.open("w") as output:  # a file, not a pipe nobody reads
        process = subprocess.Popen(
            [
                sys.executable, "-m", "panel", "serve", str(app), "--address", "127.0.0.1",
                "--port", str(port), "--allow-websocket-origin", f"127.0.0.1:{port}",
                "--liveness",
            ],
            cwd=REPO, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/liveness", process, log)
        yield f"http://127.0.0.1:{port}/{app.stem}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def heading_look(page, pane, heading: str) -> tuple[str, str]:
    """A Markdown pane's ``heading`` size and inline-code colour, to compare a page's first
    load with a revisit. Read again when the pane was redrawn between finding an element
    and reading it (a detached element's computed style is empty)."""
    for _ in range(10):
        look = (
            pane.locator(heading).first.evaluate("e => getComputedStyle(e).fontSize"),
            pane.locator("code").first.evaluate("e => getComputedStyle(e).color"),
        )
        if all(look):
            break
        page.wait_for_timeout(300)
    return look
