"""The run store: SQLite in WAL mode plus one artifact folder per run.

Everything a run produces goes through here: its row (config, state, lineage), scalars,
snapshots (named numpy arrays, saved as ``.npz`` artifacts), events (knob changes, state
changes, log lines), checkpoints, and the commands that steer it. Trainers in threads or
subprocesses write; widgets and the CLI read. WAL mode lets readers proceed while a writer
commits, so live and finished runs are read the same way.

Each thread gets its own connection (sqlite3 connections must not cross threads).
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.runs.wal import LogDamage, inspect_log

LOG = logging.getLogger(__name__)

# The write-ahead log is copied into the database at least this often while runs write (and at
# every run checkpoint and change of state), so a damaged log loses at most these seconds.
CHECKPOINT_EVERY_S = 5.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    trainer TEXT NOT NULL,
    config TEXT NOT NULL,
    state TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    step INTEGER NOT NULL DEFAULT 0,
    parent_id TEXT,
    fork_step INTEGER,
    executor TEXT,
    pid INTEGER,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    sweep_id TEXT,
    trial TEXT
);
CREATE TABLE IF NOT EXISTS scalars (
    run_id TEXT NOT NULL, step INTEGER NOT NULL, name TEXT NOT NULL, value REAL, time REAL NOT NULL,
    abandoned INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS scalars_by_run ON scalars (run_id, name, step);
CREATE TABLE IF NOT EXISTS latest_scalars (
    run_id TEXT NOT NULL, name TEXT NOT NULL, step INTEGER NOT NULL, value REAL,
    PRIMARY KEY (run_id, name)
);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL, step INTEGER NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL,
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, kind);
CREATE TABLE IF NOT EXISTS snapshots (
    run_id TEXT NOT NULL, step INTEGER NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL,
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshots_by_run ON snapshots (run_id, name, step);
CREATE TABLE IF NOT EXISTS checkpoints (
    run_id TEXT NOT NULL, step INTEGER NOT NULL, path TEXT NOT NULL, time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, kind TEXT NOT NULL,
    payload TEXT NOT NULL, created_at REAL NOT NULL, consumed_at REAL
);
CREATE INDEX IF NOT EXISTS pending_commands ON commands (run_id, consumed_at);
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, trainer TEXT NOT NULL, spec TEXT NOT NULL,
    state TEXT NOT NULL, message TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
"""

SWEEP_STATES = ("running", "finished", "interrupted", "failed")

_LOGS_INSPECTED: set[Path] = set()  # logs read by this process before SQLite opened them

RUN_STATES = ("created", "running", "paused", "finished", "failed", "stopped")
ACTIVE_STATES = ("running", "paused")


def trainer_thread_name(run_id: str) -> str:
    """The name of the thread that trains a run in a thread executor."""
    return f"run-{run_id}"


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: no signal, only the check that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    try:
        status = Path(f"/proc/{pid}/stat").read_bytes()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().lower()
    except OSError:  # no /proc (macOS), or it ended meanwhile: trust the signal check
        return True
    if status.rsplit(b")", 1)[-1].split()[:1] == [b"Z"] or not command:
        # Dead but not yet reaped (or dying: its memory, and with it its command line, is
        # gone first): its parent will record how it ended.
        return True
    # A pid the system gave to another program after ours died is not ours.
    return b"python" in command or b"workbench" in command


def trainer_alive(record: RunRecord) -> bool:
    """Whether the process (and, in this process, the thread) that trains a running or
    paused run is still there. A record without a pid is being started: alive."""
    if record.pid is None:
        return True
    if record.pid == os.getpid():
        if record.executor != "thread":
            return True  # a worker process reading its own run
        name = trainer_thread_name(record.id)
        return any(thread.name == name and thread.is_alive() for thread in threading.enumerate())
    return _process_exists(record.pid)


def default_home() -> Path:
    """``$RL_WORKBENCH_HOME`` or ``~/.rl-workbench``."""
    return Path(os.environ.get("RL_WORKBENCH_HOME") or Path.home() / ".rl-workbench")


