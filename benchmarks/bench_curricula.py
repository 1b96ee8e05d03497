"""Curriculum teachers on the teachDeepRL toy task space, and what a GMM refit costs a student.

Part ``toy`` (issue 17): ALP-GMM, RIAC, Covar-GMM and Random, each over ``--seeds`` seeds
x ``--episodes`` episodes of the toy space ("% of mastered cells": 10 x 10 cells of
[0, 1]^2, mastery spreads from the corner), through ``workbench.curricula.toy.run_toy``,
which ``workbench curriculum toy`` runs too. Table: mastered % at 5k/10k/15k/20k
episodes (mean, min-max over seeds), seconds per run, teacher microseconds per sample
and per update.

Then the cost of a GMM refit as the student sees it. A stand-in student spends
``--episode-ms`` per episode (20 and 100 ms), either in pure Python (it holds the GIL all along, the
worst case for a worker thread) or in a numpy matrix product (it releases the GIL, as
torch's kernels do); around each refit the episodes' wall times are compared with the
same student's episodes without a fit. Synchronous: the update that refits stalls the
student for the whole fit. In the background (``refit_in_background=True``,
``apply_after`` 25): the update that starts the fit, the one that applies it (waiting if
it is still running) and the slowdown of the episodes in between.

Part ``student``: the cost of a teacher to a real student. SB3 PPO on the U-maze's goal
task trains ``--student-steps`` steps headless (thread executor, no evaluations or
checkpoints), as a plain ``sb3`` run (the layout's goal) and as a ``curriculum`` run whose
ALP-GMM teacher picks every episode's goal (refits in the background); the two alternate,
``--pairs`` times, so that both see the same machine. Target (issue 17): the curriculum run
keeps at least 95% of the plain run's steps per second.

    .venv/bin/python benchmarks/bench_curricula.py --parts toy [--seeds 3] [--episodes 20000]
        [--episode-ms 20 100] [--refits 4] [--no-write]
    .venv/bin/python benchmarks/bench_curricula.py --parts student [--student-steps 40000]
        [--pairs 3] [--no-write]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine_line, write_section

from workbench.curricula.alp_gmm import ALPGMM
from workbench.curricula.toy import ToyTaskSpace, run_toy

TEACHERS = ("alp-gmm", "riac", "covar-gmm", "random")
TABLE_EPISODES = (5_000, 10_000, 15_000, 20_000)


def toy_runs(episodes: int, seeds: int) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {}
    for name in TEACHERS:
        for seed in range(seeds):
            run = run_toy(name, episodes=episodes, seed=seed)
            runs.setdefault(name, []).append(run)
            print(
                f"{name:9s} seed {seed}: {[round(m) for m in run['mastered_percent']]} "
                f"({run['seconds']:.1f} s)",
                flush=True,
            )
    return runs


def student_episode(kind: str, episode_ms: float) -> None:
    """``episode_ms`` of work: pure Python (holds the GIL) or numpy (releases it)."""
    deadline = time.perf_counter() + episode_ms / 1000
    if kind == "python":
        while time.perf_counter() < deadline:
            sum(i * i for i in range(200))
    else:
        a = np.ones((160, 160))
        while time.perf_counter() < deadline:
            a @ a


def refit_cost(background: bool, kind: str, episode_ms: float, refits: int) -> dict[str, float]:
    """Around each of ``refits`` refits of a 2-D ALP-GMM on the toy space: the student's
    extra seconds (episodes' wall time past their own work), and the longest single
    teacher call. The toy episodes before each window run without student work."""
    teacher = ALPGMM(ToyTaskSpace().box, seed=0, refit_in_background=background, apply_after=25)
    space = ToyTaskSpace()
    before, window = 20, 25 + 10  # student episodes measured before and after a refit
    extra, longest_call, fit_seconds = [], [], []
    for _ in range(refits):
        # Quick toy episodes up to ``before`` episodes short of the next refit.
        while (teacher.n_updates + before) % teacher.fit_rate != 0:
            task = teacher.sample()
            teacher.update(task, space.episode(task))
        durations, calls = [], []
        for _ in range(before + window):
            started = time.perf_counter()
            task = teacher.sample()
            student_episode(kind, episode_ms)
            reward = space.episode(task)
            call = time.perf_counter()
            teacher.update(task, reward)
            calls.append(time.perf_counter() - call)
            durations.append(time.perf_counter() - started)
        baseline = statistics.median(durations[: before - 1])
        extra.append(sum(d - baseline for d in durations[before - 1 :]))
        longest_call.append(max(calls))
        fit_seconds.append(teacher.history[-1]["mixture"]["seconds"])
    return {
        "extra_s": statistics.median(extra),
        "longest_call_s": statistics.median(longest_call),
        "fit_s": statistics.median(fit_seconds),
    }


def figure(values: np.ndarray) -> str:
    return f"{values.mean():.1f} ({values.min():.0f}-{values.max():.0f})"


def toy_section(args: argparse.Namespace) -> str:
    started = time.strftime("%Y-%m-%d %H:%M")
    runs = toy_runs(args.episodes, args.seeds)
    rows = []
    for name, teacher_runs in runs.items():
        measured_at = teacher_runs[0]["episodes"]
        curves = np.array([run["mastered_percent"] for run in teacher_runs])
        cells = [
            figure(curves[:, measured_at.index(e)]) if e in measured_at else "-"
            for e in TABLE_EPISODES
        ]
        seconds = np.array([run["seconds"] for run in teacher_runs])
        sample_us = np.mean([run["sample_us"] for run in teacher_runs])
        update_us = np.mean([run["update_us"] for run in teacher_runs])
        update_median = np.mean([run["update_us_median"] for run in teacher_runs])
        rows.append(
            f"| {name} | {' | '.join(cells)} | {seconds.mean():.1f} | {sample_us:.0f} | "
            f"{update_us:.0f} ({update_median:.0f}) |"
        )
    refits = {
        name: statistics.median([s for run in runs[name] for s in run["refit_seconds"]])
        for name in ("alp-gmm", "covar-gmm")
    }
    costs = []
    for episode_ms in args.episode_ms:
        for kind in ("python", "numpy"):
            for background in (False, True):
                cost = refit_cost(background, kind, episode_ms, args.refits)
                costs.append((episode_ms, kind, background, cost))
                print(episode_ms, kind, "background" if background else "sync", cost, flush=True)
    cost_rows = "\n".join(
        f"| {episode_ms:g} "
        f"| {'pure Python (holds the GIL)' if kind == 'python' else 'numpy products (releases the GIL)'} "
        f"| {'background, apply_after 25' if background else 'synchronous'} "
        f"| {cost['fit_s'] * 1000:.0f} | {cost['longest_call_s'] * 1000:.0f} "
        f"| {cost['extra_s'] * 1000:.0f} |"
        for episode_ms, kind, background, cost in costs
    )
    command = (
        f".venv/bin/python benchmarks/bench_curricula.py --parts toy --seeds {args.seeds} "
        f"--episodes {args.episodes} --episode-ms {' '.join(f'{m:g}' for m in args.episode_ms)} "
        f"--refits {args.refits}"
    )
    columns = " | ".join(f"mastered % at {e:,}" for e in TABLE_EPISODES)
    return f"""## Curriculum teachers on the toy task space (issue 17)

teachDeepRL's toy space: 10 x 10 cells of [0, 1]^2, competence 0..100, a cell learns only
from the corner or next to a learnt (>= 75) cell; mastered = competence > 75. The paper's
settings (ALP-GMM and Covar-GMM: 250 uniform tasks, refit every 250 on the last 250,
2..10 components by AIC, random ratio 0.2; RIAC: regions of 200, 50 split attempts,
70/20/10 sampling). Mean over {args.seeds} seeds (min-max in brackets), {args.episodes:,}
episodes per run. Teacher time is per call, mean over the run (median in brackets for
updates: the mean includes the synchronous GMM refits).
Command: `{command}`
Machine: {machine_line()}; written {started}; other work was running on the machine.

| teacher | {columns} | s per run | us per sample | us per update |
|---|{"---:|" * len(TABLE_EPISODES)}---:|---:|---:|
{chr(10).join(rows)}

GMM refit (2-D tasks, 250 rows, 2..10 components, BLAS on one thread), median over the
runs' refits: ALP-GMM {refits["alp-gmm"] * 1000:.0f} ms, Covar-GMM {refits["covar-gmm"] * 1000:.0f} ms.
With OpenBLAS's default threads the same fit took 4-6 s on this busy 2-core machine
(each 3 x 3 triangular solve woke its thread pool), hence the one-thread limit.

What a refit costs the student (ALP-GMM on the toy space, a stand-in student spending a
fixed time per episode; median over {args.refits} refits): "fit" is the fit's own wall
time, "longest call" the longest single teacher call around the refit (the stall),
"extra" the student's added wall time over the {1 + 25 + 10} episodes from the refit on,
against its own episodes without a fit.

| episode ms | student work | refit | fit ms | longest call ms | extra ms |
|---|---|---|---:|---:|---:|
{cost_rows}
"""


def _steps_per_second(trainer: str, steps: int, **knobs: object) -> float:
    """Environment steps per second of one headless run of ``trainer`` (timed from its
    start to its end, model building included as for any run)."""
    import tempfile

    from workbench.runs import Run, RunStore

    store = RunStore(tempfile.mkdtemp())
    common = {"env_id": "workbench/PointMaze-UMaze-v0", "reward_mode": "goal", "seed": 0}
    run = Run.create(trainer, store=store, total_timesteps=steps, eval_every=0,
                     checkpoint_every=0, device="cpu", **common, **knobs)  # fmt: skip
    started = time.perf_counter()
    run.start("thread")
    state = run.wait(timeout=3_600)
    if state != "finished":
        raise RuntimeError(f"{trainer} run ended {state}: {run.record.message}")
    return run.step / (time.perf_counter() - started)


def student_section(args: argparse.Namespace) -> str:
    plain, taught = [], []
    for pair in range(args.pairs):
        plain.append(_steps_per_second("sb3", args.student_steps))
        taught.append(_steps_per_second("curriculum", args.student_steps, teacher="alp-gmm"))
        print(f"pair {pair}: plain {plain[-1]:.0f}, with ALP-GMM {taught[-1]:.0f} steps/s",
              flush=True)  # fmt: skip
    ratios = [t / p for t, p in zip(taught, plain, strict=True)]
    ratio = statistics.median(ratios)
    verdict = "met" if ratio >= 0.95 else "NOT met"
    return "\n".join([
        "## Curricula: what a teacher costs the student (issue 17)",
        "",
        f"SB3 PPO (4 envs, MLP 64 x 2) on the U-maze's goal task, {args.student_steps:,} steps per "
        "run, headless, no evaluations or checkpoints; a plain `sb3` run against a `curriculum` "
        "run whose ALP-GMM teacher picks every episode's goal (refits in a thread), "
        f"alternating, {args.pairs} pairs.",
        f"Command: `.venv/bin/python benchmarks/bench_curricula.py --parts student "
        f"--student-steps {args.student_steps} --pairs {args.pairs}`",
        f"Machine: {machine_line()}",
        "",
        "| pair | plain steps/s | with ALP-GMM | ratio |",
        "|---:|---:|---:|---:|",
        *(f"| {i} | {p:,.0f} | {t:,.0f} | {t / p:.0%} |"
          for i, (p, t) in enumerate(zip(plain, taught, strict=True))),
        "",
        f"Median ratio {ratio:.0%}. Target (at least 95%): **{verdict}**.",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="toy", help="comma-separated: toy, student")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=20_000)
    parser.add_argument(
        "--episode-ms", type=float, nargs="+", default=[20.0, 100.0],
        help="stand-in student episode lengths (ms) for the refit-cost table",
    )  # fmt: skip
    parser.add_argument("--refits", type=int, default=4, help="refits measured per setting")
    parser.add_argument("--student-steps", type=int, default=40_000)
    parser.add_argument("--pairs", type=int, default=3, help="plain/curriculum run pairs")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if unknown := parts - {"toy", "student"}:
        parser.error(f"unknown parts {sorted(unknown)}; choose from toy, student")
    sections = {
        "toy": ("curricula_toy", toy_section),
        "student": ("curricula_student", student_section),
    }
    for part in ("toy", "student"):
        if part in parts:
            name, section = sections[part]
            body = section(args)
            print(body)
            if not args.no_write:
                write_section(name, body)


if __name__ == "__main__":
    main()
