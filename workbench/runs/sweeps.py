"""Sweeps and population-based training on Ray Tune; every trial is a run in the store.

A sweep searches a trainer's knobs (``lr=loguniform:1e-5:1e-3``, ``net_width=choice:64,256``)
over ``samples`` configurations, each trained with ``seeds`` seeds, so that the seed
statistics (``workbench.runs.statistics``) compare configurations honestly. Ray Tune runs the
trials (its ``Tuner``, ``tune.report`` and ``tune.get_checkpoint``); the workbench keeps the
runs:

- each trial trains through the ordinary run engine (``execute_run``), on any Ray node, and
  reports to the store through the driver's store actor (``workbench.runs.ray_executor``);
- a trial reports its metric to Tune every few seconds (``REPORT_EVERY_S``; under ASHA at
  each flush of its scalars), at its last step, and with a checkpoint (a pointer to the
  store's checkpoint: run id and step) each time it writes one;
- Tune restarting a trial after a worker failure resumes the same run from that checkpoint,
  and records the restart; scalars logged after it are marked abandoned, never deleted;
- a PBT exploit is a fork: the trial trains on in a new run, a child of the donor trial's
  run at the cloned checkpoint's step, and the explored knobs are a knob event at that step;
- ASHA stopping a trial early marks its run stopped, saying so.

The search space, scheduler and metric are the sweep's record (``RunStore.create_sweep``),
so the Sweeps page and ``workbench sweep --resume`` read them back.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import param

from workbench.runs.config import Config, KnobError, parse_knob
from workbench.runs.store import ACTIVE_STATES, RunRecord, RunStore, SweepRecord
from workbench.runs.trainer import RunContext, execute_run, resolve_trainer

SEARCHES = ("random", "grid", "optuna")
SCHEDULERS = ("fifo", "asha", "pbt", "pb2")
PARAM_KINDS = ("uniform", "loguniform", "randint", "choice", "grid")
CHECKPOINT_FILE = "run.json"  # what a Tune checkpoint of a trial holds: run id and step
# PBT's clock: the step of a trial's newest checkpoint, not its step. Tune clones the
# checkpoint of the donor's report at its own perturbation point (a function trainable's
# save is its last report), so the perturbation must fall on the report that carries the
# checkpoint; with the step as clock it fell a report early and every exploit was skipped
# ("no checkpoint for trial").
CHECKPOINT_STEP = "checkpoint_step"
# Seconds between a trial's reports to Tune (besides those with a checkpoint and the last).
# A function trainable's report waits until Tune's controller on the driver has taken it: at
# every flush of the scalars (twice a second) those waits slow every trial. The store, and
# so every view, gets the scalars at each flush all the same. Under ASHA a trial reports at
# every flush: a rung it passed between two reports would never be judged.
REPORT_EVERY_S = 3.0


class SweepError(ValueError):
    """A sweep that cannot run as asked; the message names the parameter and the fix."""


@dataclass(frozen=True)
class SearchParam:
    """One searched knob, from ``KNOB=KIND:ARGS`` (``lr=loguniform:1e-5:1e-3``,
    ``width=choice:64,256``, ``batch_size=randint:32:256``, ``gamma=grid:0.9,0.99``)."""

    knob: str
    kind: str
    values: tuple[Any, ...]  # (low, high) for uniform, loguniform and randint; else choices

    @classmethod
    def parse(cls, config_class: type[Config], text: str) -> SearchParam:
        knob, sep, rest = text.partition("=")
        kind, colon, args = rest.partition(":")
        knob, kind = knob.strip(), kind.strip()
        if not sep or not colon or not args.strip():
            raise SweepError(
                f"--param expects KNOB=KIND:ARGS (kinds: {', '.join(PARAM_KINDS)}), got {text!r}"
            )
        if kind not in PARAM_KINDS:
            raise SweepError(
                f"--param {knob}: kind {kind!r} unknown; kinds: {', '.join(PARAM_KINDS)}"
            )
        if knob not in config_class.knob_names():
            raise SweepError(
                f"--param {knob}: not a knob of {config_class.__name__}; "
                f"knobs: {', '.join(config_class.knob_names())}"
            )
        parameter = config_class.param[knob]
        if kind in ("uniform", "loguniform", "randint"):
            parts = args.split(":")
            if len(parts) != 2:
                raise SweepError(f"--param {knob}={kind}: expects LOW:HIGH, got {args!r}")
            if kind == "randint" and not isinstance(parameter, param.Integer):
                raise SweepError(f"--param {knob}=randint: {knob} is not a whole-number knob")
            if kind != "randint" and not isinstance(parameter, param.Number):
                raise SweepError(f"--param {knob}={kind}: {knob} is not a number knob")
            values = tuple(parse_knob(config_class, knob, part) for part in parts)
            if isinstance(parameter, param.Integer) and kind != "randint":
                values = tuple(float(value) for value in values)
            low, high = values
            if not low < high:
                raise SweepError(f"--param {knob}={kind}: LOW must be below HIGH, got {args!r}")
            if kind == "loguniform" and low <= 0:
                raise SweepError(f"--param {knob}=loguniform: LOW must be above 0, got {low}")
        else:
            values = tuple(parse_knob(config_class, knob, part) for part in args.split(","))
            if len(set(values)) != len(values):
                raise SweepError(f"--param {knob}={kind}: values repeat in {args!r}")
        for value in values:  # every bound and choice within the knob's own range
            try:
                config_class.check({knob: int(value) if kind == "randint" else value})
            except KnobError as error:
                raise SweepError(f"--param {knob}: {error}") from None
        return cls(knob, kind, values)

    def domain(self) -> Any:
        """The Ray Tune search domain."""
        from ray import tune

        if self.kind == "uniform":
            return tune.uniform(*self.values)
        if self.kind == "loguniform":
            return tune.loguniform(*self.values)
        if self.kind == "randint":
            return tune.randint(self.values[0], self.values[1] + 1)  # HIGH included
        if self.kind == "choice":
            return tune.choice(list(self.values))
        return tune.grid_search(list(self.values))

    def __str__(self) -> str:
        separator = ":" if self.kind in ("uniform", "loguniform", "randint") else ","
        return f"{self.knob}={self.kind}:{separator.join(str(v) for v in self.values)}"


@dataclass
class SweepSpec:
    """What a sweep searches and how; stored as the sweep's record."""

    trainer: str
    base: dict[str, Any] = field(default_factory=dict)  # knobs every trial shares (--set)
    params: list[str] = field(default_factory=list)  # SearchParam texts
    samples: int = 4  # configurations drawn (random), or repeats of the grid
    seeds: int = 1  # seeds per configuration (0 .. seeds-1); PBT: one seed per member
    metric: str = "charts/episodic_return"
    mode: str = "max"
    search: str = "random"
    scheduler: str = "fifo"
    perturbation_interval: int = 0  # PBT: steps between exploits (0: an eighth of the run)
    # PBT, PB2: the bottom share of the population that clones a trial of the top share
    # (Tune's default; Jaderberg et al. truncated at 20%). At most 0.5.
    quantile_fraction: float = 0.25
    cpus_per_trial: float = 1.0
    max_failures: int = 2  # restarts of a trial whose worker died (from its checkpoint)
    search_seed: int = 0

    def __post_init__(self) -> None:
        config_class = resolve_trainer(self.trainer).Config
        for name, low in (("samples", 1), ("seeds", 1)):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < low:
                raise SweepError(
                    f"--{name} must be a whole number >= {low}, got {getattr(self, name)!r}"
                )
        if not 0 < self.quantile_fraction <= 0.5:
            raise SweepError(
                f"--quantile-fraction must lie in (0, 0.5], got {self.quantile_fraction!r}"
            )
        if self.search not in SEARCHES:
            raise SweepError(f"--search must be one of {', '.join(SEARCHES)}, got {self.search!r}")
        if self.scheduler not in SCHEDULERS:
            raise SweepError(
                f"--scheduler must be one of {', '.join(SCHEDULERS)}, got {self.scheduler!r}"
            )
        if self.mode not in ("max", "min"):
            raise SweepError(f"--mode must be max or min, got {self.mode!r}")
        if self.cpus_per_trial <= 0:
            raise SweepError(f"--cpus-per-trial must be above 0, got {self.cpus_per_trial}")
        try:
            config_class.check(self.base)
        except KnobError as error:
            raise SweepError(str(error)) from None
        params = self.search_params()
        if not params:
            raise SweepError("a sweep needs at least one --param KNOB=KIND:ARGS")
        if len({p.knob for p in params}) != len(params):
            raise SweepError("a knob is given twice with --param")
        if "seed" in {p.knob for p in params} and self.seeds > 1:
            raise SweepError("--seeds sets the seed knob: do not search it with --param too")
        if self.search == "optuna":
            if self.seeds > 1:
                raise SweepError(
                    "--search optuna chooses each configuration from the results so far, one "
                    "seed each: use --seeds 1, or random/grid search for seed statistics"
                )
            if any(p.kind == "grid" for p in params):
                raise SweepError("--search optuna takes no grid: use choice:")
        if self.search == "grid" and any(p.kind != "grid" for p in params):
            raise SweepError("--search grid: give every --param as grid:V1,V2,...")
        if self.scheduler in ("pbt", "pb2"):
            structural = [p.knob for p in params if not config_class.is_hot(p.knob)]
            if structural:
                raise SweepError(
                    f"PBT changes knobs while trials train: {', '.join(structural)} "
                    f"{'is' if len(structural) == 1 else 'are'} structural (not hot)"
                )
            if any(p.kind == "grid" for p in params):
                raise SweepError("PBT explores around sampled values: use choice: for a list")
            if self.scheduler == "pb2" and any(p.kind in ("choice", "grid") for p in params):
                raise SweepError("PB2 fits a Gaussian process over bounds: give LOW:HIGH ranges")
            if "checkpoint_every" not in config_class.knob_names():
                raise SweepError(f"PBT clones checkpoints: {self.trainer} runs write none")

    def search_params(self) -> list[SearchParam]:
        config_class = resolve_trainer(self.trainer).Config
        return [SearchParam.parse(config_class, text) for text in self.params]

    def total_steps(self) -> int:
        trainer_class = resolve_trainer(self.trainer)
        config = trainer_class.Config.from_dict(self.base)
        return int(getattr(config, trainer_class.length_knob))

    def interval(self) -> int:
        return self.perturbation_interval or max(self.total_steps() // 8, 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def trial_configs(spec: SweepSpec) -> list[dict[str, Any]]:
    """The knobs of every trial of a random or grid search: ``samples`` draws of the random
    knobs (by Tune's own domains, seeded), each over the grid, each with every seed. The
    seeds of one configuration share all other knobs, so their runs group for statistics."""
    params = spec.search_params()
    grid = [p for p in params if p.kind == "grid"]
    drawn = [p for p in params if p.kind != "grid"]
    random_state = np.random.RandomState(spec.search_seed)
    base_seed = int(spec.base.get("seed", 0))
    configs = []
    for _ in range(spec.samples):
        sample = {p.knob: _plain(p.domain().sample(random_state=random_state)) for p in drawn}
        for point in itertools.product(*(p.values for p in grid)):
            knobs = {**sample, **{p.knob: value for p, value in zip(grid, point, strict=True)}}
            for seed in range(spec.seeds):
                configs.append({**knobs, "seed": base_seed + seed} if spec.seeds > 1 else knobs)
    return configs


def _plain(value: Any) -> Any:
    """A Tune or numpy value as a plain Python one (knobs are stored as JSON)."""
    return value.item() if isinstance(value, np.generic) else value


def trial_knobs(spec: SweepSpec, tune_config: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's whole knob set: the sweep's base, then what Tune chose."""
    chosen = dict(tune_config.get("trial") or {})
    chosen.update({k: v for k, v in tune_config.items() if k != "trial"})
    config_class = resolve_trainer(spec.trainer).Config
    # PB2's bandit hands back float32 values: 0.1 came back as 0.10000000149, past the bound.
    bounds = {p.knob: p.values for p in spec.search_params() if p.kind in ("uniform", "loguniform")}
    knobs = {**spec.base}
    for knob, value in chosen.items():
        value = _plain(value)
        if isinstance(config_class.param[knob], param.Integer):
            value = round(value)
        elif isinstance(config_class.param[knob], param.Number):
            value = float(value)
            if knob in bounds:
                value = min(max(value, float(bounds[knob][0])), float(bounds[knob][1]))
        knobs[knob] = value
    if spec.scheduler in ("pbt", "pb2") and "checkpoint_every" in config_class.knob_names():
        knobs["checkpoint_every"] = spec.interval()  # a checkpoint to clone at each exploit
    return knobs


# ---- inside a trial (a Ray Tune worker, on any node) ----------------------------------


class TuneReporter:
    """Called at each flush of a trial's scalars: reports the metric (and the step) to Tune
    every ``every_s`` seconds, at ``last_step``, and with a checkpoint pointer whenever the
    run wrote a checkpoint since the last report. ``settle`` is called before each report:
    the store proxy's, so that what a report tells the driver (a scheduler forking this run
    at its checkpoint, say) is in the store when the driver acts on it."""

    def __init__(
        self,
        run_id: str,
        metric: str,
        last_step: int | None,
        every_s: float = REPORT_EVERY_S,
        settle: Callable[[], None] = lambda: None,
    ) -> None:
        self.run_id = run_id
        self.settle = settle
        self.metric = metric
        self.last_step = last_step
        self.every_s = every_s
        self.reported_step = -1
        self.reported_checkpoint: int | None = None
        self._reported_at = -math.inf

    def __call__(self, ctx: RunContext) -> None:
        from ray import tune

        new_checkpoint = ctx.last_checkpoint_step != self.reported_checkpoint
        if self.metric not in ctx.latest or (ctx.step <= self.reported_step and not new_checkpoint):
            return  # Tune's schedulers need the metric in every report
        due = time.monotonic() - self._reported_at >= self.every_s
        last = self.last_step is not None and ctx.step >= self.last_step
        if not (due or new_checkpoint or last):
            return
        self.settle()
        result = {
            "step": ctx.step,
            CHECKPOINT_STEP: ctx.last_checkpoint_step or 0,
            self.metric: ctx.latest[self.metric],
            "run_id": self.run_id,
        }
        if not new_checkpoint or ctx.last_checkpoint_step is None:
            tune.report(result)
        else:
            folder = tempfile.mkdtemp(prefix="workbench-trial-")
            try:
                pointer = {"run_id": self.run_id, "step": ctx.last_checkpoint_step}
                Path(folder, CHECKPOINT_FILE).write_text(json.dumps(pointer))
                tune.report(result, checkpoint=tune.Checkpoint.from_directory(folder))
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            self.reported_checkpoint = ctx.last_checkpoint_step
        self.reported_step = ctx.step
        self._reported_at = time.monotonic()


def _checkpoint_pointer(checkpoint: Any) -> dict[str, Any] | None:
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        return json.loads(Path(folder, CHECKPOINT_FILE).read_text())


def run_for_trial(
    store: Any, sweep: SweepRecord, trial: str, knobs: dict[str, Any], pointer: dict | None
) -> RunRecord:
    """The run a trial trains in: its own (new, or resumed after a restart), or, after a PBT
    exploit (a checkpoint of another trial's run), a fork of that run at the checkpoint."""
    current = store.trial_run(sweep.id, trial)
    if current is not None and (pointer is None or pointer["run_id"] == current.id):
        if current.state != "created":
            where = f"its checkpoint at step {pointer['step']}" if pointer else "the start"
            store.add_event(
                current.id,
                current.step,
                "log",
                {"text": f"Ray Tune restarted the trial from {where}"},
            )
        return current
    number = trial.rsplit("_", 1)[-1]
    if pointer is None:
        return store.create_run(
            f"{sweep.name} {number}", sweep.trainer, knobs, sweep_id=sweep.id, trial=trial
        )
    donor = store.get_run(pointer["run_id"])
    step = int(pointer["step"])
    by = SweepSpec(**sweep.spec).scheduler  # pbt, or pb2 (whose explore is a GP bandit)
    changes = {k: v for k, v in knobs.items() if donor.config.get(k) != v}
    child = store.create_run(
        f"{sweep.name} {number}",
        sweep.trainer,
        knobs,
        parent_id=donor.id,
        fork_step=step,
        sweep_id=sweep.id,
        trial=trial,
    )
    store.add_event(
        donor.id, step, "fork", {"child": child.id, "changes": changes, "by": f"{by} exploit"}
    )
    before = {k: donor.config.get(k) for k in changes}
    store.add_event(
        child.id, step, "knob", {"changes": changes, "before": before, "by": f"{by} explore"}
    )
    if current is not None and current.state in (*ACTIVE_STATES, "created"):
        store.set_state(
            current.id,
            "stopped",
            f"{by.upper()} exploit: the trial trains on in {child.id}, a clone of {donor.id} "
            f"at step {step}",
        )
    return child


def train_trial(
    tune_config: dict[str, Any], *, server: Any, home: str, sweep_id: str, driver_pid: int
) -> None:
    """A Ray Tune trainable: one trial, trained through the run engine."""
    import torch
    from ray import tune

    from workbench.runs.ray_executor import StoreProxy, record_worker

    store = StoreProxy(server, home)
    sweep = store.get_sweep(sweep_id)
    spec = SweepSpec(**sweep.spec)
    torch.set_num_threads(max(1, int(spec.cpus_per_trial)))  # small nets: 1 is fastest
    knobs = trial_knobs(spec, tune_config)
    trial = tune.get_context().get_trial_id()
    record = run_for_trial(store, sweep, trial, knobs, _checkpoint_pointer(tune.get_checkpoint()))
    store.set_process(record.id, "ray", driver_pid)
    record_worker(store, record.id)
    length_knob = resolve_trainer(record.trainer).length_knob
    reporter = TuneReporter(
        record.id,
        spec.metric,
        last_step=record.config.get(length_knob),
        every_s=0.0 if spec.scheduler == "asha" else REPORT_EVERY_S,
        settle=store.settle,
    )
    try:
        final = execute_run(
            store, record.id, on_trainer=lambda trainer: trainer.ctx.on_flush.append(reporter)
        )
    finally:
        store.settle()
    if final == "failed":  # Tune's failure handling restarts it from its checkpoint
        raise RuntimeError(f"run {record.id} failed: {store.get_run(record.id).message}")
    if reporter.reported_step < 0 and spec.metric not in store.last_scalars(record.id):
        store.add_event(
            record.id,
            record.step,
            "log",
            {"text": f"the sweep's metric {spec.metric!r} was never logged by this run"},
        )


# ---- the driver -------------------------------------------------------------------------


def _store_callback(home: str, sweep_id: str, scheduler: str) -> Any:
    """A Ray Tune callback that writes what Tune decides about trials into their runs. Tune
    pickles its callbacks with the experiment's state: it holds the store's folder, and opens
    the store where it runs."""
    from ray import tune

    class StoreCallback(tune.Callback):
        _store: RunStore | None = None

        @property
        def store(self) -> RunStore:
            if self._store is None:
                self._store = RunStore(home)
            return self._store

        def __getstate__(self) -> dict[str, Any]:
            return {}

        def _run(self, trial: Any) -> RunRecord | None:
            return self.store.trial_run(sweep_id, trial.trial_id)

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            record = self._run(trial)
            if record is None or record.state not in ACTIVE_STATES:
                return  # it recorded its own end
            trainer_class = resolve_trainer(record.trainer)
            length = record.config.get(trainer_class.length_knob)
            if length is not None and record.step >= length:  # ended as its last report came
                self.store.set_state(record.id, "finished", "")
            else:
                message = f"stopped early by the {scheduler} scheduler"
                self.store.set_state(record.id, "stopped", message)

        def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            record = self._run(trial)
            if record is not None:
                text = "its worker failed: Ray Tune restarts it from its last checkpoint"
                self.store.add_event(record.id, record.step, "log", {"text": text})

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            record = self._run(trial)
            if record is not None and record.state in ACTIVE_STATES:
                message = "the trial failed more often than the sweep allows (see its log)"
                self.store.set_state(record.id, "failed", message)

    return StoreCallback()


def _tuner(store: RunStore, sweep: SweepRecord, restore: bool = False) -> Any:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining
    from ray.tune.schedulers.pb2 import PB2

    from workbench.runs.ray_executor import store_server

    spec = SweepSpec(**sweep.spec)
    trainable = tune.with_resources(
        tune.with_parameters(
            train_trial,
            server=store_server(store.home),
            home=str(store.home.resolve()),
            sweep_id=sweep.id,
            driver_pid=os.getpid(),
        ),
        {"cpu": spec.cpus_per_trial},
    )
    path = store.home / "sweeps" / sweep.id
    if restore:
        return tune.Tuner.restore(str(path), trainable, resume_unfinished=True, resume_errored=True)
    params = spec.search_params()
    search_alg = None
    if spec.search == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        search_alg = OptunaSearch(seed=spec.search_seed)
        param_space = {p.knob: p.domain() for p in params}
        num_samples = spec.samples
    elif spec.scheduler in ("pbt", "pb2"):
        param_space = {p.knob: p.domain() for p in params}
        num_samples = spec.samples
    else:
        param_space = {"trial": tune.grid_search(trial_configs(spec))}
        num_samples = 1
    if spec.scheduler == "asha":
        # max_t past the last step: a trial that trains to its end finishes by itself (its
        # run records "finished") rather than being stopped at its last report.
        scheduler = ASHAScheduler(
            time_attr="step",
            max_t=spec.total_steps() + 1,
            grace_period=max(spec.total_steps() // 8, 1),
        )
    elif spec.scheduler == "pbt":
        scheduler = PopulationBasedTraining(
            time_attr=CHECKPOINT_STEP,
            perturbation_interval=spec.interval(),
            hyperparam_mutations={p.knob: p.domain() for p in params},
            quantile_fraction=spec.quantile_fraction,
        )
    elif spec.scheduler == "pb2":  # PBT whose explore step is a GP-bandit (Parker-Holder 2020)
        scheduler = PB2(
            time_attr=CHECKPOINT_STEP,
            perturbation_interval=spec.interval(),
            hyperparam_bounds={p.knob: list(p.values) for p in params},
            quantile_fraction=spec.quantile_fraction,
        )
    else:
        scheduler = FIFOScheduler()
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=spec.metric,
            mode=spec.mode,
            num_samples=num_samples,
            scheduler=scheduler,
            search_alg=search_alg,
            # A finished or exploited trial's worker process trains the next trial: a new
            # process costs seconds of imports (torch, the trainers) on every restart.
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=sweep.id,
            storage_path=str((store.home / "sweeps").resolve()),
            callbacks=[_store_callback(str(store.home), sweep.id, spec.scheduler)],
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            verbose=0,
        ),
    )


def start_sweep(store: RunStore, spec: SweepSpec, name: str | None = None) -> SweepRecord:
    """The sweep's record (state running); :func:`run_sweep` trains it."""
    spec.search_params()  # refused now, before anything is recorded
    label = name or f"{spec.trainer} sweep"
    return store.create_sweep(label, spec.trainer, spec.to_dict())


def run_sweep(
    store: RunStore,
    sweep: SweepRecord,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    resume: bool = False,
) -> SweepRecord:
    """Train a sweep's trials on Ray Tune until they end (blocking). Ctrl-C stops it with
    every trial's state readable; ``resume=True`` continues an interrupted sweep."""
    from workbench.runs.ray_executor import connect

    connect(address, num_cpus)
    if resume:
        store.set_sweep_state(sweep.id, "running", "resumed")
    tuner = _tuner(store, sweep, restore=resume)
    try:
        results = tuner.fit()
    except KeyboardInterrupt:
        _mark_interrupted(store, sweep.id)
        raise
    errors = len(results.errors)
    if _mark_interrupted(store, sweep.id):
        return store.get_sweep(sweep.id)
    store.set_sweep_state(
        sweep.id,
        "failed" if errors and errors == len(results) else "finished",
        f"{len(results)} trials, {errors} failed" if errors else f"{len(results)} trials",
    )
    return store.get_sweep(sweep.id)


def _mark_interrupted(store: RunStore, sweep_id: str) -> int:
    """Trials Tune left unfinished (Ctrl-C): their runs are stopped, the sweep interrupted."""
    left = [r for r in store.list_runs(sweep_id) if r.state in ACTIVE_STATES]
    for record in left:
        store.set_state(
            record.id, "stopped", f"the sweep was interrupted: workbench sweep --resume {sweep_id}"
        )
    if left:
        store.set_sweep_state(
            sweep_id, "interrupted", f"{len(left)} trials left unfinished; resume to continue"
        )
    return len(left)


__all__ = [
    "PARAM_KINDS",
    "SCHEDULERS",
    "SEARCHES",
    "SearchParam",
    "SweepError",
    "SweepSpec",
    "TuneReporter",
    "run_for_trial",
    "run_sweep",
    "start_sweep",
    "train_trial",
    "trial_configs",
    "trial_knobs",
]
