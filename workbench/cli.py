"""The ``workbench`` command line."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
import tomllib
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def _store(args: argparse.Namespace):
    from workbench.runs import RunStore

    return RunStore(args.home)


def _check_home(home: str | None) -> None:
    """Refuse a ``--home`` that is empty (it meant the current folder, where a store was made
    unasked) or that names a file, before anything is made there."""
    if home is None:
        return
    if not home.strip():
        raise ValueError(
            "--home is empty: name a folder, or leave --home out for $RL_WORKBENCH_HOME "
            "or ~/.rl-workbench"
        )
    if Path(home).exists() and not Path(home).is_dir():
        raise ValueError(f"--home {home} is a file, not a folder: name a folder")


def _check_progress_every(seconds: float) -> None:
    """A progress interval must be a positive, finite number of seconds; checked before a
    run is created or resumed, so that a bad one leaves nothing behind."""
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"--progress-every must be a positive number of seconds, got {seconds}")


def _list_environments(_: argparse.Namespace) -> int:
    from environments import ENVIRONMENTS

    width = max(len(info.id) for info in ENVIRONMENTS)
    for info in ENVIRONMENTS:
        print(f"{info.id:<{width}}  {info.description}")
    print(
        "\n`workbench horizon` also takes any installed MiniGrid id (MiniGrid-DoorKey-5x5-v0, ...) "
        "and BRIDGE .npz files."
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    from importlib.metadata import entry_points

    # The app sits above the engine: it is found by its entry point (pyproject.toml), not
    # imported by name, so nothing in workbench/ depends on widgets/.
    apps = entry_points(group="rl_workbench.apps", name="dashboard")
    if not apps:
        raise ValueError("no dashboard installed: run `make venv` (pip install -e .)")
    serve = next(iter(apps)).load()
    serve(
        host=args.host,
        port=args.port,
        show=args.show,
        home=args.home,
        password=_password(args),
        demo=not args.no_demo,
    )
    return 0


PASSWORD_VARIABLE = "WORKBENCH_PASSWORD"


def _password(args: argparse.Namespace) -> str | None:
    """The dashboard's password: ``--password-file``, else $WORKBENCH_PASSWORD, else
    ``--password`` (which any user of the machine can read in ``ps``: a warning says so)."""
    if args.password_file is not None:
        path = Path(args.password_file)
        if not path.is_file():
            raise ValueError(f"--password-file {path}: no such file")
        password = path.read_text().strip()
        if not password:
            raise ValueError(f"--password-file {path} is empty")
        return password
    if os.environ.get(PASSWORD_VARIABLE):
        return os.environ[PASSWORD_VARIABLE]
    if args.password is not None:
        print(
            "warning: a password on the command line is visible to every user in `ps`; "
            f"use --password-file or ${PASSWORD_VARIABLE}",
            file=sys.stderr,
        )
    return args.password


def _horizon(args: argparse.Namespace) -> int:
    from workbench.horizon import analyze, load_mdp

    if args.horizon is not None and args.horizon < 1:
        raise ValueError(f"--horizon must be a positive integer, got {args.horizon}")
    if args.max_samples < 1:
        raise ValueError(f"--max-samples must be a positive integer, got {args.max_samples}")
    mdp = load_mdp(args.source, args.horizon)
    if args.sticky is not None:
        mdp = mdp.with_sticky_actions(args.sticky)
    analysis = analyze(mdp)
    summary = analysis.summary()
    if args.learners:
        from workbench.horizon.learners import measured_sample_complexities

        # The least lookahead that works: what GORP and SQIRL need at the least.
        summary["measured_sample_complexity"] = measured_sample_complexities(
            mdp, k=analysis.min_k.k, max_samples=args.max_samples
        )
    if args.json:
        # Strict JSON (no Infinity or NaN): a figure that is not finite, such as a sample
        # complexity past the search cap, is null.
        print(json.dumps(_finite_or_null(summary), indent=2, allow_nan=False))
        return 0
    kind = "deterministic" if analysis.deterministic else "stochastic"
    print(f"{analysis.name}: {analysis.states} states, {analysis.actions} actions, "
          f"horizon {analysis.horizon}, {kind}")  # fmt: skip
    returns = analysis.returns
    print(f"returns       optimal {returns['optimal']:.4g}  random {returns['random']:.4g}  "
          f"worst {returns['worst']:.4g}")  # fmt: skip
    greedy = "  ".join(f"J_{k} {value:.4g}" for k, value in enumerate(analysis.greedy_returns, 1))
    print(f"greedy returns on Q_k: {greedy}")
    print(f"min_k {analysis.min_k.k}   effective planning window {analysis.epw.k}")
    if analysis.bound is None:
        print(f"no bound: {summary['bound_note']}")
    else:
        attained = summary["bound_attained_at"]
        where = f" (k={attained['k']}, t={attained['t']}, s={attained['s']})" if attained else ""
        print(f"effective horizon bound {analysis.bound.effective_horizon:.3f}{where}")
        print(f"{'k':>3} {'m':>12} {'gap':>10} {'var':>10} {'H_k':>8}   at (t, s)")
        rows = {term.k: f"{term.k:>3} {term.m:>12.4g} {term.gap:>10.4g} {term.var:>10.4g} "
                        f"{term.horizon_k:>8.3f}   ({term.t}, {term.s})"
                for term in analysis.bound.terms}  # fmt: skip
        for k, (t, s) in analysis.bound.failures.items():
            rows[k] = f"{k:>3} fails: a suboptimal action's Q_k ties the best at (t={t}, s={s})"
        print("\n".join(rows[k] for k in sorted(rows)))
        print(f"predicted sample complexity T^2 A^H: "
              f"{analysis.predicted_sample_complexity:.4g} steps")  # fmt: skip
    for learner, steps in summary.get("measured_sample_complexity", {}).items():
        print(f"measured {learner}: {steps:.4g} steps")
    return 0


def _finite_or_null(value: Any) -> Any:
    """``value`` with every non-finite float (inf, NaN) replaced by None, for strict JSON."""
    if isinstance(value, dict):
        return {key: _finite_or_null(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_null(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _sweep_discount(args: argparse.Namespace) -> int:
    from workbench.horizon.discount_sweep import start_discount_sweep, sweep_returns

    _, knobs = _config_from_args(argparse.Namespace(config="sb3", set=args.set))
    runs = start_discount_sweep(args.gammas, store=_store(args), **knobs)
    print(f"{len(runs)} sb3 runs in {runs[0].store.home}: " + ", ".join(run.id for run in runs))
    try:
        for run in runs:
            run.wait()
    except KeyboardInterrupt:
        print("stopping the sweep (checkpointing first)...", flush=True)
        for run in runs:
            run.stop()
    print(f"{'gamma':>8} {'step':>10} {'return':>10}  (mean of the last 3 evaluations)")
    for row in sweep_returns(runs):
        print(f"{row['gamma']:>8.4g} {row['step']:>10} {row['return']:>10.4g}")
    return 0 if all(run.state in ("finished", "stopped") for run in runs) else 1


def _sweep(args: argparse.Namespace) -> int:
    from workbench.runs.ray_executor import require_ray
    from workbench.runs.statistics import group_labels, score_table, seed_statistics
    from workbench.runs.sweeps import SweepSpec, run_sweep, start_sweep

    try:
        require_ray()
    except ImportError as error:
        raise ValueError(str(error)) from None
    store = _store(args)
    if args.resume:
        sweep = store.get_sweep(args.resume)
        print(f"resuming sweep {sweep.id} ({sweep.name!r})", flush=True)
    else:
        if args.config is None:
            raise ValueError("name a trainer or config file to sweep, or --resume SWEEP_ID")
        trainer, base = _config_from_args(args)
        spec = SweepSpec(
            trainer=trainer,
            base=base,
            params=args.param,
            samples=args.samples,
            seeds=args.seeds,
            metric=args.metric,
            mode=args.mode,
            search=args.search,
            scheduler=args.scheduler,
            perturbation_interval=args.perturbation_interval,
            quantile_fraction=args.quantile_fraction,
            cpus_per_trial=args.cpus_per_trial,
        )
        sweep = start_sweep(store, spec, name=args.name)
        print(f"sweep {sweep.id} ({sweep.name!r}) in {store.home}", flush=True)
    try:
        sweep = run_sweep(
            store,
            sweep,
            address=args.ray_address,
            num_cpus=args.num_cpus,
            resume=bool(args.resume),
        )
    except KeyboardInterrupt:
        print(f"interrupted: workbench sweep --resume {sweep.id} continues it", file=sys.stderr)
        return 130
    if sweep.state == "interrupted":
        print(f"{sweep.message}: workbench sweep --resume {sweep.id}", file=sys.stderr)
        return 130
    runs = store.list_runs(sweep.id)
    spec = SweepSpec(**sweep.spec)
    scores = score_table(store, runs, spec.metric)
    statistics = seed_statistics(scores, labels=group_labels(runs))
    ranked = sorted(statistics.values(), key=lambda s: s.iqm, reverse=spec.mode == "max")
    summary = {
        "sweep": sweep.id,
        "state": sweep.state,
        "message": sweep.message,
        "metric": spec.metric,
        "runs": len(runs),
        "configurations": [
            {"config": s.label, "runs": s.n_runs, "iqm": s.iqm, "ci": [s.ci_low, s.ci_high]}
            for s in ranked
        ],
    }
    if args.json:
        print(json.dumps(_finite_or_null(summary), indent=2))
    else:
        print(f"sweep {sweep.id} {sweep.state}: {sweep.message}")
        print(f"{spec.metric}: interquartile mean over seeds [95% bootstrap CI], best first")
        for s in ranked:
            interval = "one seed" if s.n_runs == 1 else f"{s.ci_low:.4g}, {s.ci_high:.4g}"
            print(f"  {s.iqm:>10.4g} [{interval}]  n={s.n_runs}  {s.label}")
    return 0 if sweep.state == "finished" else 1


def _config_from_args(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """Trainer name and knobs from ``CONFIG`` (a trainer name or a TOML/JSON file) and ``--set``."""
    from workbench.runs.config import parse_knob
    from workbench.runs.trainer import resolve_trainer

    knobs: dict[str, Any] = {}
    source = Path(args.config)
    if source.suffix in (".toml", ".json"):
        if not source.is_file():
            raise FileNotFoundError(f"config file {source} does not exist")
        try:
            data = (
                tomllib.loads(source.read_text())
                if source.suffix == ".toml"
                else json.loads(source.read_text())
            )
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
            raise ValueError(
                f"config file {source} is not valid {source.suffix[1:]}: {error}"
            ) from None
        if not isinstance(data, dict):
            raise ValueError(
                f"config file {source} must hold knob = value pairs (a table), "
                f"not a {type(data).__name__}"
            )
        trainer = data.pop("trainer", "sb3")
        knobs.update(data)
    else:
        trainer = args.config
    config_class = resolve_trainer(trainer).Config
    # Shortcuts for the knobs most runs set (same validation as --set).
    for flag, knob in (("env", "env_id"), ("objective", "objective")):
        if getattr(args, flag, None) is not None:
            knobs[knob] = parse_knob(config_class, knob, getattr(args, flag))
    for assignment in args.set or []:
        knob, sep, text = assignment.partition("=")
        if not sep:
            raise ValueError(f"--set expects KNOB=VALUE, got {assignment!r}")
        knobs[knob.strip()] = parse_knob(config_class, knob.strip(), text.strip())
    config_class.check(knobs)
    return trainer, knobs


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _train(args: argparse.Namespace) -> int:
    from workbench.runs import Run
    from workbench.runs.trainer import resolve_trainer

    _check_progress_every(args.progress_every)
    trainer, knobs = _config_from_args(args)
    name = args.name
    if name is None:  # named after what it trains, so that lists and legends say it
        config = resolve_trainer(trainer).Config(**knobs)
        env_id = getattr(config, "env_id", None) or getattr(config, "dataset", None)
        name = f"{trainer} on {env_id}" if env_id else trainer
    run = Run.create(trainer, store=_store(args), name=name, **knobs)
    print(f"run {run.id} ({name!r}) in {run.store.home}", flush=True)
    run.start(executor=args.executor)
    return _follow(run, args.progress_every)


def _runs_resume(args: argparse.Namespace) -> int:
    from workbench.runs import Run
    from workbench.runs.trainer import resolve_trainer

    _check_progress_every(args.progress_every)
    run = Run(_store(args), args.run_id)
    # A record's trainer that is not registered here is refused now, with the run untouched
    # (not started only to be marked failed).
    resolve_trainer(run.record.trainer, run.id)
    print(f"resuming run {run.id} ({run.record.name!r}) from step {run.step}", flush=True)
    run.resume("thread")
    return _follow(run, args.progress_every)


def _follow(run: Any, progress_every: float) -> int:
    """Print a run's progress (each line once) until it ends; Ctrl-C or SIGTERM stop it."""
    # A termination signal (kill, a job scheduler) stops the run as Ctrl-C does: with a
    # checkpoint and a final state, not left "running" in the store.
    previous_handler = signal.signal(signal.SIGTERM, _interrupt)
    told, last_line = "", ""
    try:
        while (state := run.wait(timeout=progress_every)) in ("running", "paused"):
            record = run.record
            if state == "paused" and record.message and record.message != told:
                told = record.message  # why it paused (a non-finite loss?), once
                print(f"{record.message}\n(change a knob and resume it on the dashboard's Live page; "
                      "Ctrl-C stops it)", flush=True)  # fmt: skip
            latest = run.store.last_scalars(run.id)
            shown = ", ".join(f"{k} {latest[k]:.4g}" for k in sorted(latest)[:4])
            line = f"step {record.step:>10}  {state:8} {shown}"
            if line != last_line:  # a paused or slow run would print the same line again
                print(line, flush=True)
                last_line = line
    except KeyboardInterrupt:
        print("stopping (checkpointing first)...", flush=True)
        state = run.stop()
    finally:
        signal.signal(signal.SIGTERM, previous_handler)  # main() may be called in-process
    record = run.record
    print(
        f"run {run.id} {state} at step {record.step}"
        + (f": {record.message}" if record.message else "")
    )
    return 0 if state in ("finished", "stopped") else 1


