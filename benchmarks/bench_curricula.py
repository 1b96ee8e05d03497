"""Curriculum teachers on the teachDeepRL toy task space, and what a GMM refit costs a student.

Part ``toy`` (issue 17): ALP-GMM, RIAC, Covar-GMM and Random, each over ``--seeds`` seeds
x ``--episodes`` episodes of the toy space ("% of mastered cells": 10 x 10 cells of
[0, 1]^2, mastery spreads from the corner), through ``workbench.curricula.toy.run_toy``,
which ``workbench curriculum toy`` runs too. Table: mastered % at 5k/10k/15k/20k
episodes (mean, min-max over seeds), seconds per run, teacher microseconds per sample
and per update.

Then the cost of a GMM refit as the student sees it. A stand-in student spends
``--episode-ms`` per episode (20 and 100 ms), either in pure Python (it holds the GIL all along, the
worst case for a fit in a thread; the fit now runs in a process) or in a numpy matrix product (it releases the GIL, as
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

Part ``learning``: does a teacher make the student learn faster? For each task family of
``--families`` (``tasks`` value, knobs after a colon: ``maze-goals:env_id=...``), ALP-GMM
and Random each train ``--seeds`` live ``curriculum`` runs of ``--learning-steps`` steps
(one value for every family or one per family; the trainer's defaults otherwise: PPO, 4
copies, MLP 64 x 2), evaluated every ``--eval-every`` steps on the family's fixed test set
(``eval/test_success``: the deterministic student's share of test tasks reached) and once
more at the end. One run at a time, in this process (thread executor, CPU, one torch thread,
no checkpoints). Table per family: test success against steps, mean ± standard deviation
over seeds; the final figures, seconds per run, and what the teachers sampled (the tasks of
every training episode, read back from the run's ``curriculum`` snapshots).

    .venv/bin/python benchmarks/bench_curricula.py --parts toy [--seeds 3] [--episodes 20000]
        [--episode-ms 20 100] [--refits 4] [--no-write]
    .venv/bin/python benchmarks/bench_curricula.py --parts student [--student-steps 40000]
        [--pairs 3] [--no-write]
    .venv/bin/python benchmarks/bench_curricula.py --parts learning [--seeds 3]
        [--families wall-gaps maze-goals:env_id=workbench/PointMaze-FourRooms-v0]
        [--learning-steps 120000 200000] [--eval-every 10000] [--json PATH]
        [--from-json PATH] [--notes PATH] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

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

    import torch

    from workbench.runs import Run, RunStore

    # One torch thread for the student, as in the learning part: the 2-core machine's other
    # core is where a mixture refit runs while the student trains on.
    torch.set_num_threads(1)
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
        "run, headless, no evaluations or checkpoints, one torch thread; a plain `sb3` run "
        "against a `curriculum` "
        "run whose ALP-GMM teacher picks every episode's goal (refits in a worker process), "
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


LEARNING_TEACHERS = {"alp-gmm": "ALP-GMM", "random": "Random"}
LEARNING_FAMILIES = ["wall-gaps", "maze-goals:env_id=workbench/PointMaze-FourRooms-v0"]
# Wall gaps: the widths of the 6 x 6 test grid (0 = closed), and the bands of sampled widths
# around them, for what the teachers chose.
GAP_WIDTHS = np.linspace(0.0, 1.5, 6)
GAP_BAND_EDGES = np.concatenate([[-np.inf], (GAP_WIDTHS[1:] + GAP_WIDTHS[:-1]) / 2, [np.inf]])


def parse_family(spec: str) -> tuple[str, dict[str, Any]]:
    """``tasks[:knob=value,...]`` as the family and its knobs (typed as the config's)."""
    from workbench.runs.config import parse_knob
    from workbench.trainers.curriculum import CurriculumConfig

    tasks, _, rest = spec.partition(":")
    knobs = {}
    for assignment in filter(None, rest.split(",")):
        knob, _, text = assignment.partition("=")
        knobs[knob] = parse_knob(CurriculumConfig, knob, text)
    return tasks, knobs


def learning_run(family: str, teacher: str, seed: int, steps: int, eval_every: int) -> dict:
    """A headless curriculum run: its test-success curve, its final competence map and the
    task and outcome of every training episode."""
    import tempfile

    import torch

    from workbench.runs import Run, RunStore

    torch.set_num_threads(1)  # a 64 x 64 MLP: more threads only contend
    tasks, knobs = parse_family(family)
    with tempfile.TemporaryDirectory() as home:
        store = RunStore(Path(home))
        started = time.perf_counter()
        run = Run.create("curriculum", store=store, tasks=tasks, teacher=teacher, seed=seed,
                         total_timesteps=steps, eval_every=eval_every, checkpoint_every=0,
                         device="cpu", **knobs)  # fmt: skip
        run.start(executor="thread")
        state = run.wait(timeout=3_600)
        seconds = time.perf_counter() - started
        if state != "finished":
            raise RuntimeError(f"{family} {teacher} seed {seed}: {state} ({run.record.message})")
        # One more evaluation at the end (the periodic ones fall 4 steps past each multiple).
        trainer = run._trainer
        trainer.record_rollout(trainer.model.num_timesteps)
        trainer.ctx.flush()

        def curve(name: str) -> list[tuple[int, float]]:
            return [(int(step), float(value)) for _, step, _, value in store.scalars(run.id, name)]

        # Every training episode's task and outcome: each evaluation's snapshot holds the
        # latest 2,000; the episodes since the one before are its last ones.
        episodes = dict(curve("curriculum/episodes"))
        sampled, outcomes, seen, lost = [], [], 0, 0
        for _, step in store.snapshots(run.id, "curriculum"):
            snapshot = store.load_snapshot(run.id, "curriculum", step)
            new = int(episodes[step]) - seen
            seen += new
            kept = min(new, len(snapshot.get("recent_success", ())))
            lost += new - kept
            if kept:
                sampled.append(snapshot["recent_tasks"][-kept:])
                outcomes.append(snapshot["recent_success"][-kept:])
        final = store.load_snapshot(run.id, "curriculum")
        return {
            "family": family,
            "teacher": teacher,
            "seed": seed,
            "seconds": seconds,
            "test": curve("eval/test_success"),
            "entropy": curve("curriculum/sampling_entropy"),
            "test_tasks": final["test_tasks"].tolist(),
            "test_success": final["test_success"].tolist(),
            "sampled": np.concatenate(sampled).tolist() if sampled else [],
            "outcomes": np.concatenate(outcomes).tolist() if outcomes else [],
            "episodes_not_read": lost,
        }


def learning_runs(args: argparse.Namespace) -> dict:
    """Every (family, teacher, seed) run, one at a time, and the minutes they took."""
    steps = args.learning_steps
    if len(steps) not in (1, len(args.families)):
        raise SystemExit("--learning-steps: one value, or one per family of --families")
    steps_of = dict(zip(args.families, steps * len(args.families), strict=False))
    started = time.perf_counter()
    runs: dict[str, dict[str, list[dict]]] = {}
    for family in args.families:
        for seed in range(args.seeds):
            for teacher in LEARNING_TEACHERS:
                run = learning_run(family, teacher, seed, steps_of[family], args.eval_every)
                runs.setdefault(family, {}).setdefault(teacher, []).append(run)
                print(
                    f"{family} {teacher:7s} seed {seed}: "
                    f"{[round(v, 2) for _, v in run['test']]} ({run['seconds']:.0f} s)",
                    flush=True,
                )
    return {
        "runs": runs,
        "steps": steps_of,
        "seeds": args.seeds,
        "eval_every": args.eval_every,
        "minutes": (time.perf_counter() - started) / 60,
    }


def spread(values: list[float] | np.ndarray) -> str:
    values = np.asarray(values, dtype=np.float64)
    sd = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.2f} ± {sd:.2f}"


