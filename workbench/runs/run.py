"""Runs: one training loop each, started in a thread, a subprocess or a Ray task, steered
through the run store.

Every steering call (pause, resume, stop, update, checkpoint) is a command row in the store
that the trainer picks up at its next update boundary. The same path serves both
executors, so a run behaves the same whether it trains in the notebook's process or in a
subprocess of the dashboard.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import numpy as np

from workbench.runs.config import Config, KnobError
from workbench.runs.store import RunRecord, RunStore, trainer_thread_name
from workbench.runs.trainer import Trainer, execute_run, resolve_trainer, trainer_name

EXECUTORS = ("thread", "subprocess", "ray")
FINAL_STATES = ("finished", "failed", "stopped")


_THREAD_RUNS: list[Run] = []


@atexit.register
def _stop_thread_runs() -> None:
    """At interpreter exit, stop in-thread runs cleanly (each checkpoints) rather than
    killing their daemon threads mid-step."""
    live = [run for run in _THREAD_RUNS if run._thread is not None and run._thread.is_alive()]
    for run in live:
        if run.state in ("running", "paused"):
            run.store.add_command(run.id, "stop")
    for run in live:
        run._thread.join(timeout=10)


def _exit_code_before_reaping(process: subprocess.Popen) -> int:
    """Wait for ``process`` to end without reaping it (it stays a zombie, which readers take
    for alive); returns its exit code, or minus the signal that killed it, as Popen does."""
    if not hasattr(os, "waitid"):  # not Linux: wait and reap
        return process.wait()
    try:
        result = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
    except ChildProcessError:  # reaped meanwhile (stop() polled it)
        return process.wait()
    return result.si_status if result.si_code == os.CLD_EXITED else -result.si_status


def _ray_done(task: Any, timeout: float) -> bool:
    """Whether a Ray task has ended, waiting up to ``timeout`` seconds."""
    import ray

    done, _ = ray.wait([task], timeout=timeout)
    return bool(done)


class RunError(RuntimeError):
    """A lifecycle call that does not fit the run's state."""