def _runs_list(args: argparse.Namespace) -> int:
    runs = _store(args).list_runs()
    if not runs:
        print("no runs yet")
        return 0
    # Columns as wide as their longest entry: nothing is cut off.
    name_width = max(len("name"), *(len(run.name) for run in runs))
    trainer_width = max(len("trainer"), *(len(run.trainer) for run in runs))
    print(
        f"{'id':24} {'name':{name_width}} {'trainer':{trainer_width}} {'state':9} {'step':>10}  parent"
    )
    for run in runs:
        print(
            f"{run.id:24} {run.name:{name_width}} {run.trainer:{trainer_width}} {run.state:9} "
            f"{run.step:>10}  {run.parent_id or ''}"
        )
    return 0


def _runs_show(args: argparse.Namespace) -> int:
    store = _store(args)
    run = store.get_run(args.run_id)
    print(f"run      {run.id}\nname     {run.name}\ntrainer  {run.trainer}\nstate    {run.state}")
    if run.message:
        print(f"message  {run.message}")
    print(f"step     {run.step}")
    if run.parent_id:
        print(f"parent   {run.parent_id} (forked at step {run.fork_step})")
    print("config")
    for knob, value in run.config.items():
        print(f"  {knob:20} {value}")
    latest = store.last_scalars(run.id)
    if latest:
        print("latest scalars")
        for name in sorted(latest):
            print(f"  {name:32} {latest[name]:.6g}")
    checkpoints = store.checkpoints(run.id)
    if checkpoints:
        print(
            f"checkpoints  {len(checkpoints)}, latest at step {checkpoints[-1][0]}: {checkpoints[-1][1]}"
        )
    return 0


