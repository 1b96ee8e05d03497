"""The trainer protocol and the context a trainer talks to.

A trainer owns its training loop and calls ``ctx.boundary(step)`` at every update
boundary. That one call is where the run is steered: hot knob changes are applied (and
recorded at that step), a pause blocks, a stop raises :class:`StopTraining`, and due
checkpoints are written. Wrapping your own loop takes a few lines::

    class MyTrainer(Trainer):
        Config = MyConfig

        def train(self):
            for step in range(self.ctx.step, self.config.total_steps):
                loss = self.update()                     # your code
                self.ctx.log_scalar("losses/loss", loss, step)
                self.ctx.boundary(step + 1)

        def state_dict(self):
            return {"model": self.model.state_dict()}

        def load_state_dict(self, state, strict=True):
            self.model.load_state_dict(state["model"])
            return []

The trainer never touches a widget: everything it reports goes to the run store.
"""

from __future__ import annotations

import functools
import importlib
import math
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, ClassVar

import numpy as np

from workbench.runs.config import Config, KnobError
from workbench.runs.store import CheckpointError, RunStore

# Built-in trainers, by the short name the dashboard and the CLI use.
TRAINERS: dict[str, str] = {
    "regression": "workbench.trainers.regression:RegressionTrainer",
    "sb3": "workbench.trainers.sb3:SB3Trainer",
    "metra": "workbench.trainers.metra:METRATrainer",
    "hilp": "workbench.trainers.hilp:HILPTrainer",
    "curriculum": "workbench.trainers.curriculum:CurriculumTrainer",
    "reward": "workbench.trainers.reward_design:RewardDesignTrainer",
}

# Users' own trainers: an installed package names them in this entry-point group, e.g. in
# its pyproject.toml: [project.entry-points."rl_workbench.trainers"] mine = "my_pkg.train:Mine"
TRAINER_ENTRY_POINTS = "rl_workbench.trainers"

# Trainer classes that Python code of this process passed to ``Run.create`` (a class defined
# in a notebook, say), by their ``module:Class`` path: the records of their runs name them so,
# and this process resolves those names to the classes it was given, without importing.
_PASSED_IN: dict[str, type[Trainer]] = {}


class TrainerError(KeyError):
    """A trainer name that gives no Trainer class: not registered, or its registration does
    not load. Names come from the command line and from run records that anyone who can
    write the store may have written, so finding out never imports a module by that name."""

    def __str__(self) -> str:  # KeyError's own str() quotes the message
        return str(self.args[0]) if self.args else ""


class StopTraining(Exception):
    """Raised by :meth:`RunContext.boundary` when the run was asked to stop."""


class Trainer(ABC):
    """Base class of trainers. Subclasses set ``Config`` and implement ``train``."""

    Config: ClassVar[type[Config]]
    # The knob that says how many steps the run trains for: views show percent done and
    # time left from it.
    length_knob: ClassVar[str] = "total_steps"

    def __init__(self, config: Config, ctx: RunContext) -> None:
        self.config = config
        self.ctx = ctx

    @property
    def agent(self) -> Any:
        """The live learner (in a thread executor, ``run.agent`` returns it)."""
        return None

    @abstractmethod
    def train(self) -> None:
        """Train until done, calling ``self.ctx.boundary(step)`` at each update boundary."""

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint holds: tensors, arrays and plain values only."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> list[str]:
        """Restore from a checkpoint. With ``strict=False`` (a fork), skip entries whose
        shapes do not fit and return their names."""
        return []

    def apply(self, changes: Mapping[str, Any]) -> None:  # noqa: B027 (optional hook)
        """Push hot knob changes (already set on ``self.config``) into the learner. The
        default does nothing: right for trainers that read ``self.config`` every step."""


