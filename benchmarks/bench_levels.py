"""Level curricula, measured: held-out solve rate against environment steps for PLR, robust
PLR and ACCEL against uniform level sampling, on the grid mazes of workbench/GridLevels-v0.

Each run is a live ``curriculum`` run (``tasks=grid-levels``, the trainer's defaults: PPO
with 8 copies x 128 steps, minibatches of 256, 4 epochs, step size 5e-4; 200 training
levels; a buffer of 256) evaluated every ``--eval-every`` steps on ``--test-levels``
held-out levels (deterministic policy, a level is solved when its goal is reached within
81 steps). ``--workers`` runs go at once, each in a process of its own on one torch thread.
The table: solve rate at each evaluation, mean +- standard deviation over seeds (min-max
in brackets for the last), and seconds per run.

    nice -n 10 .venv/bin/python benchmarks/bench_levels.py [--steps 250000] [--seeds 3]
        [--teachers random plr robust-plr accel plr:temperature=0.3] [--workers 2]
        [--json PATH] [--from-json PATH] [--no-write]

A teacher may carry knobs of its own, ``name:knob=value,knob=value`` (a variant column).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine_line, write_section

TEACHER_NAMES = {
    "random": "uniform",
    "plr": "PLR",
    "robust-plr": "robust PLR",
    "accel": "ACCEL",
}


def parse_teacher(spec: str) -> tuple[str, dict[str, Any]]:
    """``name:knob=value,...`` as the teacher's name and its knobs (typed as the config's)."""
    from workbench.runs.config import parse_knob
    from workbench.trainers.curriculum import CurriculumConfig

    name, _, rest = spec.partition(":")
    knobs = {}
    for assignment in filter(None, rest.split(",")):
        knob, _, text = assignment.partition("=")
        knobs[knob] = parse_knob(CurriculumConfig, knob, text)
    return name, knobs


def label(spec: str) -> str:
    name, _, rest = spec.partition(":")
    return TEACHER_NAMES[name] + (f" ({rest.replace('=', ' ').replace(',', ', ')})" if rest else "")


def one_run(spec: str, seed: int, steps: int, eval_every: int, test_levels: int) -> dict:
    """A headless curriculum run; its held-out and training-level solve rates by step."""
    import torch

    from workbench.runs import Run, RunStore

    teacher, knobs = parse_teacher(spec)

    torch.set_num_threads(1)  # a 64x64 MLP: more threads only contend
    with tempfile.TemporaryDirectory() as home:
        store = RunStore(Path(home))
        start = time.perf_counter()
        run = Run.create(
            "curriculum",
            store=store,
            tasks="grid-levels",
            teacher=teacher,
            seed=seed,
            total_timesteps=steps,
            eval_every=eval_every,
            checkpoint_every=0,
            test_tasks=test_levels,
            **knobs,
        )
        run.start(executor="thread")
        state = run.wait()
        seconds = time.perf_counter() - start
        if state != "finished":
            raise RuntimeError(f"{teacher} seed {seed}: {state} ({run.record.message})")
        # The last evaluation is at the end of training (eval_every divides steps, nearly).
        run._trainer.record_rollout(steps)
        run._trainer.ctx.flush()

        def curve(name: str) -> list[tuple[int, float]]:
            return [(int(step), float(value)) for _, step, _, value in store.scalars(run.id, name)]

        return {
            "teacher": spec,
            "seed": seed,
            "seconds": seconds,
            "test": curve("eval/test_success"),
            "train": curve("eval/train_success"),
            "counts": [int(v) for v in run._trainer.teacher.snapshot()["counts"]],
            "trained_fraction": statistics.fmean(
                value for _, value in curve("curriculum/trained_fraction")
            ),
        }


def spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.2f} ± {sd:.2f}"


def table(runs: dict[str, list[dict]], steps: int) -> str:
    teachers = list(runs)
    eval_steps = [step for step, _ in runs[teachers[0]][0]["test"]]
    header = "| steps | " + " | ".join(label(t) for t in teachers) + " |"
    lines = [header, "|" + "---|" * (len(teachers) + 1)]
    for index, step in enumerate(eval_steps):
        cells = [spread([run["test"][index][1] for run in runs[t]]) for t in teachers]
        lines.append(f"| {min(step, steps):,} | " + " | ".join(cells) + " |")
    finals = []
    for t in teachers:
        last = [run["test"][-1][1] for run in runs[t]]
        finals.append(f"{min(last):.2f}-{max(last):.2f}")
    lines.append("| final, min-max | " + " | ".join(finals) + " |")
    cells = [
        spread([statistics.fmean(v for _, v in run["test"]) for run in runs[t]]) for t in teachers
    ]
    lines.append("| mean over the curve | " + " | ".join(cells) + " |")
    cells = [spread([run["train"][-1][1] for run in runs[t]]) for t in teachers]
    lines.append("| final, training levels | " + " | ".join(cells) + " |")
    cells = [spread([run["trained_fraction"] for run in runs[t]]) for t in teachers]
    lines.append("| share of samples trained on | " + " | ".join(cells) + " |")
    cells = [f"{statistics.fmean(run['seconds'] for run in runs[t]):.0f}" for t in teachers]
    lines.append("| seconds per run | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_all(args: argparse.Namespace) -> dict:
    """Every (teacher, seed) run, ``args.workers`` at once."""
    jobs = [(t, seed) for seed in range(args.seeds) for t in args.teachers]
    started = time.perf_counter()
    runs: dict[str, list[dict]] = {t: [] for t in args.teachers}
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(one_run, t, seed, args.steps, args.eval_every, args.test_levels)
            for t, seed in jobs
        ]
        for future in futures:
            run = future.result()
            runs[run["teacher"]].append(run)
            print(
                f"{run['teacher']:10s} seed {run['seed']}: "
                f"{[round(v, 2) for _, v in run['test']]} ({run['seconds']:.0f} s)",
                flush=True,
            )
    minutes = (time.perf_counter() - started) / 60
    settings = {**vars(args), "json": None, "from_json": None, "notes": None}
    return {"runs": runs, "minutes": minutes, "args": settings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=250_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--teachers", nargs="+", default=[*TEACHER_NAMES, "plr:temperature=0.3"])
    parser.add_argument("--eval-every", type=int, default=25_000)
    parser.add_argument("--test-levels", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write every run's curves here")
    parser.add_argument(
        "--from-json", type=Path, help="no runs: write the table of a --json file's runs"
    )
    parser.add_argument("--notes", type=Path, help="a file of remarks to end the section with")
    parser.add_argument("--no-write", action="store_true", help="leave RESULTS.md alone")
    args = parser.parse_args()

    if args.from_json:
        results = json.loads(args.from_json.read_text())
        # The runs' settings, with this command's say on what to write.
        args = argparse.Namespace(
            **{**results["args"], "notes": args.notes, "no_write": args.no_write}
        )
    else:
        results = run_all(args)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    runs, minutes = results["runs"], results["minutes"]
    text = table(runs, args.steps)
    print(text)
    print(f"{minutes:.1f} minutes in all")
    if args.no_write:
        return
    command = (
        f"nice -n 10 .venv/bin/python benchmarks/bench_levels.py --steps {args.steps} "
        f"--eval-every {args.eval_every} --test-levels {args.test_levels} --seeds {args.seeds} "
        f"--teachers {' '.join(args.teachers)} --workers {args.workers}"
    )
    body = f"""## Level curricula: PLR, robust PLR, ACCEL against uniform level sampling

