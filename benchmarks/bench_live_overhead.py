"""What watching costs: SB3 training throughput headless, as a live Run writing to the
store, and as a live Run shown in a served dashboard with one connected browser.

All three train the same PPO model (``SB3Config`` defaults on the U-maze, dense reward, no
evaluation rollouts) for the same number of steps, each in its own process with one torch
thread, one after the other, repeated; the median of each is reported. Target (issue 3):
the live runs keep at least 95% of headless throughput.

    .venv/bin/python benchmarks/bench_live_overhead.py [--steps 40000] [--repeats 3]

With ``--memory-minutes M`` it instead serves the dashboard with a run streaming and one
browser connected for M minutes, sampling the server's resident memory (issue 3: bounded).
"""

from __future__ import annotations

import argparse
import json
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

from tests.conftest import CHROMIUM_ARGS  # noqa: E402

KNOBS = {"eval_every": 0, "checkpoint_every": 0}


def headless_child(steps: int) -> None:
    """In a fresh process: plain ``model.learn`` with no callback and no logger output."""
    import torch

    from workbench.trainers.sb3 import SB3Config, build_model

    torch.set_num_threads(1)
    model = build_model(SB3Config(**KNOBS, total_timesteps=steps))
    start = time.perf_counter()
    model.learn(steps)
    print(json.dumps({"seconds": time.perf_counter() - start}))


def headless(steps: int) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--headless-child", str(steps)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return steps / json.loads(out.strip().splitlines()[-1])["seconds"]


def steps_per_second(run) -> float:
    """Steps over the time from the worker's "running" event (trainer built) to
    "finished", so process start-up is not counted."""
    if run.wait(timeout=1800) != "finished":
        raise RuntimeError(f"benchmark run ended {run.state}: {run.record.message}")
    times = (
        run.store._connect()
        .execute(
            "SELECT payload, time FROM events WHERE run_id = ? AND kind = 'state' ORDER BY rowid",
            (run.id,),
        )
        .fetchall()
    )
    started = next(t for p, t in times if json.loads(p) == {"state": "running", "message": ""})
    finished = next(t for p, t in times if json.loads(p)["state"] == "finished")
    return run.step / (finished - started)


def live_run(steps: int, home: Path) -> float:
    """A Run in a subprocess worker (the dashboard's executor), writing to the store."""
    from workbench.runs import Run, RunStore

    run = Run.create("sb3", store=RunStore(home), total_timesteps=steps, **KNOBS)
    return steps_per_second(run.start("subprocess"))