def resolve_trainer(name: str, run_id: str | None = None) -> type[Trainer]:
    """The trainer class registered as ``name``: a built-in (``TRAINERS``), one an installed
    package declares in the ``rl_workbench.trainers`` entry-point group, or a class Python code
    of this process passed to ``Run.create``. A ``module:Class`` path is looked up among the
    last, never imported: a run record naming ``os:system`` must not run ``os``'s import.
    ``run_id`` names the run whose record gave ``name`` in the error."""
    where = f"run {run_id}: " if run_id is not None else ""
    if name in TRAINERS:
        module, _, attribute = TRAINERS[name].partition(":")
        trainer = getattr(importlib.import_module(module), attribute)
    elif name in installed_trainers():
        entry = installed_trainers()[name]
        try:
            trainer = entry.load()
        except (ImportError, AttributeError) as error:
            raise TrainerError(
                f"{where}trainer {name!r} ({entry.value}, entry point of the "
                f"{TRAINER_ENTRY_POINTS!r} group) does not load: {type(error).__name__}: {error}"
            ) from None
    elif name in _PASSED_IN:
        return _PASSED_IN[name]
    else:
        registered = ", ".join([*TRAINERS, *installed_trainers()])
        raise TrainerError(
            f"{where}trainer {name!r} is not registered (registered: {registered}); "
            f"install your own in the {TRAINER_ENTRY_POINTS!r} entry-point group, "
            "or pass its class to Run.create in Python"
        )
    if not (isinstance(trainer, type) and issubclass(trainer, Trainer)):
        raise TrainerError(f"{where}trainer {name!r} is registered as {trainer!r}, not a Trainer")
    return trainer


@functools.cache
def installed_trainers() -> dict[str, EntryPoint]:
    """Installed packages' trainers (the ``rl_workbench.trainers`` entry points), by name;
    built-in names win. Read once per process: a package installed later is seen after a
    restart."""
    return {
        entry.name: entry
        for entry in entry_points(group=TRAINER_ENTRY_POINTS)
        if entry.name not in TRAINERS
    }


def trainer_name(trainer: type[Trainer]) -> str:
    """The name a run record stores for ``trainer``: its built-in or entry-point name, else its
    ``module:Class`` path, under which this process then knows the class (see
    :func:`resolve_trainer`). Another process (a subprocess worker, a dashboard) runs such a
    class only if it is registered there: installed under the entry-point group."""
    path = f"{trainer.__module__}:{trainer.__qualname__}"
    for name, registered in TRAINERS.items():
        if registered == path:
            return name
    for name, entry in installed_trainers().items():
        if entry.value.strip() == path:
            return name
    _PASSED_IN[path] = trainer
    return path


