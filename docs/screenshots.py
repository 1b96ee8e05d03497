"""Screenshots of every dashboard page from a real server, and how long each page takes.

    .venv/bin/python docs/screenshots.py                 # serves on a fresh home, writes
                                                         # docs/screenshots/<page>.png
    .venv/bin/python docs/screenshots.py --url URL --out DIR [--timings FILE]

Each page is opened the way a person does (its link loaded in Chromium at 1400 px wide),
waited on until its live data is drawn, and shot. ``--timings`` writes, per page, the
seconds from loading its link to first paint (the page's main view drawn) and to first
data (the default run's first figures), as a Markdown table. ``make screenshots`` runs the first form; the browser
tests run the second against their own server and check every picture.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: the browser tests' settings are the source
from tests.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

VIEWPORT = {"width": 1400, "height": 1000}
SAVED_WIDTH = 900  # pixels: small enough for the README, large enough to read the labels


@dataclass(frozen=True)
class PageShot:
    """One dashboard page: its tab, what shows it is painted, and what shows its data."""

    tab: str
    painted: str  # CSS selector visible once the page's main view is drawn
    data: str  # CSS selector of an element whose text shows the first data ...
    data_text: str  # ... once it contains this


PAGES = (
    PageShot("Live", ".scalar-chart .bk-Canvas", ".rollout-caption", "evaluation at step"),
    PageShot("Skills", ".trajectories-view .bk-Canvas", ".trajectories-caption", "step"),
    PageShot("Hilbert", ".learned-distance .bk-Canvas", ".hilbert-caption", "step"),
    PageShot("Curricula", ".task-space-view .bk-Canvas", ".curriculum-caption", "step"),
    PageShot("Landscapes", ".landscape-reward-map .bk-Canvas", ".landscape-caption", "step"),
    PageShot("Runs", ".runs-table", ".runs-table", "U-maze"),
    PageShot("Environments", ".environment-card", ".environment-card", "Plane-v0"),
    PageShot("Horizon", ".horizon-status", ".horizon-figures", "min_k"),
)


def is_blank(png: bytes) -> bool:
    """Whether a screenshot is (nearly) one colour: nothing was drawn."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    return float(pixels.std()) < 2.0


def save_small(png: bytes, path: Path) -> None:
    """``png`` scaled to SAVED_WIDTH and reduced to 128 colours: tens of kB, not MB."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    height = round(image.height * SAVED_WIDTH / image.width)
    small = image.resize((SAVED_WIDTH, height), Image.LANCZOS)
    small.quantize(colors=128).save(path, optimize=True)


def _wait_until(page: Page, selector: str, text: str | None, timeout_s: float) -> None:
    """Until ``selector`` is visible (and, with ``text``, contains it: Playwright reads the
    text of Panel's widgets inside their shadow roots)."""
    locator = page.locator(f"{selector}:visible").first
    if text is None:
        expect(locator).to_be_visible(timeout=timeout_s * 1000)
    else:
        expect(locator).to_contain_text(text, timeout=timeout_s * 1000)


def shoot(
    url: str,
    out: Path,
    browser: Browser | None = None,
    timeout_s: float = 300.0,
    pages: tuple[PageShot, ...] = PAGES,
) -> dict[str, tuple[float, float]]:
    """Open each of ``pages`` (every page of the dashboard) at ``url`` (in ``browser``, else
    a Chromium of its own); write ``out/<page>.png``; return, per page, (seconds to first
    paint, seconds to first data)."""
    if browser is None:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                return shoot(url, out, chromium, timeout_s, pages)
            finally:
                chromium.close()
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, tuple[float, float]] = {}
    page = browser.new_page(viewport=VIEWPORT)
    try:
        for shot in pages:
            start = time.monotonic()
            page.goto(f"{url.rstrip('/')}/?page={shot.tab.lower()}")  # as a link opens it
            _wait_until(page, shot.painted, None, timeout_s)
            painted = time.monotonic() - start
            _wait_until(page, shot.data, shot.data_text, timeout_s)
            timings[shot.tab] = (painted, time.monotonic() - start)
            page.wait_for_timeout(3_000)  # the figures drawn from that data
            png = page.screenshot(full_page=True)
            if is_blank(png):
                raise RuntimeError(f"the {shot.tab} page is blank")
            save_small(png, out / f"{shot.tab.lower()}.png")
    finally:
        page.close()
    return timings


def timings_table(timings: dict[str, tuple[float, float]]) -> str:
    lines = ["| page | first paint (s) | first data (s) |", "|---|---:|---:|"]
    lines += [f"| {tab} | {paint:.1f} | {data:.1f} |" for tab, (paint, data) in timings.items()]
    return "\n".join(lines) + "\n"


def _serve(home: Path, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [str(REPO / ".venv/bin/workbench"), "--home", str(home), "serve", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=20):
                return process
        except OSError:
            time.sleep(0.5)
    os.killpg(process.pid, signal.SIGTERM)
    raise TimeoutError("the dashboard did not answer within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a served dashboard (default: serve one on a fresh home)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--timings", type=Path, help="write the timings table here")
    parser.add_argument("--port", type=int, default=5099)
    args = parser.parse_args()
    process = None
    with tempfile.TemporaryDirectory() as home:
        url = args.url
        if url is None:
            process = _serve(Path(home), args.port)
            url = f"http://127.0.0.1:{args.port}"
        try:
            timings = shoot(url, args.out)
        finally:
            if process is not None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=60)
    table = timings_table(timings)
    print(table)
    if args.timings:
        args.timings.write_text(table)
    print(f"screenshots in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