class Run:
    """A handle on one run in a :class:`RunStore`; cheap to create, reads state afresh."""

    def __init__(
        self, store: RunStore, run_id: str, trainer_class: type[Trainer] | None = None
    ) -> None:
        self.store = store
        self.id = run_id
        self._trainer_class = trainer_class
        self._trainer: Trainer | None = None
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen | None = None
        self._ray_task: Any = None  # the ObjectRef of a run started on Ray by this handle

    # ---- creation ------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        trainer: str | type[Trainer],
        config: Config | None = None,
        *,
        store: RunStore | None = None,
        name: str | None = None,
        **knobs: Any,
    ) -> Run:
        """A new run in state ``created``. Knobs are validated now, before anything starts."""
        trainer_class = resolve_trainer(trainer) if isinstance(trainer, str) else trainer
        if config is None:
            config = trainer_class.Config(**trainer_class.Config.check(knobs))
        elif knobs:
            config = config.changed(**knobs)
        store = store or RunStore()
        record = store.create_run(
            name or trainer_class.__name__, trainer_name(trainer_class), config.to_dict()
        )
        return cls(store, record.id, trainer_class)

    @classmethod
    def open(cls, run_id: str, store: RunStore | None = None) -> Run:
        store = store or RunStore()
        store.get_run(run_id)  # raises KeyError for an unknown id
        return cls(store, run_id)

    # ---- reading -------------------------------------------------------------------------

    @property
    def record(self) -> RunRecord:
        return self.store.get_run(self.id)

    @property
    def state(self) -> str:
        return self.record.state

    @property
    def step(self) -> int:
        return self.record.step

    @property
    def config(self) -> dict[str, Any]:
        return self.record.config

    @property
    def trainer_class(self) -> type[Trainer]:
        if self._trainer_class is None:
            self._trainer_class = resolve_trainer(self.record.trainer, self.id)
        return self._trainer_class

    @property
    def agent(self) -> Any:
        """The live learner; only a run in a thread executor of this process has one here."""
        if self._trainer is None:
            raise RunError(
                f"run {self.id} has no live agent in this process (start it with executor='thread')"
            )
        return self._trainer.agent

    def scalars(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one scalar."""
        rows = self.store.scalars(self.id, name)
        return np.array([r[1] for r in rows], dtype=np.int64), np.array([r[3] for r in rows])

    def __repr__(self) -> str:
        record = self.record
        return f"Run({record.id!r}, {record.name!r}, state={record.state!r}, step={record.step})"

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self, executor: str = "thread") -> Run:
        """Start a created run, or restart a stopped or failed one from its last checkpoint.

        ``executor``: ``thread`` (this process; ``run.agent`` is the live learner),
        ``subprocess`` (a crash never reaches this process) or ``ray`` (a Ray task on this
        machine or a cluster: ``$RAY_ADDRESS``, else a local Ray; see
        :func:`workbench.runs.ray_executor.connect`)."""
        if executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
        state = self.state  # a run whose trainer died unrecorded reads as failed
        if state in FINAL_STATES:
            self._join(timeout=10.0)  # its trainer recorded its end and is leaving
        if self._alive() or state in ("running", "paused"):
            raise RunError(f"run {self.id} is already {state}")
        if state == "finished":
            raise RunError(f"run {self.id} is finished; fork it (or raise total steps) to train on")
        self.store.take_commands(self.id)  # drop commands left from an earlier execution
        # No pid until the trainer exists (a reader then takes it as starting, not dead);
        # running from now on, so that a wait() right after start() does not return early.
        self.store.set_process(self.id, executor, None)
        self.store.set_state(self.id, "running", "starting")
        if executor == "thread":
            self._start_thread()
        elif executor == "ray":
            self._start_ray()
        else:
            self._start_subprocess()
        return self

    def _alive(self) -> bool:
        return (
            (self._thread is not None and self._thread.is_alive())
            or (self._process is not None and self._process.poll() is None)
            or (self._ray_task is not None and not _ray_done(self._ray_task, 0.0))
        )

    def _join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for this handle's trainer thread or process to end."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self._process is not None:
            # Still exiting after that: start() then refuses, naming the state.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout)
        if self._ray_task is not None:
            _ray_done(self._ray_task, timeout)

    def _start_thread(self) -> None:
        def remember(trainer: Trainer) -> None:
            self._trainer = trainer

        self._thread = threading.Thread(
            target=execute_run,
            args=(self.store, self.id, self._trainer_class, remember),
            name=trainer_thread_name(self.id),
            daemon=True,
        )
        self._thread.start()
        self.store.set_process(self.id, "thread", os.getpid())  # the process it trains in
        _THREAD_RUNS[:] = [r for r in _THREAD_RUNS if r is not self and r._alive()] + [self]

    def _start_subprocess(self) -> None:
        command = [
            sys.executable,
            "-m",
            "workbench.runs.worker",
            "--home",
            str(self.store.home),
            self.id,
        ]
        log = open(self.store.run_folder(self.id) / "worker.log", "ab")  # noqa: SIM115 (owned by the child)
        self._process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        self.store.set_process(self.id, "subprocess", self._process.pid)
        threading.Thread(target=self._watch_process, args=(self._process,), daemon=True).start()

    def _start_ray(self) -> None:
        from workbench.runs import ray_executor

        ray_executor.connect()
        self._ray_task = ray_executor.submit(self.store, self.id)
        # The driver's pid: Ray ends a driver's tasks with it, so a reader that finds this
        # process gone knows the run is dead (the worker may be on another machine).
        self.store.set_process(self.id, "ray", os.getpid())
        threading.Thread(target=self._watch_ray_task, args=(self._ray_task,), daemon=True).start()

    def _watch_ray_task(self, task: Any) -> None:
        """Mark the run failed when its Ray task dies without saying how it ended (a killed
        worker, a lost node)."""
        import ray

        try:
            ray.get(task)
            return
        except ray.exceptions.RayError as error:
            reason = f"Ray task failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
        record = self.store.get_run(self.id)
        if record.state in FINAL_STATES:
            return  # it recorded its own end first
        self.store.add_event(self.id, record.step, "log", {"text": reason})
        self.store.set_state(self.id, "failed", reason)

    def _watch_process(self, process: subprocess.Popen) -> None:
        """Mark the run failed when its process dies without saying how it ended. The
        reason is recorded while the dead process is not yet reaped: readers elsewhere take
        it as alive until then, so none records a plainer reason first."""
        code = _exit_code_before_reaping(process)
        try:
            record = self.store.get_run(self.id)
            # A reader that saw the process gone first recorded a plainer reason: give this.
            if record.state in FINAL_STATES and "ended without a final state" not in record.message:
                return
            if code < 0:
                reason = (
                    f"trainer process was killed by signal {-code} ({signal.Signals(-code).name})"
                )
            else:
                reason = f"trainer process exited with code {code}"
            self.store.add_event(
                self.id,
                record.step,
                "log",
                {"text": f"{reason}; see {self.store.run_folder(self.id) / 'worker.log'}"},
            )
            self.store.set_state(self.id, "failed", reason)
        finally:
            process.wait()  # reap it now

    def pause(self) -> None:
        self._command("pause")

    def resume(self, executor: str | None = None) -> Run:
        """Resume a paused run; restart a stopped or failed one from its last checkpoint."""
        if self.state in ("stopped", "failed", "created"):
            return self.start(executor or self.record.executor or "thread")
        self._command("resume")
        return self

    def stop(self, wait: float | None = 30.0) -> str:
        """Ask the run to stop at its next boundary (it checkpoints first). Waits up to
        ``wait`` seconds; a subprocess that does not stop in time is killed."""
        if self.state in FINAL_STATES:
            return self.state
        self._command("stop")
        if wait is None:
            return self.state
        deadline = time.monotonic() + wait
        state = self.wait(timeout=wait)
        if state not in FINAL_STATES and self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
            self.store.set_state(self.id, "stopped", f"did not stop within {wait:g} s; killed")
        if state not in FINAL_STATES and self._ray_task is not None:
            import ray

            ray.cancel(self._ray_task, force=True)
            _ray_done(self._ray_task, 10.0)
            self.store.set_state(self.id, "stopped", f"did not stop within {wait:g} s; killed")
        # "stopped" is recorded just before the trainer leaves: once this returns, it is gone,
        # and a resume() at once starts afresh.
        self._join(timeout=max(deadline - time.monotonic(), 1.0))
        return self.state

    def update(self, **changes: Any) -> None:
        """Change hot knobs; they take effect (and are recorded) at the next boundary."""
        config_class = self.trainer_class.Config
        config_class.check(changes)
        # The whole config too: a rule between knobs (or a reward that is not finite in this
        # run's environment) is refused before the change reaches the run.
        config_class.from_dict({**self.record.config, **changes})
        structural = [knob for knob in changes if not config_class.is_hot(knob)]
        if structural:
            raise KnobError(
                f"{', '.join(structural)} {'is' if len(structural) == 1 else 'are'} structural: "
                "fork the run to change it"
            )
        self._command("update", changes)

    def checkpoint(self, wait: float = 0.0) -> None:
        """Ask for a checkpoint at the next boundary; with ``wait``, block up to that many
        seconds until it is written."""
        before = len(self.store.checkpoints(self.id))
        self._command("checkpoint")
        deadline = time.monotonic() + wait
        while len(self.store.checkpoints(self.id)) == before and time.monotonic() < deadline:
            time.sleep(0.1)

    def _command(self, kind: str, payload: dict[str, Any] | None = None) -> None:
        state = self.state
        if state not in ("running", "paused"):
            raise RunError(f"cannot {kind} run {self.id}: it is {state}")
        self.store.add_command(self.id, kind, payload)

    def fork(self, name: str | None = None, **changes: Any) -> Run:
        """A new run (state ``created``) with ``changes`` to any knobs, hot or structural,
        starting from this run's latest checkpoint where shapes allow."""
        record = self.record
        config_class = self.trainer_class.Config
        config = config_class.from_dict(record.config).changed(**changes)
        checkpoints = self.store.checkpoints(self.id)
        child = self.store.create_run(
            name or f"{record.name} fork",
            record.trainer,
            config.to_dict(),
            parent_id=self.id,
            fork_step=checkpoints[-1][0] if checkpoints else None,
        )
        self.store.add_event(self.id, record.step, "fork", {"child": child.id, "changes": changes})
        return Run(self.store, child.id, self._trainer_class)

    def wait(self, timeout: float | None = None, states: tuple[str, ...] = FINAL_STATES) -> str:
        """Block until the run reaches one of ``states`` (or ``timeout`` passes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (state := self.state) not in states:
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        return state

    def wait_for_step(self, step: int, timeout: float = 60.0) -> int:
        """Block until the run has passed ``step`` (or ended, or ``timeout`` passed)."""
        deadline = time.monotonic() + timeout
        while (record := self.record).step < step and record.state not in FINAL_STATES:
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        return record.step