def _runs_export(args: argparse.Namespace) -> int:
    import pandas as pd

    store = _store(args)
    store.get_run(args.run_id)
    output = Path(args.output or f"{args.run_id}.{args.format}")
    if output.is_dir():
        raise ValueError(
            f"cannot write {output}: it is a folder; name a file, e.g. "
            f"{output / f'{args.run_id}.{args.format}'}"
        )
    if not output.parent.is_dir():
        raise ValueError(f"cannot write {output}: there is no folder {output.parent}")
    # Both branches, labelled: what a rollback left behind is "abandoned", in the order logged.
    rows = [(*r, "live") for r in store.scalars(args.run_id)]
    rows += [(*r, "abandoned") for r in store.scalars(args.run_id, abandoned=True)]
    frame = pd.DataFrame([r[1:] for r in sorted(rows)], columns=["step", "name", "value", "branch"])
    if args.format == "csv":
        _write_whole(output, lambda path: frame.to_csv(path, index=False))
    else:
        _write_whole(output, lambda path: frame.to_parquet(path, index=False))
    print(f"wrote {len(frame)} scalar rows of run {args.run_id} to {output.resolve()}")
    return 0


def _write_whole(output: Path, write: Callable[[Path], None]) -> None:
    """Have ``write`` write a hidden file beside ``output``, then rename it to ``output``: a
    failed write (a read-only or full file system) leaves no half-written file, and an
    existing ``output`` as it was. A failure is one line naming the file and the reason."""
    # The hidden name ends in output's own, so that pandas infers the same compression.
    partial = output.with_name(f".{uuid.uuid4().hex[:12]}.{output.name}")
    try:
        # Made here first, so that a folder that takes no new file is reported as the
        # system says it (read-only file system, permission denied), not as a library does.
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        write(partial)
        os.replace(partial, output)
    except OSError as error:
        reason = error.strerror or str(error).replace(str(partial), str(output))
        raise ValueError(f"cannot write {output}: {reason}") from None
    finally:
        if os.path.lexists(partial):  # the write failed part-way, or the rename did
            partial.unlink()