class ServedDashboard:
    """``workbench serve --no-demo`` over a home, with one browser page on the Live tab."""

    def __init__(self, home: Path) -> None:
        from tests.conftest import free_port, wait_for_http

        self.port = free_port()
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "workbench"),
                "--home",
                str(home),
                "serve",
                "--no-demo",
                "--port",
                str(self.port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_http(f"http://127.0.0.1:{self.port}/", self.process)
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self.browser = self._playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        self.page = self.browser.new_page()

    def watch(self, run_id: str, name: str) -> None:
        self.page.goto(f"http://127.0.0.1:{self.port}/")
        self.page.locator(".run-select select").select_option(label=f"{name} ({run_id})")

    def close(self) -> None:
        self.browser.close()
        self._playwright.stop()
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def watched_run(steps: int, home: Path, dashboard: ServedDashboard) -> float:
    """A live run started while the dashboard page is open; the page switches to it."""
    from workbench.runs import Run, RunStore

    store = RunStore(home)
    run = Run.create("sb3", store=store, name="watched", total_timesteps=steps, **KNOBS)
    run.start("subprocess")
    dashboard.page.wait_for_timeout(1_500)  # the run select refreshes twice a second
    dashboard.watch(run.id, "watched")
    return steps_per_second(run)


def throughput(steps: int, repeats: int, write: bool) -> None:
    home = Path(tempfile.mkdtemp(prefix="bench-live-"))
    results: dict[str, list[float]] = {"headless": [], "store": [], "dashboard": []}
    dashboard = ServedDashboard(home)
    try:
        for repeat in range(repeats):
            results["headless"].append(headless(steps))
            results["store"].append(live_run(steps, home))
            results["dashboard"].append(watched_run(steps, home, dashboard))
            print(repeat, {k: round(v[-1]) for k, v in results.items()}, flush=True)
    finally:
        dashboard.close()
    median = {k: statistics.median(v) for k, v in results.items()}
    rows = "\n".join(
        f"| {label} | {median[key]:,.0f} | {median[key] / median['headless']:.1%} | {', '.join(f'{v:,.0f}' for v in results[key])} |"
        for key, label in (
            ("headless", "headless `model.learn` (no callback, no logger)"),
            ("store", "live Run, subprocess worker, writing to the store"),
            ("dashboard", "live Run shown in a served dashboard, one browser connected"),
        )
    )
    worst = min(median["store"], median["dashboard"]) / median["headless"]
    body = f"""## Cost of watching: SB3 throughput headless vs live (issue 3)

PPO (SB3Config defaults: U-maze, dense reward, 4 envs, 64x64), {steps:,} steps, no evaluation
rollouts or checkpoints, one torch thread per process; median of {repeats} alternating repeats.
Command: `.venv/bin/python benchmarks/bench_live_overhead.py --steps {steps} --repeats {repeats}`
Machine: {machine_line()}

| setting | env steps/s (median) | of headless | all repeats |
|---|---:|---:|---|
{rows}

Target: live runs keep at least 95% of headless throughput: **{"met" if worst >= 0.95 else "NOT met"}** (worst {worst:.1%})."""
    print(body)
    if write:
        write_section("live_overhead", body)


def memory(minutes: float, write: bool) -> None:
    import psutil

    from workbench.runs import Run, RunStore

    home = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    dashboard = ServedDashboard(home)
    run = Run.create(
        "sb3", store=RunStore(home), name="streaming", total_timesteps=10**9, eval_every=4_000
    )
    run.start("subprocess")
    try:
        dashboard.page.wait_for_timeout(1_500)
        dashboard.watch(run.id, "streaming")
        server = psutil.Process(dashboard.process.pid)
        samples = []
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < minutes * 60:
            rss = server.memory_info().rss + sum(
                c.memory_info().rss
                for c in server.children(recursive=True)
                if "worker" not in " ".join(c.cmdline())
            )
            samples.append((elapsed, rss / 2**20, run.step))
            print(
                f"{elapsed:6.0f} s  server RSS {rss / 2**20:7.1f} MiB  run step {run.step}",
                flush=True,
            )
            time.sleep(30)
    finally:
        run.stop(wait=30)
        dashboard.close()
    first_minute = [m for t, m, _ in samples if t >= 60][:1] or [samples[0][1]]
    table = "\n".join(
        f"| {t / 60:.1f} | {m:.1f} | {s:,} |" for t, m, s in samples[:: max(1, len(samples) // 12)]
    )
    growth = samples[-1][1] - first_minute[0]
    body = f"""## Memory of a served dashboard while a run streams (issue 3)

`workbench serve` with one browser on the Live page of a PPO run streaming for {minutes:g} minutes
(evaluation rollouts every 4,000 steps); resident memory of the server process.
Command: `.venv/bin/python benchmarks/bench_live_overhead.py --memory-minutes {minutes:g}`
Machine: {machine_line()}

| minute | server RSS (MiB) | run step |
|---:|---:|---:|
{table}

Growth from minute 1 to the end: {growth:+.1f} MiB over {samples[-1][2]:,} steps; the chart keeps at most
1,000 points per run (pair-averaged beyond that), so memory does not grow with the run's length."""
    print(body)
    if write:
        write_section("live_memory", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-minutes", type=float, default=None)
    parser.add_argument("--headless-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args = parser.parse_args()
    if args.headless_child:
        headless_child(args.headless_child)
    elif args.memory_minutes:
        memory(args.memory_minutes, not args.no_write)
    else:
        throughput(args.steps, args.repeats, not args.no_write)


if __name__ == "__main__":
    main()