Held-out solve rate (deterministic policy, {args.test_levels} held-out grid mazes never
trained on) against environment steps, {args.seeds} seeds per teacher, mean ± standard
deviation over seeds. Each run is a live `curriculum` run with `tasks=grid-levels` and
the trainer's defaults: SB3 PPO, 64x64 MLP, 8 copies x 128 steps, minibatches of 256,
4 epochs, step size 5e-4, entropy 0.01; 200 training levels (the same for every run), a
level buffer of 256. PLR: L1 value loss, rank, temperature 0.1, staleness 0.1,
proportionate replay; robust PLR: positive value loss, temperature 0.3, staleness 0.3,
replay probability 0.5 once half the training levels are seen, gradient steps on replayed
levels only; ACCEL: robust PLR plus 5 edits of each replayed level (edits not trained on).
A column with knobs in brackets is that teacher with those knobs changed. "Share of
samples trained on": the rollouts' mean `curriculum/trained_fraction` (robust PLR and
ACCEL learn from replayed levels only).
{args.steps:,} steps per run: the whole bench had to fit in about 30 minutes on a shared
2-core machine ({args.workers} runs at once, one torch thread each); it took {minutes:.0f}
minutes.

{text}

Command: `{command}`

Machine: {machine_line()}
"""
    if args.notes:
        body += "\n" + args.notes.read_text()
    write_section("curricula_levels", body)


if __name__ == "__main__":
    main()