@dataclass(frozen=True)
class RunRecord:
    """One row of the ``runs`` table."""

    id: str
    name: str
    trainer: str
    config: dict[str, Any]
    state: str
    message: str
    step: int
    parent_id: str | None
    fork_step: int | None
    executor: str | None
    pid: int | None
    created_at: float
    updated_at: float
    # The sweep a run belongs to and its trial there (Ray Tune's trial id); None otherwise.
    sweep_id: str | None = None
    trial: str | None = None


@dataclass(frozen=True)
class SweepRecord:
    """One row of the ``sweeps`` table: a search over knobs and seeds (see
    ``workbench.runs.sweeps``); its runs carry its id."""

    id: str
    name: str
    trainer: str
    spec: dict[str, Any]
    state: str
    message: str
    created_at: float
    updated_at: float


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read (corrupt, truncated or missing)."""


class StoreError(ValueError):
    """A run store that cannot be opened: damaged, not a database, or not writable. Its
    message names the file, what is wrong and what to do, on one line."""


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the whole new one:
    temp file in the same folder, fsync, rename, fsync of the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class RunStore:
    """SQLite (WAL) index plus artifact folders under ``home``."""

    def __init__(self, home: str | Path | None = None) -> None:
        self.home = Path(home) if home is not None else default_home()
        self.path = self.home / "runs.sqlite"
        self._local = threading.local()
        self._last_log_checkpoint = -CHECKPOINT_EVERY_S  # the first write checkpoints at once
        # One line on what a damaged write-ahead log lost and kept, when this store found one.
        self.recovered: str | None = None
        elsewhere = "use another folder with --home or $RL_WORKBENCH_HOME"
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(
                f"cannot make the run store folder {self.home}: {error.strerror}; {elsewhere}"
            ) from None
        damage = self._inspect_log()
        try:
            with self._connect() as db:
                db.executescript(SCHEMA)
                _add_missing_columns(db)
                # Every page read once: cheap at open, and a damaged file is named now
                # instead of failing later in the middle of a run.
                problem = db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as error:
            self.close()
            raise StoreError(self._unreadable(str(error), elsewhere)) from None
        if problem != "ok":
            self.close()
            detail = " ".join(problem.replace("*** in database main ***", "").split())
            raise StoreError(self._unreadable(f"damaged: {detail}", elsewhere))
        if damage is not None:
            self.recovered = self._what_was_kept(*damage)
            LOG.warning(self.recovered)

    @property
    def log_path(self) -> Path:
        return self.path.with_name(self.path.name + "-wal")

    def _inspect_log(self) -> tuple[LogDamage, Path, float] | None:
        """Read the write-ahead log before SQLite does, once per process: if it is damaged,
        keep a copy of it (SQLite drops what it cannot read at its next write) and return the
        damage, the copy and the time of the log's last write."""
        log = self.log_path
        if log in _LOGS_INSPECTED:
            return None
        _LOGS_INSPECTED.add(log)
        damage = inspect_log(log)
        if damage is None:
            return None
        # A log another process is writing right now may end in half a frame: only a log
        # that stays as it is was damaged.
        before = log.stat()
        time.sleep(0.2)
        after = log.stat()
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
            return None
        copy = log.with_name(f"{log.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        shutil.copyfile(log, copy)
        return damage, copy, after.st_mtime

    def _what_was_kept(self, damage: LogDamage, copy: Path, last_write: float) -> str:
        """One line for the user: the file, what is wrong, what is lost, what is kept."""
        db = self._connect()
        runs, runs_until = db.execute("SELECT count(*), max(updated_at) FROM runs").fetchone()
        rows, rows_until = db.execute("SELECT count(*), max(time) FROM scalars").fetchone()
        kept_until = max(runs_until or 0.0, rows_until or 0.0)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(kept_until))
        until = time.strftime("%H:%M:%S", time.localtime(last_write))
        lost = {0: "its last writes", 1: "1 transaction"}.get(
            damage.lost_commits, f"{damage.lost_commits} transactions"
        )
        kept = f"everything written until {since}" if kept_until else "nothing"
        return (
            f"the run store's write-ahead log {self.log_path} is damaged ({damage.reason}). "
            f"Lost: {lost}, written until {until}. Kept: {runs} runs and {rows:,} scalar rows, "
            f"{kept}. The damaged log is copied to {copy}"
        )

    def checkpoint_log(self) -> None:
        """Copy the write-ahead log into the database file now (without waiting for readers),
        so that damage to the log cannot lose what was written until now."""
        self._connect().execute("PRAGMA wal_checkpoint(PASSIVE)")
        self._last_log_checkpoint = time.monotonic()

    def _checkpoint_log_if_due(self) -> None:
        if time.monotonic() - self._last_log_checkpoint >= CHECKPOINT_EVERY_S:
            self.checkpoint_log()

    def _unreadable(self, reason: str, elsewhere: str) -> str:
        """One line: the file, what is wrong with it, what to do."""
        if "readonly" in reason or "unable to open" in reason:
            return f"cannot write the run store {self.path} ({reason}); {elsewhere}"
        return (
            f"the run store {self.path} is not readable ({reason}); move it aside to start a "
            f"new one (checkpoints in {self.home / 'runs'} are kept), or {elsewhere}"
        )

    def close(self) -> None:
        """Close this thread's connection (others close with their threads)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # ---- connections ---------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints, fast per commit
            db.row_factory = sqlite3.Row
            self._local.db = db
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: all of it commits, or none of it."""
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _write(self, sql: str, rows: Iterable[tuple] | tuple = ()) -> None:
        if isinstance(rows, tuple):
            self._connect().execute(sql, rows)  # one statement commits by itself
        else:
            with self._transaction() as db:
                db.executemany(sql, rows)
        self._checkpoint_log_if_due()

    def run_folder(self, run_id: str) -> Path:
        return self.home / "runs" / run_id

    # ---- runs ----------------------------------------------------------------------------

    def create_run(
        self,
        name: str,
        trainer: str,
        config: Mapping[str, Any],
        parent_id: str | None = None,
        fork_step: int | None = None,
        sweep_id: str | None = None,
        trial: str | None = None,
    ) -> RunRecord:
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        now = time.time()
        self._write(
            "INSERT INTO runs (id, name, trainer, config, state, parent_id, fork_step, created_at,"
            " updated_at, sweep_id, trial) VALUES (?, ?, ?, ?, 'created', ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                name,
                trainer,
                json.dumps(dict(config)),
                parent_id,
                fork_step,
                now,
                now,
                sweep_id,
                trial,
            ),
        )
        self.run_folder(run_id).mkdir(parents=True, exist_ok=True)
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        """A run's record, as it is: a run whose trainer died unrecorded reads as failed."""
        return self._as_it_is(self._read_run(run_id))

    def _read_run(self, run_id: str) -> RunRecord:
        row = self._connect().execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id!r} in {self.path}")
        return _record(row)

    def list_runs(self, sweep_id: str | None = None) -> list[RunRecord]:
        """All runs, oldest first; with ``sweep_id``, that sweep's runs only."""
        if sweep_id is None:
            rows = self._connect().execute("SELECT * FROM runs ORDER BY created_at").fetchall()
        else:
            rows = self._connect().execute(
                "SELECT * FROM runs WHERE sweep_id = ? ORDER BY created_at, rowid", (sweep_id,)
            )
        return [self._as_it_is(_record(row)) for row in rows]

    def trial_run(self, sweep_id: str, trial: str) -> RunRecord | None:
        """The newest run of a sweep's trial (after a PBT exploit, the trial trains on in a
        fork of another trial's run), or None before its first."""
        row = (
            self._connect()
            .execute(
                "SELECT * FROM runs WHERE sweep_id = ? AND trial = ? ORDER BY created_at DESC,"
                " rowid DESC LIMIT 1",
                (sweep_id, trial),
            )
            .fetchone()
        )
        return None if row is None else self._as_it_is(_record(row))

    # ---- sweeps --------------------------------------------------------------------------

    def create_sweep(self, name: str, trainer: str, spec: Mapping[str, Any]) -> SweepRecord:
        sweep_id = "sweep-" + time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]
        now = time.time()
        self._write(
            "INSERT INTO sweeps VALUES (?, ?, ?, ?, 'running', '', ?, ?)",
            (sweep_id, name, trainer, json.dumps(dict(spec)), now, now),
        )
        return self.get_sweep(sweep_id)

    def get_sweep(self, sweep_id: str) -> SweepRecord:
        row = self._connect().execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        if row is None:
            raise KeyError(f"no sweep {sweep_id!r} in {self.path}")
        return _sweep_record(row)

    def list_sweeps(self) -> list[SweepRecord]:
        rows = self._connect().execute("SELECT * FROM sweeps ORDER BY created_at").fetchall()
        return [_sweep_record(row) for row in rows]

    def set_sweep_state(self, sweep_id: str, state: str, message: str = "") -> None:
        if state not in SWEEP_STATES:
            raise ValueError(f"sweep state must be one of {SWEEP_STATES}, got {state!r}")
        self._write(
            "UPDATE sweeps SET state = ?, message = ?, updated_at = ? WHERE id = ?",
            (state, message, time.time(), sweep_id),
        )
        self.checkpoint_log()

    def _as_it_is(self, record: RunRecord) -> RunRecord:
        """The record, unless it says running or paused while the process that trained it is
        gone (killed with no chance to record a final state, say kill -9 of ``workbench
        train``): then the run is marked failed, so every reader sees it so and it can
        restart from its last checkpoint."""
        if record.state not in ACTIVE_STATES or trainer_alive(record):
            return record
        reason = f"its {record.executor} process (pid {record.pid}) ended without a final state"
        with self._transaction() as db:
            # Only if nobody recorded a state meanwhile (the trainer's own last words).
            changed = db.execute(
                "UPDATE runs SET state = 'failed', message = ?, updated_at = ? WHERE id = ?"
                " AND state = ? AND pid IS ?",
                (reason, time.time(), record.id, record.state, record.pid),
            ).rowcount
            if changed:
                for kind, payload in (
                    ("log", {"text": reason}),
                    ("state", {"state": "failed", "message": reason}),
                ):
                    db.execute(
                        "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
                        (record.id, record.step, kind, json.dumps(payload), time.time()),
                    )
        return self._read_run(record.id)

    def set_state(
        self, run_id: str, state: str, message: str = "", step: int | None = None
    ) -> None:
        if state not in RUN_STATES:
            raise ValueError(f"state must be one of {RUN_STATES}, got {state!r}")
        now = time.time()
        with self._transaction() as db:
            if step is None:
                step = db.execute("SELECT step FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
            db.execute(
                "UPDATE runs SET state = ?, message = ?, step = ?, updated_at = ? WHERE id = ?",
                (state, message, step, now, run_id),
            )
            db.execute(
                "INSERT INTO events VALUES (?, ?, 'state', ?, ?)",
                (run_id, step, json.dumps({"state": state, "message": message}), now),
            )
        self.checkpoint_log()

    def set_process(self, run_id: str, executor: str, pid: int | None) -> None:
        self._write("UPDATE runs SET executor = ?, pid = ? WHERE id = ?", (executor, pid, run_id))

    def set_config(self, run_id: str, config: Mapping[str, Any]) -> None:
        self._write("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(dict(config)), run_id))

    def set_step(self, run_id: str, step: int) -> None:
        self._write(
            "UPDATE runs SET step = ?, updated_at = ? WHERE id = ?", (step, time.time(), run_id)
        )

    # ---- scalars, events, snapshots ----------------------------------------------------

    def add_scalars(
        self, run_id: str, rows: Iterable[tuple[int, str, float]], step: int | None = None
    ) -> None:
        """Append scalar rows (step, name, value); with ``step``, the run's step too, in the
        same transaction (a trainer's flush: one write, and one round trip to a remote store)."""
        now = time.time()
        rows = [(run_id, int(step), name, float(value), now) for step, name, value in rows]
        latest = {name: (run_id, name, step, value) for run_id, step, name, value, _ in rows}
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO scalars (run_id, step, name, value, time) VALUES (?, ?, ?, ?, ?)", rows
            )
            # The latest value of each name, kept up to date so that tables of many runs
            # read one row per metric instead of scanning whole histories.
            db.executemany(
                "INSERT INTO latest_scalars VALUES (?, ?, ?, ?) ON CONFLICT (run_id, name)"
                " DO UPDATE SET step = excluded.step, value = excluded.value",
                list(latest.values()),
            )
            if step is not None:
                db.execute(
                    "UPDATE runs SET step = ?, updated_at = ? WHERE id = ?", (step, now, run_id)
                )
        self._checkpoint_log_if_due()

    def scalars(
        self, run_id: str, name: str | None = None, after_rowid: int = 0, abandoned: bool = False
    ) -> list[tuple[int, int, str, float]]:
        """Rows (rowid, step, name, value) logged after ``after_rowid``, in order: those of the
        run's live branch, or with ``abandoned=True`` those a rollback left behind."""
        sql = (
            "SELECT rowid, step, name, value FROM scalars WHERE run_id = ? AND rowid > ?"
            " AND abandoned = ?"
        )
        args: tuple = (run_id, after_rowid, int(abandoned))
        if name is not None:
            sql += " AND name = ?"
            args += (name,)
        return [tuple(row) for row in self._connect().execute(sql + " ORDER BY rowid", args)]

    def timed_scalars(
        self, run_id: str, name: str, after_rowid: int = 0, abandoned: bool = False
    ) -> list[tuple[int, int, float, float]]:
        """Rows (rowid, step, value, time) of scalar ``name`` after ``after_rowid``, in order;
        ``time`` is the wall-clock second (Unix time) at which the row was written (the
        trainer writes its buffered scalars about twice a second). Live rows, or with
        ``abandoned=True`` those a rollback left behind."""
        rows = self._connect().execute(
            "SELECT rowid, step, value, time FROM scalars WHERE run_id = ? AND rowid > ?"
            " AND name = ? AND abandoned = ? ORDER BY rowid",
            (run_id, after_rowid, name, int(abandoned)),
        )
        return [tuple(row) for row in rows]

    def abandon_after(self, run_id: str, step: int) -> int:
        """A run went back to its checkpoint at ``step`` (a resume, or a rollback after a
        non-finite loss): mark the scalars logged after it as an abandoned branch, so charts
        draw the live branch and exports say which is which. Records a ``rollback`` event
        and returns how many rows were marked."""
        with self._transaction() as db:
            marked = db.execute(
                "UPDATE scalars SET abandoned = 1 WHERE run_id = ? AND step > ? AND abandoned = 0",
                (run_id, int(step)),
            ).rowcount
            if marked:
                # The latest values go back to those of the live branch.
                db.execute("DELETE FROM latest_scalars WHERE run_id = ?", (run_id,))
                db.execute(
                    "INSERT INTO latest_scalars SELECT run_id, name, step, value FROM scalars"
                    " WHERE rowid IN (SELECT max(rowid) FROM scalars WHERE run_id = ?"
                    " AND abandoned = 0 GROUP BY name)",
                    (run_id,),
                )
                payload = json.dumps({"to_step": int(step), "abandoned_rows": marked})
                db.execute(
                    "INSERT INTO events VALUES (?, ?, 'rollback', ?, ?)",
                    (run_id, int(step), payload, time.time()),
                )
        return marked

    def scalar_names(self, run_id: str) -> list[str]:
        rows = self._connect().execute(
            "SELECT name FROM latest_scalars WHERE run_id = ? ORDER BY name", (run_id,)
        )
        return [row[0] for row in rows]

    def last_scalars(self, run_id: str) -> dict[str, float]:
        """The latest value of each scalar of a run."""
        rows = self._connect().execute(
            "SELECT name, value FROM latest_scalars WHERE run_id = ?", (run_id,)
        )
        return {name: value for name, value in rows}

    def add_event(self, run_id: str, step: int, kind: str, payload: Mapping[str, Any]) -> None:
        self._write(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
            (run_id, int(step), kind, json.dumps(dict(payload)), time.time()),
        )

    def events(
        self, run_id: str, kind: str | None = None, after_rowid: int = 0
    ) -> list[tuple[int, int, str, dict[str, Any]]]:
        """Rows (rowid, step, kind, payload) after ``after_rowid``, in order."""
        sql = "SELECT rowid, step, kind, payload FROM events WHERE run_id = ? AND rowid > ?"
        args: tuple = (run_id, after_rowid)
        if kind is not None:
            sql += " AND kind = ?"
            args += (kind,)
        rows = self._connect().execute(sql + " ORDER BY rowid", args)
        return [(rowid, step, k, json.loads(payload)) for rowid, step, k, payload in rows]

    def add_snapshot(
        self, run_id: str, step: int, name: str, arrays: Mapping[str, np.ndarray]
    ) -> None:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        path = self.run_folder(run_id) / "snapshots" / f"{safe}-{int(step):012d}.npz"
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
        atomic_write(path, buffer.getvalue())
        self._write(
            "INSERT INTO snapshots VALUES (?, ?, ?, ?, ?)",
            (run_id, int(step), name, str(path.relative_to(self.home)), time.time()),
        )

    def snapshots(self, run_id: str, name: str, after_rowid: int = 0) -> list[tuple[int, int]]:
        """(rowid, step) of each snapshot ``name`` after ``after_rowid``."""
        rows = self._connect().execute(
            "SELECT rowid, step FROM snapshots WHERE run_id = ? AND name = ? AND rowid > ?"
            " ORDER BY rowid",
            (run_id, name, after_rowid),
        )
        return [tuple(row) for row in rows]

    def load_snapshot(
        self, run_id: str, name: str, step: int | None = None
    ) -> dict[str, np.ndarray]:
        """Arrays of snapshot ``name`` at ``step`` (default: the latest)."""
        sql = "SELECT path FROM snapshots WHERE run_id = ? AND name = ?"
        args: tuple = (run_id, name)
        if step is not None:
            sql += " AND step = ?"
            args += (int(step),)
        row = self._connect().execute(sql + " ORDER BY rowid DESC LIMIT 1", args).fetchone()
        if row is None:
            raise KeyError(
                f"run {run_id!r} has no snapshot {name!r}"
                + (f" at step {step}" if step is not None else "")
            )
        with np.load(self.home / row[0], allow_pickle=False) as data:
            return {key: data[key] for key in data.files}

    # ---- checkpoints ---------------------------------------------------------------------

    def save_checkpoint(self, run_id: str, step: int, state: Mapping[str, Any]) -> Path:
        """Save a torch checkpoint atomically and index it."""
        import torch

        path = self.run_folder(run_id) / "checkpoints" / f"step-{int(step):012d}.pt"
        buffer = io.BytesIO()
        torch.save(dict(state), buffer)
        atomic_write(path, buffer.getvalue())
        self._write(
            "INSERT INTO checkpoints VALUES (?, ?, ?, ?)",
            (run_id, int(step), str(path.relative_to(self.home)), time.time()),
        )
        self.checkpoint_log()
        return path

    def checkpoints(self, run_id: str) -> list[tuple[int, Path]]:
        """(step, path) of a run's checkpoints, oldest first."""
        rows = self._connect().execute(
            "SELECT step, path FROM checkpoints WHERE run_id = ? ORDER BY step, rowid", (run_id,)
        )
        return [(step, self.home / path) for step, path in rows]

    @staticmethod
    def load_checkpoint(path: Path) -> dict[str, Any]:
        """Load a checkpoint with ``torch.load(weights_only=True)``: tensors, arrays and plain
        values only, never arbitrary pickled objects."""
        import torch

        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise CheckpointError(f"checkpoint {path} is missing") from None
        except Exception as error:  # torch raises several types for damaged files
            detail = (str(error).splitlines() or ["no details"])[0][:200]  # empty: EOFError
            raise CheckpointError(
                f"checkpoint {path} is corrupt or truncated and cannot be loaded "
                f"({type(error).__name__}: {detail})"
            ) from error

    def latest_good_checkpoint(self, run_id: str) -> tuple[int, dict[str, Any], list[str]] | None:
        """The newest checkpoint that loads, with one message per newer one that did not.
        Those are set aside (renamed ``*.damaged``, dropped from the index), so a damaged
        file never stays the run's latest checkpoint."""
        problems: list[str] = []
        for step, path in reversed(self.checkpoints(run_id)):
            try:
                return step, self.load_checkpoint(path), problems
            except CheckpointError as error:
                problems.append(f"{error}; set aside as {self._set_aside(run_id, step, path)}")
        if problems:
            raise CheckpointError("no checkpoint of this run loads: " + "; ".join(problems))
        return None

    def checkpoint_at(self, run_id: str, step: int) -> dict[str, Any]:
        """A run's checkpoint of exactly ``step`` (a fork starts from the one it was cut at,
        though its parent trained on and saved newer ones)."""
        for at, path in reversed(self.checkpoints(run_id)):
            if at == step:
                return self.load_checkpoint(path)
        raise CheckpointError(f"run {run_id} has no checkpoint at step {step}")

    def _set_aside(self, run_id: str, step: int, path: Path) -> str:
        """Take a checkpoint that does not load out of the index; keep its file, renamed."""
        aside = path.with_name(path.name + ".damaged")
        if path.exists():
            os.replace(path, aside)
        self._write(
            "DELETE FROM checkpoints WHERE run_id = ? AND step = ? AND path = ?",
            (run_id, int(step), str(path.relative_to(self.home))),
        )
        return aside.name if aside.exists() else "missing (its index entry is removed)"

    # ---- commands ------------------------------------------------------------------------

    def add_command(self, run_id: str, kind: str, payload: Mapping[str, Any] | None = None) -> None:
        self._write(
            "INSERT INTO commands (run_id, kind, payload, created_at) VALUES (?, ?, ?, ?)",
            (run_id, kind, json.dumps(dict(payload or {})), time.time()),
        )

    def take_commands(self, run_id: str) -> list[tuple[str, dict[str, Any]]]:
        """Pending commands of a run, oldest first, marked consumed."""
        pending = "SELECT 1 FROM commands WHERE run_id = ? AND consumed_at IS NULL LIMIT 1"
        if self._connect().execute(pending, (run_id,)).fetchone() is None:
            return []  # the common case, polled often: a read, no write lock
        with self._transaction() as db:
            rows = db.execute(
                "SELECT id, kind, payload FROM commands WHERE run_id = ? AND consumed_at IS NULL"
                " ORDER BY id",
                (run_id,),
            ).fetchall()
            if rows:
                db.executemany(
                    "UPDATE commands SET consumed_at = ? WHERE id = ?",
                    [(time.time(), row[0]) for row in rows],
                )
        return [(kind, json.loads(payload)) for _, kind, payload in rows]


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Bring a store written by an older version up to the schema (columns only get added)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(scalars)")}
    if "abandoned" not in columns:
        db.execute("ALTER TABLE scalars ADD COLUMN abandoned INTEGER NOT NULL DEFAULT 0")
    columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    for column in ("sweep_id", "trial"):
        if column not in columns:
            db.execute(f"ALTER TABLE runs ADD COLUMN {column} TEXT")


def _record(row: sqlite3.Row) -> RunRecord:
    values = dict(row)
    values["config"] = json.loads(values["config"])
    return RunRecord(**values)


def _sweep_record(row: sqlite3.Row) -> SweepRecord:
    values = dict(row)
    values["spec"] = json.loads(values["spec"])
    return SweepRecord(**values)