def verdict(alp: np.ndarray, rand: np.ndarray, what: str) -> str:
    """ALP-GMM against Random on ``what`` (one value per seed, paired by seed: the two runs
    of a seed play the same first 250 tasks): ahead or behind only when the mean difference
    is past both seed spreads and every seed's difference has its sign."""
    differences = alp - rand
    difference = differences.mean()
    spread_ = max(alp.std(ddof=1), rand.std(ddof=1)) if len(alp) > 1 else 0.0
    if difference > spread_ and (differences > 0).all():
        word = "ALP-GMM is ahead"
    elif difference < -spread_ and (differences < 0).all():
        word = "ALP-GMM is behind"
    else:
        word = "no clear difference"
    seeds = ", ".join(f"{d:+.2f}" for d in differences)
    return (
        f"{what}: ALP-GMM {alp.mean():.2f}, Random {rand.mean():.2f}, difference "
        f"{difference:+.2f} (per seed {seeds}; largest seed standard deviation "
        f"{spread_:.2f}): {word}"
    )


def family_table(family: str, runs: dict[str, list[dict]], steps: int) -> tuple[str, list[str]]:
    """The family's table (test success by step and the runs' figures) and the verdicts."""
    teachers = [t for t in LEARNING_TEACHERS if t in runs]
    curves = {t: np.array([[v for _, v in run["test"]] for run in runs[t]]) for t in teachers}
    eval_steps = [step for step, _ in runs[teachers[0]][0]["test"]]
    lines = [
        "| steps | " + " | ".join(LEARNING_TEACHERS[t] for t in teachers) + " |",
        "|---:|" + "---|" * len(teachers),
    ]
    for index, step in enumerate(eval_steps):
        cells = [spread(curves[t][:, index]) for t in teachers]
        lines.append(f"| {step:,} | " + " | ".join(cells) + " |")

    def row(name: str, cells: list[str]) -> None:
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    row(
        "final, min-max",
        [f"{curves[t][:, -1].min():.2f}-{curves[t][:, -1].max():.2f}" for t in teachers],
    )
    row("mean over the curve", [spread(curves[t].mean(axis=1)) for t in teachers])
    row("training episodes", [
        f"{np.mean([len(run['outcomes']) for run in runs[t]]):,.0f}" for t in teachers
    ])  # fmt: skip
    row("training episodes' success", [
        spread([np.mean(run["outcomes"]) for run in runs[t]]) for t in teachers
    ])  # fmt: skip
    row("the same, last third of the episodes", [
        spread([np.mean(run["outcomes"][2 * len(run["outcomes"]) // 3 :]) for run in runs[t]])
        for t in teachers
    ])  # fmt: skip
    row("sampling entropy at the end", [
        spread([run["entropy"][-1][1] for run in runs[t]]) for t in teachers
    ])  # fmt: skip
    row(
        "seconds per run", [f"{np.mean([run['seconds'] for run in runs[t]]):.0f}" for t in teachers]
    )
    verdicts = []
    if set(teachers) == {"alp-gmm", "random"}:
        verdicts = [
            verdict(curves["alp-gmm"][:, -1], curves["random"][:, -1], "final test success"),
            verdict(
                curves["alp-gmm"].mean(axis=1),
                curves["random"].mean(axis=1),
                "mean over the curve (how early it learns)",
            ),
        ]
    return "\n".join(lines), verdicts


def gap_table(runs: dict[str, list[dict]]) -> str:
    """Wall gaps by width: the share of training episodes each teacher played in the width's
    band, their success, and the final test success on the test gaps of that width."""
    teachers = [t for t in LEARNING_TEACHERS if t in runs]
    header = ["gap width (band)"]
    for t in teachers:
        name = LEARNING_TEACHERS[t]
        header += [f"{name}: share of episodes", f"{name}: their success", f"{name}: final test"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for band, width in enumerate(GAP_WIDTHS):
        low, high = GAP_BAND_EDGES[band], GAP_BAND_EDGES[band + 1]
        cells = [f"{width:.1f} ({max(low, 0):.2f}-{min(high, 1.5):.2f})"]
        for t in teachers:
            shares, success, test = [], [], []
            for run in runs[t]:
                widths = np.array(run["sampled"])[:, 1]
                inside = (widths >= low) & (widths < high)
                shares.append(inside.mean())
                if inside.any():
                    success.append(np.array(run["outcomes"])[inside].mean())
                row = np.isclose(np.array(run["test_tasks"])[:, 1], width)
                test.append(np.array(run["test_success"])[row].mean())
            cells += [
                f"{np.mean(shares):.0%}",
                f"{np.mean(success):.2f}" if success else "-",
                f"{np.mean(test):.2f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    closed = ", ".join(
        f"{LEARNING_TEACHERS[t]} "
        f"{np.mean([np.mean(np.array(run['sampled'])[:, 1] <= 1e-9) for run in runs[t]]):.1%}"
        for t in teachers
    )
    lines += [
        "",
        f"Gaps of width exactly 0 (closed) among the training episodes: {closed}. Uniform "
        "shares of the bands: 10%, 20%, 20%, 20%, 20%, 10%.",
    ]
    return "\n".join(lines)


def learning_section(args: argparse.Namespace) -> str:
    if args.from_json:
        results = json.loads(args.from_json.read_text())
    else:
        results = learning_runs(args)
        if args.json:
            args.json.write_text(json.dumps(results))
    families = list(results["runs"])
    steps = " ".join(str(results["steps"][f]) for f in families)
    command = (
        f".venv/bin/python benchmarks/bench_curricula.py --parts learning --seeds "
        f"{results['seeds']} --families {' '.join(families)} --learning-steps {steps} "
        f"--eval-every {results['eval_every']}"
    )
    parts = [
        "## Curricula: does ALP-GMM make the student learn faster than Random? (issue 17)",
        "",
        "Live `curriculum` runs, the trainer's defaults (SB3 PPO, 4 copies x 512 steps, "
        "minibatches of 64, 10 epochs, MLP 64 x 2; ALP-GMM: 250 uniform tasks, refit every "
        "250 on the last 250, 2..10 components by AIC, random ratio 0.2, refits in a thread), "
        f"{results['seeds']} seeds per teacher, one run at a time (thread executor, CPU, one "
        "torch thread, no checkpoints). `eval/test_success`: the deterministic student's share "
        f"of the family's fixed test tasks reached, every {results['eval_every']:,} steps (the "
        "evaluation falls on the first step past each multiple) and at the end; mean ± "
        "standard deviation over seeds. Verdict rule: ALP-GMM is ahead (behind) when its mean "
        "is above (below) Random's by more than the larger of the two seed standard deviations "
        "and in every seed (a seed's two runs are paired: ALP-GMM's first 250 tasks are "
        "uniform, the same as Random's). Training episodes' success: the stochastic student "
        "on the tasks its teacher chose; sampling entropy: 1 uniform over the task space.",
        f"The whole part took {results['minutes']:.0f} minutes.",
        f"Command: `{command}`",
        f"Machine: {machine_line()}; other work was running on the machine.",
    ]
    for family in families:
        runs = results["runs"][family]
        tasks, knobs = parse_family(family)
        knob_text = ", ".join(f"{k}={v}" for k, v in knobs.items())
        table, verdicts = family_table(family, runs, results["steps"][family])
        parts += [
            "",
            f"### `tasks={tasks}`{f' ({knob_text})' if knob_text else ''}, "
            f"{results['steps'][family]:,} steps per run",
            "",
            table,
            "",
            *(f"- {line}." for line in verdicts),
        ]
        if tasks == "wall-gaps":
            parts += ["", gap_table(runs)]
        lost = sum(run["episodes_not_read"] for t in runs for run in runs[t])
        if lost:
            parts += ["", f"({lost} training episodes fell out of the snapshots' window.)"]
    body = "\n".join(parts) + "\n"
    if args.notes:
        body += "\n" + args.notes.read_text()
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="toy", help="comma-separated: toy, student, learning")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=20_000)
    parser.add_argument(
        "--episode-ms", type=float, nargs="+", default=[20.0, 100.0],
        help="stand-in student episode lengths (ms) for the refit-cost table",
    )  # fmt: skip
    parser.add_argument("--refits", type=int, default=4, help="refits measured per setting")
    parser.add_argument("--student-steps", type=int, default=40_000)
    parser.add_argument("--pairs", type=int, default=3, help="plain/curriculum run pairs")
    parser.add_argument(
        "--families", nargs="+", default=LEARNING_FAMILIES,
        help="learning: task families, tasks[:knob=value,...]",
    )  # fmt: skip
    parser.add_argument(
        "--learning-steps", type=int, nargs="+", default=[120_000, 200_000],
        help="learning: steps per run, one value or one per family",
    )  # fmt: skip
    parser.add_argument("--eval-every", type=int, default=10_000, help="learning: test every")
    parser.add_argument("--json", type=Path, help="learning: also write every run here")
    parser.add_argument("--from-json", type=Path, help="learning: no runs, a --json file's")
    parser.add_argument("--notes", type=Path, help="learning: remarks to end the section with")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if unknown := parts - {"toy", "student", "learning"}:
        parser.error(f"unknown parts {sorted(unknown)}; choose from toy, student, learning")
    sections = {
        "toy": ("curricula_toy", toy_section),
        "student": ("curricula_student", student_section),
        "learning": ("curricula_learning", learning_section),
    }
    for part in ("toy", "student", "learning"):
        if part in parts:
            name, section = sections[part]
            body = section(args)
            print(body)
            if not args.no_write:
                write_section(name, body)


if __name__ == "__main__":
    main()
