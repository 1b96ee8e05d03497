"""A classroom on one server: what browser sessions cost the run that trains.

``workbench serve --no-demo`` with a PPO run training in its subprocess worker, watched by
0, 1, 8 and 30 Chromium pages on the Live page; then page loads one after another (each page
closed before the next opens), timed from the request to the run's state on the page, with
the server's memory before and after.

Students' browsers run on their own machines: here the browser is pinned to the last core
and the server and its trainer to the others (``taskset``), so that what is measured is the
server's cost, not Chromium's drawing. Targets (issue 16.10): with 8 sessions at least 80% of
the throughput with none; after the page loads, the server's memory within 10% of before.

    .venv/bin/python benchmarks/bench_classroom.py [--sessions 0 1 8 30] [--window 30]
        [--loads 200] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

from _results import machine_line, write_section  # noqa: E402

from tests.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

RUN_NAME = "classroom"


def _cores() -> tuple[str, str]:
    """CPU lists for the server (and its trainer) and for the browser."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("needs at least 2 cores: one for the browser, the rest for the server")
    return ",".join(map(str, cores[:-1])), str(cores[-1])


def _server_memory_mib(pid: int) -> float:
    """Resident memory of the server process (its trainer worker not counted)."""
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


class Classroom:
    """The served dashboard, its training run and a browser, on separate cores."""

    def __init__(self, home: Path) -> None:
        from tests.conftest import free_port, wait_for_http
        from workbench.runs import Run, RunStore

        server_cores, browser_cores = _cores()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        workbench = str(Path(sys.executable).parent / "workbench")
        log = home / "server.log"
        with log.open("w") as output:  # a file, not a pipe nobody reads
            self.server = subprocess.Popen(
                ["taskset", "-c", server_cores, workbench, "--home", str(home), "serve",
                 "--no-demo", "--port", str(self.port)],
                stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait_for_http(self.url, self.server, log)
        # The trainer: a subprocess worker, as the dashboard starts them, on the server's cores.
        os.sched_setaffinity(0, {int(c) for c in server_cores.split(",")})
        self.run = Run.create(
            "sb3", store=RunStore(home), name=RUN_NAME, total_timesteps=10**9, eval_every=4_000
        )
        self.run.start("subprocess")
        os.sched_setaffinity(0, {int(c) for c in [*server_cores.split(","), browser_cores]})
        wrapper = home / "chromium-on-its-core"
        wrapper.write_text(f'#!/bin/sh\nexec taskset -c {browser_cores} {CHROMIUM} "$@"\n')
        wrapper.chmod(0o755)
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self.browser = self._playwright.chromium.launch(
            executable_path=str(wrapper), args=CHROMIUM_ARGS
        )

    def steps_per_second(self, seconds: float) -> float:
        start_step, start = self.run.step, time.monotonic()
        time.sleep(seconds)
        return (self.run.step - start_step) / (time.monotonic() - start)

    def open_live_page(self):
        """A page on the Live tab showing the run; returns it and its load time (s)."""
        from playwright.sync_api import expect

        page = self.browser.new_page(viewport={"width": 1280, "height": 900})
        start = time.monotonic()
        page.goto(self.url)
        expect(page.locator(".run-state:visible")).to_contain_text("running", timeout=120_000)
        return page, time.monotonic() - start

    def close(self) -> None:
        self.run.stop(wait=30)
        self.browser.close()
        self._playwright.stop()
        os.killpg(self.server.pid, signal.SIGTERM)
        self.server.wait(timeout=30)


def measure(sessions: list[int], window: float, loads: int, write: bool) -> None:
    home = Path(tempfile.mkdtemp(prefix="bench-classroom-"))
    room = Classroom(home)
    throughput: dict[int, float] = {}
    try:
        room.run.wait_for_step(4_000, timeout=300)  # past start-up and the first evaluation
        for count in sessions:
            pages = [room.open_live_page()[0] for _ in range(count)]
            time.sleep(10)  # the pages' first draws done
            throughput[count] = room.steps_per_second(window)
            print(f"{count:3d} sessions: {throughput[count]:7.0f} steps/s", flush=True)
            for page in pages:
                page.close()
            time.sleep(5)
        before = _server_memory_mib(room.server.pid)
        times = []
        for i in range(loads):
            page, seconds = room.open_live_page()
            page.close()
            times.append(seconds)
            if i % 20 == 0:
                print(f"load {i}: {seconds:.2f} s", flush=True)
        time.sleep(10)  # closed sessions are let go
        after = _server_memory_mib(room.server.pid)
    finally:
        room.close()

    base = throughput[min(throughput)]
    rows = "\n".join(
        f"| {count} | {rate:,.0f} | {rate / base:.0%} |" for count, rate in throughput.items()
    )
    quantiles = statistics.quantiles(times, n=20)
    p50, p95 = statistics.median(times), quantiles[18]
    eight = throughput.get(8, 0.0) / base
    growth = after / before - 1
    body = f"""## A classroom on one server: sessions against training throughput (issue 16.10)

`workbench serve --no-demo`; a PPO run (SB3Config defaults on the U-maze, evaluation every
4,000 steps) training in its subprocess worker; N Chromium pages on the Live page showing it.
The browser is pinned to the last core, the server and its trainer to the others: students'
browsers run on their own machines. Throughput is the run's steps over {window:g} s, 10 s after
the pages opened. Then {loads} page loads one after another (each closed before the next),
from the request to the run's state shown.
Command: `.venv/bin/python benchmarks/bench_classroom.py --sessions {" ".join(map(str, sessions))} --window {window:g} --loads {loads}`
Machine: {machine_line()}

| sessions | env steps/s | of none |
|---:|---:|---:|
{rows}

Page loads: p50 {p50:.2f} s, p95 {p95:.2f} s. Server memory {before:.0f} MiB before the loads,
{after:.0f} MiB 10 s after the last closed ({growth:+.0%}).

Targets: 8 sessions keep at least 80% of the throughput with none: **{"met" if eight >= 0.8 else "NOT met"}**
({eight:.0%}); memory after the loads within 10% of before: **{"met" if growth <= 0.10 else "NOT met"}**
({growth:+.0%})."""
    print(body)
    if write:
        write_section("classroom", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[0, 1, 8, 30])
    parser.add_argument("--window", type=float, default=30.0, help="seconds per throughput")
    parser.add_argument("--loads", type=int, default=200, help="page loads one after another")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args = parser.parse_args()
    measure(args.sessions, args.window, args.loads, not args.no_write)


if __name__ == "__main__":
    main()