class RunContext:
    """What a running trainer reports to and is steered by (one per run execution)."""

    # Seconds between flushes of buffered scalars, and between looks for new commands.
    flush_interval = 0.5
    poll_interval = 0.1

    def __init__(self, store: RunStore, run_id: str, config: Config) -> None:
        self.store = store
        self.run_id = run_id
        self.config = config
        self.step = 0
        self.trainer: Trainer | None = None
        self.stop_requested = False
        self.paused = False
        self.last_checkpoint_step: int | None = None
        self._scalars: list[tuple[int, str, float]] = []
        self.latest: dict[str, float] = {}  # the newest value of each scalar logged
        # Called after each flush of the scalars (a sweep's trial reports to Ray Tune here).
        self.on_flush: list[Callable[[RunContext], None]] = []
        self._last_flush = self._last_poll = 0.0
        # Each look at a remote store (Ray) is a round trip that the trainer waits for and the
        # store actor serves: such a store says how often to look (as often as a flush).
        self.poll_interval = getattr(store, "command_poll_interval", self.poll_interval)
        self._non_finite: str | None = None
        # What went non-finite (a loss, or the state itself), until the last good checkpoint
        # is restored on resume.
        self.diverged: str | None = None

    # ---- reporting -------------------------------------------------------------------

    def log_scalar(self, name: str, value: float, step: int | None = None) -> None:
        value = float(value)
        step = self.step if step is None else int(step)
        if not math.isfinite(value) and "loss" in name.lower() and self._non_finite is None:
            self._non_finite = f"loss {name} = {value} at step {step}"
        self._scalars.append((step, name, value))
        self.latest[name] = value

    def log_scalars(self, values: Mapping[str, float], step: int | None = None) -> None:
        for name, value in values.items():
            self.log_scalar(name, value, step)

    def log_snapshot(
        self, name: str, arrays: Mapping[str, np.ndarray], step: int | None = None
    ) -> None:
        self.store.add_snapshot(self.run_id, self.step if step is None else step, name, arrays)

    def log(self, text: str) -> None:
        self.store.add_event(self.run_id, self.step, "log", {"text": text})

    def flush(self) -> None:
        self.store.add_scalars(self.run_id, self._scalars, step=self.step)
        self._scalars = []
        self._last_flush = time.monotonic()
        for callback in self.on_flush:
            callback(self)

    # ---- steering ------------------------------------------------------------------------

    def boundary(self, step: int) -> None:
        """Call at every update boundary: applies commands, blocks while paused, raises
        :class:`StopTraining` on stop, writes due checkpoints."""
        self.step = int(step)
        now = time.monotonic()
        if self._non_finite is not None:
            self._pause_for_non_finite()
        if now - self._last_flush >= self.flush_interval:
            self.flush()
        if now - self._last_poll >= self.poll_interval:
            self._apply_commands()
        while self.paused and not self.stop_requested:
            time.sleep(self.poll_interval / 2)
            self._apply_commands()
        if self.stop_requested:
            raise StopTraining
        if self.diverged is not None:
            self._restore_last_good_checkpoint()
        every = getattr(self.config, "checkpoint_every", 0)
        if every and self.step - (self.last_checkpoint_step or 0) >= every:
            self.save_checkpoint()

    def _apply_commands(self) -> None:
        self._last_poll = time.monotonic()
        for kind, payload in self.store.take_commands(self.run_id):
            if kind == "pause" and not self.paused:
                self.paused = True
                self.flush()
                self.store.set_state(self.run_id, "paused", payload.get("message", ""), self.step)
            elif kind == "resume" and self.paused:
                self.paused = False
                self.store.set_state(self.run_id, "running", "", self.step)
            elif kind == "stop":
                self.stop_requested = True
            elif kind == "update":
                self._apply_update(payload)
            elif kind == "checkpoint":
                self.save_checkpoint()

    def _apply_update(self, changes: Mapping[str, Any]) -> None:
        try:
            type(self.config).check(changes)
        except KnobError as error:  # validated by the sender too; refuse, keep training
            self.log(f"knob change refused: {error}")
            return
        before = {knob: getattr(self.config, knob) for knob in changes}
        self.config.param.update(**changes)
        if self.trainer is not None:
            self.trainer.apply(changes)
        self.store.set_config(self.run_id, self.config.to_dict())
        self.store.add_event(
            self.run_id, self.step, "knob", {"changes": dict(changes), "before": before}
        )

    def _pause_for_non_finite(self) -> None:
        where = self._non_finite
        self._non_finite = None
        self._scalars = [row for row in self._scalars if math.isfinite(row[2])]
        kept = (
            f"the last good checkpoint (step {self.last_checkpoint_step}) is kept"
            if self.last_checkpoint_step is not None
            else "no checkpoint was written yet"
        )
        message = (
            f"paused: non-finite {where}; {kept}. Change a knob (a lower learning rate?) "
            "and resume: training restarts from that checkpoint."
        )
        self.log(message)
        self.paused = True
        self.diverged = f"non-finite {where}"
        self.flush()
        self.store.set_state(self.run_id, "paused", message, self.step)

    def _restore_last_good_checkpoint(self) -> None:
        self.diverged = None  # restored, or with no checkpoint yet, trained on as it is
        restored = self.store.latest_good_checkpoint(self.run_id)
        if restored is not None and self.trainer is not None:
            self.trainer.load_state_dict(restored[1]["trainer"])
            self.flush()  # the buffered scalars belong to the stretch left behind
            self.step = restored[0]
            self.reapply_knobs_since(restored[0])
            self.log(f"resumed from the checkpoint at step {restored[0]}")
            _mark_abandoned(self, restored[0])

    def reapply_knobs_since(self, step: int) -> None:
        """Knob changes made from ``step`` on are in the config but not in a checkpoint
        of that step (an optimizer's learning rate, say): apply them again after loading it,
        so that a restored run trains with the knobs the user set last."""
        changed: dict[str, Any] = {}
        for _, at, _, payload in self.store.events(self.run_id, "knob"):
            if at >= step:
                changed.update(payload["changes"])
        if changed and self.trainer is not None:
            self.trainer.apply(changed)

    def save_checkpoint(self) -> None:
        """Write the trainer's state, unless it holds a NaN or an infinity: a checkpoint is
        what a run goes back to, so a diverged state is never written (the run pauses)."""
        if self.trainer is None or self.diverged is not None or self._non_finite is not None:
            return  # diverged: the last good checkpoint stays the newest
        state = {"step": self.step, "trainer": self.trainer.state_dict()}
        where = non_finite_entry(state["trainer"])
        if where is not None:  # pause at the next boundary, as for a non-finite loss
            self._non_finite = f"values in the trainer's state ({where}) at step {self.step}"
            self.diverged = f"non-finite {self._non_finite}"
            return
        self.store.save_checkpoint(self.run_id, self.step, state)
        self.last_checkpoint_step = self.step