def _dataset_build(args: argparse.Namespace) -> int:
    from workbench.datasets import build_dataset, load_dataset

    folder = build_dataset(
        args.name, args.env, args.behaviour, episodes=args.episodes,
        episode_steps=args.episode_steps, seed=args.seed, home=args.home, overwrite=args.overwrite,
    )  # fmt: skip
    data = load_dataset(args.name, home=args.home)
    print(
        f"dataset {data.name}: {len(data):,} transitions of {args.behaviour!r} on {args.env} in {folder}"
    )
    return 0


def _dataset_list(args: argparse.Namespace) -> int:
    from workbench.datasets import datasets_root, list_datasets

    names = list_datasets(args.home)
    print("\n".join(names) if names else f"no datasets under {datasets_root(args.home)}")
    return 0


def _continuous_teacher(name: str) -> None:
    """Refuse, in one line, a teacher the toy bench cannot run: an unknown name, or one
    that chooses levels rather than points of a task box. Nothing is imported for it."""
    from workbench.curricula import TEACHERS
    from workbench.curricula.toy import TOY_TEACHERS

    if name not in TOY_TEACHERS:
        what = "unknown teacher" if name not in TEACHERS else "not a task-box teacher:"
        raise ValueError(f"{what} {name!r}; the toy bench takes {', '.join(TOY_TEACHERS)}")


def _curriculum_toy(args: argparse.Namespace) -> int:
    """The teachDeepRL toy bench: mastered % of a 10 x 10 task grid against episodes."""
    for flag, value in (
        ("--episodes", args.episodes),
        ("--seeds", args.seeds),
        ("--every", args.every),
    ):
        if value < 1:
            raise ValueError(f"{flag} must be a positive integer, got {value}")
    _continuous_teacher(args.teacher)
    import numpy as np

    from workbench.curricula.toy import run_toy

    runs = [
        run_toy(args.teacher, episodes=args.episodes, seed=args.seed + i, every=args.every)
        for i in range(args.seeds)
    ]
    curves = np.array([run["mastered_percent"] for run in runs])
    if args.json:
        for run in runs:
            del run["competence"]  # the final map: kept out of the summary
        summary = {
            "teacher": args.teacher,
            "episodes": runs[0]["episodes"],
            "mean_mastered_percent": curves.mean(axis=0).tolist(),
            "runs": runs,
        }
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"toy task space, teacher {args.teacher}: % of the 100 cells mastered "
        f"(competence > 75), {args.seeds} seed(s) from {args.seed}"
    )
    header = "".join(f"  seed {run['seed']:>3}" for run in runs)
    print(f"{'episodes':>9}{header}      mean")
    for column, episode in enumerate(runs[0]["episodes"]):
        values = "".join(f"{curve[column]:>10.0f}" for curve in curves)
        print(f"{episode:>9,}{values}{curves[:, column].mean():>10.1f}")
    seconds = ", ".join(f"{run['seconds']:.1f}" for run in runs)
    sample_us = np.mean([run["sample_us"] for run in runs])
    update_us = np.mean([run["update_us"] for run in runs])
    print(
        f"seconds per run: {seconds}; teacher per sample {sample_us:.0f} us, "
        f"per update {update_us:.0f} us (mean, refits included)"
    )
    return 0