def non_finite_entry(state: Any, path: str = "") -> str | None:
    """The path of the first tensor or array in a (nested) state that holds a NaN or an
    infinity, else None."""
    import torch

    if isinstance(state, Mapping):
        items = state.items()
    elif isinstance(state, list | tuple):
        items = enumerate(state)
    else:
        finite = True
        if isinstance(state, torch.Tensor) and state.is_floating_point():
            finite = bool(torch.isfinite(state).all())
        elif isinstance(state, np.ndarray) and np.issubdtype(state.dtype, np.floating):
            finite = bool(np.isfinite(state).all())
        elif isinstance(state, float):
            finite = math.isfinite(state)
        return None if finite else path or "the state"
    for key, value in items:
        where = non_finite_entry(value, f"{path}.{key}" if path else str(key))
        if where is not None:
            return where
    return None


def execute_run(
    store: RunStore,
    run_id: str,
    trainer_class: type[Trainer] | None = None,
    on_trainer: Callable[[Trainer], None] | None = None,
) -> str:
    """Run (or resume) a run to its end in the calling thread; returns the final state.

    Resumes from the run's newest checkpoint that loads; a fork starts from its parent's
    checkpoint where shapes allow. Any exception marks the run failed with the reason.
    """
    record = store.get_run(run_id)
    ctx: RunContext | None = None
    try:
        trainer_class = trainer_class or resolve_trainer(record.trainer, record.id)
        config = trainer_class.Config.from_dict(record.config)
        ctx = RunContext(store, run_id, config)
        trainer = trainer_class(config, ctx)
        ctx.trainer = trainer
        if on_trainer is not None:
            on_trainer(trainer)
        _restore(store, record, trainer, ctx)
        store.set_state(run_id, "running", "", ctx.step)
        try:
            trainer.train()
            final, message = "finished", ""
        except StopTraining:
            final, message = "stopped", "stopped by request"
        if ctx.stop_requested:
            final, message = "stopped", "stopped by request"
        ctx.save_checkpoint()
        if ctx._non_finite is not None and ctx.diverged is None:  # since the last boundary
            ctx.diverged = f"non-finite {ctx._non_finite}"
        if ctx.diverged is not None:  # nothing was written over the last good state
            kept = ctx.last_checkpoint_step
            final = "failed" if final == "finished" else final
            kept_text = (
                f"the last good checkpoint (step {kept}) is kept"
                if kept is not None
                else "no checkpoint was written"
            )
            message = "; ".join(part for part in (message, ctx.diverged, kept_text) if part)
        ctx.flush()
        store.set_state(run_id, final, message, ctx.step)
        return final
    except Exception as error:
        if ctx is not None:
            ctx._scalars = [row for row in ctx._scalars if math.isfinite(row[2])]
            ctx.flush()
        detail = traceback.format_exc(limit=8)
        store.add_event(run_id, ctx.step if ctx else 0, "log", {"text": detail})
        store.set_state(run_id, "failed", f"{type(error).__name__}: {error}")
        return "failed"