def _surface(args: argparse.Namespace) -> int:
    """A reward surface around a run's latest checkpoint, stored with the run."""
    store = _store(args)
    store.get_run(args.run_id)  # an unknown run: one line naming it
    import numpy as np

    from workbench.landscapes.run_surfaces import run_gradient_line, run_surface
    from workbench.landscapes.surfaces import find_cliffs

    if args.magnitude is None:
        args.magnitude = 0.4 if args.directions == "gradient" else 1.0
    started = time.perf_counter()
    if args.directions == "gradient":
        line, step = run_gradient_line(
            store, args.run_id, points=args.points, magnitude=args.magnitude,
            episodes=args.episodes, seed=args.seed, skill=args.skill,
        )  # fmt: skip
        # The cliff rule looks at the 10th point: shorter lines are not judged.
        cliff = find_cliffs(line.returns_mean, line.returns_range) if args.points >= 10 else None
        summary = {
            "run": args.run_id, "checkpoint_step": step, "directions": "gradient",
            "points": len(line.returns_mean), "episodes": line.episodes,
            "returns": line.returns_mean.tolist(), "stderr": line.returns_stderr.tolist(),
            "cliff": None if cliff is None else bool(cliff.is_cliff),
            "cliff_drop": None if cliff is None else float(cliff.drop),
            "seconds": time.perf_counter() - started,
        }  # fmt: skip
    else:
        result, step = run_surface(
            store, args.run_id, grid=args.grid, magnitude=args.magnitude,
            episodes=args.episodes, seed=args.seed, directions=args.directions, skill=args.skill,
        )  # fmt: skip
        grid = result.grid()
        summary = {
            "run": args.run_id, "checkpoint_step": step, "directions": args.directions,
            "grid": args.grid, "episodes": result.episodes, "magnitude": args.magnitude,
            "direction_seed": result.direction_seed,
            "centre_return": float(grid[args.grid // 2, args.grid // 2]),
            "min_return": float(np.min(grid)), "max_return": float(np.max(grid)),
            "max_stderr": float(np.max(result.returns_stderr)),
            "seconds": time.perf_counter() - started,
        }  # fmt: skip
    snapshot = "gradient_line" if args.directions == "gradient" else "surface"
    summary["reward"] = str(store.load_snapshot(args.run_id, snapshot, step)["reward"])
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for key, value in summary.items():
            if key not in ("returns", "stderr"):
                print(f"{key:16} {value}")
        print(f"stored with run {args.run_id} (snapshot '{snapshot}')")
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be an integer, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 0..65535, got {port}")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="RL Workbench: train, watch and analyse reinforcement learning agents.",
    )
    parser.add_argument(
        "--home",
        default=None,
        help="workbench home with the run store (default: $RL_WORKBENCH_HOME or ~/.rl-workbench)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    envs = commands.add_parser("envs", help="list the registered environments, one per line")
    envs.set_defaults(handler=_list_environments)

    serve = commands.add_parser("serve", help="serve the dashboard in a browser")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=5006, help="port to bind (default: 5006)")
    serve.add_argument(
        "--password-file",
        default=None,
        help=f"require the password in this file (or set ${PASSWORD_VARIABLE})",
    )
    serve.add_argument(
        "--password", default=None, help="require this password (visible in `ps`: prefer a file)"
    )
    serve.add_argument(
        "--no-demo", action="store_true", help="do not start the embedded default run"
    )
    serve.add_argument("--show", action="store_true", help="open a browser tab")
    serve.set_defaults(handler=_serve)

    train = commands.add_parser("train", help="train headless; the dashboard shows the run")
    train.add_argument(
        "config",
        metavar="CONFIG",
        help="a trainer name (sb3, metra, hilp, regression, or one a package installs in the "
        "rl_workbench.trainers entry-point group) or a .toml/.json config file",
    )
    train.add_argument(
        "--set", action="append", metavar="KNOB=VALUE", help="set a knob (repeatable)"
    )
    train.add_argument("--env", default=None, help="environment id (the env_id knob)")
    train.add_argument("--objective", default=None, help="metra, diayn or lsd (metra trainer)")
    train.add_argument("--name", default=None, help="run name")
    train.add_argument(
        "--executor", default="thread", choices=["thread", "subprocess", "ray"],
        help="where it trains: this process (thread), a subprocess, or a Ray task "
        "($RAY_ADDRESS, else a local Ray)",
    )  # fmt: skip
    train.add_argument(
        "--progress-every", type=float, default=5.0, help="seconds between progress lines"
    )
    train.set_defaults(handler=_train)

    dataset = commands.add_parser("dataset", help="build or list offline datasets (Minari)")
    dataset_commands = dataset.add_subparsers(
        dest="dataset_command", metavar="ACTION", required=True
    )
    build = dataset_commands.add_parser(
        "build", help="collect a dataset with an exploratory behaviour on a point maze"
    )
    build.add_argument("name", help="dataset name, e.g. fourrooms-play (-> workbench/NAME-v0)")
    build.add_argument("--env", default="workbench/PointMaze-FourRooms-v0", help="environment id")
    build.add_argument(
        "--behaviour", default="play", choices=["random", "momentum", "play"], help="behaviour"
    )
    build.add_argument("--episodes", type=int, default=200, help="episodes (default 200)")
    build.add_argument(
        "--episode-steps", type=int, default=1_000, help="steps per episode (default 1000)"
    )
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    build.set_defaults(handler=_dataset_build)
    dataset_commands.add_parser("list", help="datasets under the datasets root").set_defaults(
        handler=_dataset_list
    )

    horizon = commands.add_parser(
        "horizon", help="effective-horizon analysis of a grid world, MiniGrid id or BRIDGE npz"
    )
    horizon.add_argument(
        "source", metavar="ENV_OR_NPZ",
        help="workbench/GridWorld-*-v0, MiniGrid-*-v0 or a BRIDGE .npz file",
    )  # fmt: skip
    horizon.add_argument(
        "--horizon", type=int,
        help="episode length T (default: a grid world's own, MiniGrid's 100, the one an npz "
        "stores; required for an npz that stores none, as BRIDGE's files)",
    )  # fmt: skip
    horizon.add_argument(
        "--sticky", type=float, metavar="P",
        help="analyse under sticky actions: the previous action repeats with probability P "
        "(the authors use 0.25); stochastic, so no bound is reported",
    )  # fmt: skip
    horizon.add_argument("--json", action="store_true", help="print the figures as JSON")
    horizon.add_argument(
        "--learners", action="store_true",
        help="also measure GORP's, SQIRL's and PPO's sample complexity (slower)",
    )  # fmt: skip
    horizon.add_argument(
        "--max-samples", type=int, default=5_000_000, metavar="N",
        help="with --learners: at most N steps per run; GORP tries at most N / (T^2 A^k) "
        "episodes per action sequence (the authors' cap; default 5,000,000)",
    )  # fmt: skip
    horizon.set_defaults(handler=_horizon)

    sweep = commands.add_parser(
        "sweep",
        help="search knobs over seeds on Ray Tune (random, grid, optuna; ASHA, PBT); "
        "each trial is a live run",
    )
    sweep.add_argument(
        "config", metavar="CONFIG", nargs="?", help="a trainer name or a .toml/.json config file"
    )
    sweep.add_argument(
        "--param", action="append", default=[], metavar="KNOB=KIND:ARGS",
        help="a searched knob (repeatable): uniform:LOW:HIGH, loguniform:LOW:HIGH, "
        "randint:LOW:HIGH, choice:A,B,..., grid:A,B,...",
    )  # fmt: skip
    sweep.add_argument(
        "--set", action="append", metavar="KNOB=VALUE", help="a knob every trial shares"
    )
    sweep.add_argument("--env", default=None, help="environment id (the env_id knob)")
    sweep.add_argument("--samples", type=int, default=4, help="configurations drawn (4)")
    sweep.add_argument("--seeds", type=int, default=1, help="seeds per configuration (1)")
    sweep.add_argument("--search", default="random", help="random, grid or optuna (random)")
    sweep.add_argument("--scheduler", default="fifo", help="fifo, asha, pbt or pb2 (fifo)")
    sweep.add_argument("--metric", default="charts/episodic_return", help="scalar to optimize")
    sweep.add_argument("--mode", default="max", help="max or min (max)")
    sweep.add_argument(
        "--perturbation-interval", type=int, default=0,
        help="PBT, PB2: steps between exploits (default: an eighth of the run)",
    )  # fmt: skip
    sweep.add_argument(
        "--quantile-fraction", type=float, default=0.25,
        help="PBT, PB2: the bottom share of trials that clone a top one (0.25, at most 0.5)",
    )  # fmt: skip
    sweep.add_argument("--cpus-per-trial", type=float, default=1.0, help="Ray CPUs a trial takes")
    sweep.add_argument(
        "--num-cpus", type=int, default=None, help="CPUs of a local Ray (default: all)"
    )
    sweep.add_argument(
        "--ray-address", default=None,
        help="an existing Ray cluster (default: $RAY_ADDRESS, else a local Ray)",
    )  # fmt: skip
    sweep.add_argument("--name", default=None, help="sweep name")
    sweep.add_argument("--resume", default=None, metavar="SWEEP_ID", help="continue a sweep")
    sweep.add_argument("--json", action="store_true", help="print the summary as JSON")
    sweep.set_defaults(handler=_sweep)

    discount_sweep = commands.add_parser(
        "sweep-discount", help="return against discount: one live sb3 run per gamma"
    )
    discount_sweep.add_argument("--gammas", type=float, nargs="+", required=True, metavar="GAMMA")
    discount_sweep.add_argument(
        "--set", action="append", default=[], metavar="KNOB=VALUE",
        help="an sb3 knob shared by every run (repeatable), e.g. env_id=workbench/Plane-v0",
    )  # fmt: skip
    discount_sweep.set_defaults(handler=_sweep_discount)

    runs = commands.add_parser("runs", help="list, show, export or resume runs")
    runs_commands = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    runs_commands.add_parser("list", help="all runs, oldest first").set_defaults(handler=_runs_list)
    show = runs_commands.add_parser("show", help="one run: config, state, latest scalars")
    show.add_argument("run_id")
    show.set_defaults(handler=_runs_show)
    export = runs_commands.add_parser("export", help="a run's scalars as CSV or Parquet")
    export.add_argument("run_id")
    export.add_argument("--format", choices=["csv", "parquet"], default="csv")
    export.add_argument("--output", default=None, help="file to write (default: RUN_ID.FORMAT)")
    export.set_defaults(handler=_runs_export)
    resume = runs_commands.add_parser(
        "resume", help="resume a paused, stopped or failed run headless, from its checkpoint"
    )
    resume.add_argument("run_id")
    resume.add_argument(
        "--progress-every", type=float, default=5.0, help="seconds between progress lines"
    )
    resume.set_defaults(handler=_runs_resume)

    surface = commands.add_parser(
        "surface", help="the reward surface around a run's latest checkpoint, stored with it"
    )
    surface.add_argument("run_id")
    surface.add_argument("--grid", type=int, default=21, help="points per axis (21)")
    surface.add_argument("--episodes", type=int, default=8, help="episodes per point (8)")
    surface.add_argument(
        "--directions", choices=("random", "pca", "gradient"), default="random",
        help="random: a plane of two filter-normalised random directions; pca: the plane of "
        "the run's checkpoints, its trajectory in it; gradient: a line along the policy "
        "gradient (Sullivan et al.'s cliff test)",
    )  # fmt: skip
    surface.add_argument(
        "--magnitude", type=float, default=None, help="extent (random 1.0, gradient 0.4)"
    )
    surface.add_argument("--points", type=int, default=20, help="gradient line: points (20)")
    surface.add_argument("--seed", type=int, default=0, help="first episode seed (0)")
    surface.add_argument(
        "--skill", type=int, default=0,
        help="skill runs (METRA, DIAYN, LSD, HILP): whose policy, and whose reward the return "
        "sums; METRA: the run's evaluation skill of this index, HILP: one of 1,024 fixed "
        "unit-length draws (0)",
    )  # fmt: skip
    surface.add_argument("--json", action="store_true", help="print the summary as JSON")
    surface.set_defaults(handler=_surface)

    curriculum = commands.add_parser("curriculum", help="curriculum teachers' benches")
    curriculum_commands = curriculum.add_subparsers(
        dest="curriculum_command", metavar="ACTION", required=True
    )
    toy = curriculum_commands.add_parser(
        "toy", help="a teacher on the toy task space: % of mastered cells against episodes"
    )
    toy.add_argument(
        "--teacher", default="alp-gmm", help="random, alp-gmm, covar-gmm or riac (default alp-gmm)"
    )
    toy.add_argument("--episodes", type=int, default=20_000, help="episodes per run (20,000)")
    toy.add_argument("--seeds", type=int, default=3, help="runs, seeds SEED, SEED+1, ... (3)")
    toy.add_argument("--seed", type=int, default=0, help="first seed (0)")
    toy.add_argument("--every", type=int, default=1_000, help="episodes between measures (1,000)")
    toy.add_argument("--json", action="store_true", help="print the curves as JSON")
    toy.set_defaults(handler=_curriculum_toy)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from workbench.runs.run import RunError

    try:
        _check_home(args.home)
        return args.handler(args)
    except (ValueError, KeyError, FileNotFoundError, RunError) as error:  # one clear line
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"workbench {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