def _mark_abandoned(ctx: RunContext, step: int) -> None:
    """Training goes on from the checkpoint at ``step``: what was logged after it is an
    abandoned branch (charts draw it faint, exports label it)."""
    marked = ctx.store.abandon_after(ctx.run_id, step)
    if marked:
        ctx.log(f"{marked} scalar rows logged after step {step} are marked abandoned")


def _fork_point(store: RunStore, record: Any) -> tuple[int, dict[str, Any], list[str]] | None:
    """The parent's checkpoint a fork was cut at (its parent may have trained on since: a
    PBT exploit clones the checkpoint it chose), else the parent's newest that loads."""
    problems: list[str] = []
    if record.fork_step is not None:
        try:
            return record.fork_step, store.checkpoint_at(record.parent_id, record.fork_step), []
        except CheckpointError as error:  # set aside since: as a fork made now would
            problems.append(f"{error}; the fork starts from the parent's newest good one")
    newest = store.latest_good_checkpoint(record.parent_id)
    return None if newest is None else (newest[0], newest[1], problems + newest[2])


def _restore(store: RunStore, record: Any, trainer: Trainer, ctx: RunContext) -> None:
    own = store.latest_good_checkpoint(record.id)
    if own is not None:
        step, state, problems = own
        for problem in problems:
            ctx.log(f"skipped a damaged checkpoint: {problem}")
        try:
            trainer.load_state_dict(state["trainer"])
        except (KeyError, RuntimeError, ValueError) as error:  # a torch file, but not ours
            raise CheckpointError(
                f"the checkpoint at step {step} loads but does not fit this {record.trainer} run "
                f"({type(error).__name__}: {str(error)[:200]}); it is left as it is"
            ) from error
        ctx.step = ctx.last_checkpoint_step = step
        ctx.reapply_knobs_since(step)
        ctx.log(f"resumed from the checkpoint at step {step}")
        _mark_abandoned(ctx, step)
        return
    if record.parent_id is None:
        return
    parent = _fork_point(store, record)
    if parent is None:
        ctx.log("parent has no checkpoint: the fork starts from scratch")
        return
    for problem in parent[2]:
        ctx.log(problem)
    skipped = trainer.load_state_dict(parent[1]["trainer"], strict=False)
    # Hot knobs the fork changed: the parent's state (an optimizer's learning rate, say)
    # holds the parent's values until they are applied again.
    parent_config = store.get_run(record.parent_id).config
    changed = {
        knob: value
        for knob, value in record.config.items()
        if parent_config.get(knob) != value and type(ctx.config).is_hot(knob)
    }
    if changed:
        trainer.apply(changed)
    ctx.step = parent[0]  # the child's curves continue the parent's
    ctx.log(
        f"forked from run {record.parent_id} at step {parent[0]}"
        + (f"; not loaded (shapes differ): {', '.join(skipped)}" if skipped else "")
    )


__all__ = [
    "TRAINERS",
    "TRAINER_ENTRY_POINTS",
    "CheckpointError",
    "RunContext",
    "StopTraining",
    "Trainer",
    "TrainerError",
    "execute_run",
    "installed_trainers",
    "resolve_trainer",
    "trainer_name",
]
