"""The live run engine: store, configs, lifecycle, executors, checkpoints and faults."""

from __future__ import annotations

import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.runs import CheckpointError, KnobError, Run, RunError, RunStore, StoreError
from workbench.trainers.regression import RegressionConfig, RegressionTrainer


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "home")


def test_store_uses_wal_and_a_reader_is_not_blocked_by_an_open_write(store):
    assert store._connect().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    record = store.create_run("r", "regression", {})
    store.add_scalars(record.id, [(1, "a", 1.0)])
    writer = sqlite3.connect(store.path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO scalars VALUES (?, 2, 'a', 2.0, 0, 0)", (record.id,))
    seen = []
    reader = threading.Thread(target=lambda: seen.append(store.scalars(record.id, "a")))
    reader.start()
    reader.join(timeout=5)
    writer.execute("COMMIT")
    assert seen and [row[1] for row in seen[0]] == [1]  # the committed row, at once


def test_home_defaults_to_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("RL_WORKBENCH_HOME", str(tmp_path / "elsewhere"))
    assert RunStore().home == tmp_path / "elsewhere"


def test_out_of_range_and_unknown_knobs_are_refused_before_a_run_exists(store):
    with pytest.raises(
        KnobError, match=r"learning_rate=-1 refused: learning_rate must be in \[1e-06, 10000"
    ):
        Run.create(RegressionTrainer, store=store, learning_rate=-1)
    with pytest.raises(KnobError, match="unknown knob 'depth'"):
        Run.create("regression", store=store, depth=3)
    # A JSON or TOML true is not a number, although param would take it as 1.
    with pytest.raises(KnobError, match=r"learning_rate=True refused: .*not a boolean"):
        Run.create("regression", store=store, learning_rate=True)
    assert store.list_runs() == []
    assert RegressionConfig.hot_knobs()[0] == "learning_rate"
    assert "width" in RegressionConfig.structural_knobs()


def test_thread_run_learns_pauses_resumes_and_records_knob_changes(store):
    run = Run.create(RegressionTrainer, store=store, total_steps=100_000, step_delay=0.001)
    run.start("thread")
    assert run.wait_for_step(100) >= 100
    assert run.agent is not None  # the live torch module, in this process
    run.pause()
    assert run.wait(states=("paused",), timeout=10) == "paused"
    paused_at = run.step
    threading.Event().wait(0.4)
    assert run.step == paused_at
    run.update(learning_rate=0.05)
    run.resume()
    assert run.wait_for_step(paused_at + 200) >= paused_at + 200
    knob_events = store.events(run.id, "knob")
    assert knob_events and knob_events[0][3]["changes"] == {"learning_rate": 0.05}
    assert knob_events[0][1] >= paused_at
    assert run.config["learning_rate"] == 0.05
    assert run.stop() == "stopped"
    steps, losses = run.scalars("losses/mse")
    assert np.all(np.diff(steps) > 0)
    assert losses[-100:].mean() < losses[:20].mean() / 3  # it learned
    with pytest.raises(KnobError, match="width is structural: fork the run"):
        run.update(width=8)


def test_stopped_run_resumes_from_its_checkpoint_step(store):
    run = Run.create(
        RegressionTrainer, store=store, total_steps=100_000, checkpoint_every=50, step_delay=0.001
    )
    run.start()
    run.wait_for_step(120)
    assert run.stop() == "stopped"
    stopped_at = run.step
    assert store.checkpoints(run.id)[-1][0] == stopped_at
    run.resume()
    run.wait_for_step(stopped_at + 30)
    run.stop()
    steps, _ = run.scalars("losses/mse")
    # Continued from the checkpoint: no step repeated or skipped across the restart.
    np.testing.assert_array_equal(steps, np.arange(1, steps[-1] + 1))
    assert steps[-1] >= stopped_at + 30
    assert any(
        "resumed from the checkpoint at step" in e[3]["text"] for e in store.events(run.id, "log")
    )


def test_run_finishes_at_total_steps_and_cannot_be_started_again(store):
    run = Run.create(RegressionTrainer, store=store, total_steps=300)
    run.start()
    assert run.wait(timeout=30) == "finished"
    assert run.step == 300
    with pytest.raises(RunError, match="is finished"):
        run.start()
    with pytest.raises(RunError, match="cannot pause"):
        run.pause()


def test_fork_starts_from_the_parent_checkpoint_where_shapes_allow(store):
    parent = Run.create(RegressionTrainer, store=store, total_steps=400)
    parent.start()
    assert parent.wait(timeout=30) == "finished"
    same = parent.fork(learning_rate=0.02, total_steps=450)
    wider = parent.fork(width=64, total_steps=450)
    assert same.record.parent_id == parent.id and same.record.fork_step == 400
    for child in (same, wider):
        child.start()
        assert child.wait(timeout=30) == "finished"
    logs = [e[3]["text"] for e in store.events(wider.id, "log")]
    assert any("not loaded (shapes differ): 0.bias, 0.weight, 2.weight" in t for t in logs)
    # The narrow child kept the parent's fit: its first losses are already low.
    _, parent_loss = parent.scalars("losses/mse")
    steps, child_loss = same.scalars("losses/mse")
    assert steps[0] == 401
    assert child_loss[:10].mean() < parent_loss[:10].mean() / 3


def test_subprocess_killed_with_sigkill_fails_and_resumes_from_its_checkpoint(store):
    run = Run.create(
        RegressionTrainer, store=store, total_steps=10**8, step_delay=0.001, checkpoint_every=50
    )
    run.start("subprocess")
    assert run.wait_for_step(120, timeout=60) >= 120
    os.kill(run.record.pid, signal.SIGKILL)
    assert run.wait(timeout=20) == "failed"
    assert "killed by signal 9 (SIGKILL)" in run.record.message
    checkpoint_step = store.checkpoints(run.id)[-1][0]
    run.resume()  # a crashed run restarts from its last checkpoint, in the same executor
    assert run.record.executor == "subprocess"
    run.wait_for_step(checkpoint_step + 100, timeout=60)
    assert run.stop() == "stopped"
    assert any(
        f"resumed from the checkpoint at step {checkpoint_step}" in e[3]["text"]
        for e in store.events(run.id, "log")
    )
    # What the killed worker had flushed past its checkpoint (if anything: it flushes every
    # 0.5 s and checkpointed every 50 steps) is an abandoned branch.
    _assert_one_live_branch(store, run, "losses/mse", checkpoint_step, surely_abandoned=False)


def _assert_one_live_branch(
    store: RunStore, run: Run, name: str, rollback_step: int, surely_abandoned: bool = True
) -> None:
    """After going back to the checkpoint at ``rollback_step``: the live curve never jumps
    back in steps, and what was logged past the checkpoint before is kept as abandoned."""
    steps, _ = run.scalars(name)
    assert (np.diff(steps) >= 0).all(), "the live branch jumps back"
    abandoned = [step for _, step, _, _ in store.scalars(run.id, name, abandoned=True)]
    assert all(step > rollback_step for step in abandoned)
    if surely_abandoned or abandoned:
        assert abandoned
        assert [e[1] for e in store.events(run.id, "rollback")] == [rollback_step]


def test_subprocess_run_obeys_pause_update_and_stop(store):
    run = Run.create(RegressionTrainer, store=store, total_steps=10**8, step_delay=0.001)
    run.start("subprocess")
    run.wait_for_step(20, timeout=60)
    run.update(learning_rate=0.02)
    run.pause()
    assert run.wait(states=("paused",), timeout=20) == "paused"
    run.resume()
    assert run.wait(states=("running",), timeout=20) == "running"
    assert run.stop() == "stopped"
    assert store.events(run.id, "knob")[0][3]["changes"] == {"learning_rate": 0.02}


def test_corrupt_checkpoint_gives_a_clear_error_and_the_earlier_one_loads(store):
    run = Run.create(RegressionTrainer, store=store, total_steps=200, checkpoint_every=100)
    run.start()
    assert run.wait(timeout=30) == "finished"
    first_step, last = store.checkpoints(run.id)[0][0], store.checkpoints(run.id)[-1][1]
    # A torch file, but not a checkpoint of this run: restarting names it and keeps it.
    torch.save({"step": 200, "trainer": {"weights": torch.zeros(2)}}, last)
    store.set_state(run.id, "stopped")
    restarted = Run(store, run.id).start()
    assert restarted.wait(timeout=30) == "failed"
    assert "checkpoint at step 200 loads but does not fit this regression run" in (
        restarted.record.message
    )
    assert torch.load(last, weights_only=True)["trainer"]["weights"].shape == (2,)

    last.write_bytes(last.read_bytes()[:100])  # truncated
    with pytest.raises(CheckpointError, match=r"step-000000000200\.pt is corrupt or truncated"):
        store.load_checkpoint(last)
    step, state, problems = store.latest_good_checkpoint(run.id)
    assert step == first_step == 100 and "corrupt or truncated" in problems[0]
    assert "model" in state["trainer"]
    # The damaged file does not stay the latest: it is set aside, renamed, out of the index.
    assert "set aside as step-000000000200.pt.damaged" in problems[0]
    assert [s for s, _ in store.checkpoints(run.id)] == [100]
    assert not last.exists() and last.with_name(last.name + ".damaged").exists()
    assert store.latest_good_checkpoint(run.id)[::2] == (100, [])

    last.write_bytes(b"")  # empty: torch's error has no message at all
    with pytest.raises(CheckpointError, match=r"step-000000000200\.pt is corrupt .*EOFError"):
        store.load_checkpoint(last)


def test_non_finite_loss_pauses_the_run_and_keeps_the_last_good_checkpoint(store):
    run = Run.create(
        RegressionTrainer, store=store, total_steps=10**6, checkpoint_every=0, learning_rate=1e-2
    )
    run.start()
    run.wait_for_step(60)
    run.checkpoint()
    run.wait(states=("never",), timeout=0.5)
    assert len(store.checkpoints(run.id)) == 1
    run.update(learning_rate=1e4)  # SGD diverges: the loss overflows to inf, then NaN
    assert run.wait(states=("paused",), timeout=30) == "paused"
    assert "non-finite loss losses/mse" in run.record.message
    assert "last good checkpoint" in run.record.message
    step, state, _ = store.latest_good_checkpoint(run.id)
    assert all(np.isfinite(t.numpy()).all() for t in state["trainer"]["model"].values())
    run.update(learning_rate=1e-2)
    run.resume()
    assert run.wait(states=("running",), timeout=10) == "running"
    run.wait(states=("never",), timeout=1.0)  # train on for a second
    assert run.state == "running"
    run.stop()
    assert any(
        f"resumed from the checkpoint at step {step}" in e[3]["text"]
        for e in store.events(run.id, "log")
    )
    _, losses = run.scalars("losses/mse")
    assert np.isfinite(losses).all() and losses[-10:].mean() < 1.0
    # The diverged stretch is an abandoned branch: charts and tables read the live one.
    _assert_one_live_branch(store, run, "losses/mse", step)
    assert np.isfinite(store.last_scalars(run.id)["losses/mse"])


def _diverge(store, **knobs) -> tuple[Run, int]:
    """A regression run with one good checkpoint, then a learning rate that diverges:
    returns the run, paused on the non-finite loss, and its checkpoint's step."""
    run = Run.create(RegressionTrainer, store=store, total_steps=10**6, checkpoint_every=0, **knobs)
    run.start()
    run.wait_for_step(60)
    run.checkpoint()
    run.wait(states=("never",), timeout=0.5)
    [(step, _)] = store.checkpoints(run.id)
    run.update(learning_rate=1e4)
    assert run.wait(states=("paused",), timeout=30) == "paused"
    return run, step


def test_a_run_stopped_while_paused_on_a_non_finite_loss_writes_no_checkpoint(store):
    """Stopping writes a checkpoint, except of diverged weights: the good one stays newest,
    and the message says so."""
    run, step = _diverge(store)
    assert run.stop() == "stopped"
    assert [s for s, _ in store.checkpoints(run.id)] == [step]
    assert "non-finite loss losses/mse" in run.record.message
    assert f"the last good checkpoint (step {step}) is kept" in run.record.message


def test_knobs_changed_after_a_checkpoint_apply_when_a_run_goes_back_to_it(store):
    """Resuming from a non-finite loss restores the last good checkpoint, optimizer and
    all; the learning rate the user set while paused must win over the checkpoint's."""
    run, step = _diverge(store)
    run.update(learning_rate=1e-3)
    run.resume()
    assert run.wait(states=("running",), timeout=10) == "running"
    run.wait(states=("never",), timeout=0.5)
    optimizer = run._trainer.optimizer  # the live trainer, in this process
    assert optimizer.param_groups[0]["lr"] == 1e-3  # the checkpoint held 1e-2
    run.stop()
    assert run.record.step > step


def test_a_state_with_a_nan_is_never_checkpointed_and_the_run_pauses(store):
    """A checkpoint can fall due before any loss shows the divergence: the state itself is
    checked, nothing is written, and the run pauses naming the tensor."""
    run = Run.create(RegressionTrainer, store=store, total_steps=10**6, checkpoint_every=0)
    run.start()
    run.wait_for_step(20)
    run.pause()
    assert run.wait(states=("paused",), timeout=10) == "paused"
    with torch.no_grad():
        next(run.agent.parameters())[0, 0] = float("nan")
    run.checkpoint()
    run.resume()
    deadline = time.monotonic() + 30
    while "non-finite" not in run.record.message and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.state == "paused"
    assert "non-finite values in the trainer's state (model." in run.record.message
    assert store.checkpoints(run.id) == []
    run.stop()
    assert store.checkpoints(run.id) == []


def test_a_run_whose_process_died_unrecorded_restarts_and_a_live_one_is_refused(store):
    """A process killed outright (SIGKILL, a crash) leaves its run "running" or "paused"
    in the store. Start and resume see that the process is gone, mark the run failed and
    restart it from its checkpoint; a run whose process still lives is not started twice."""
    run = Run.create(RegressionTrainer, store=store, total_steps=10**6, step_delay=0.001)
    run.start()
    run.wait_for_step(50)
    assert run.stop() == "stopped"
    [(step, _)] = store.checkpoints(run.id)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        store.set_state(run.id, "running")
        store.set_process(run.id, "thread", alive.pid)
        with pytest.raises(RunError, match="already running"):
            Run(store, run.id).start()
    finally:
        alive.kill()
        alive.wait()
    for state, restart in (("running", Run.start), ("paused", Run.resume)):
        store.set_state(run.id, state)
        store.set_process(run.id, "thread", alive.pid)  # gone now
        handle = restart(Run(store, run.id))
        assert handle.wait(states=("running",), timeout=10) == "running"
        assert handle.wait_for_step(step + 20) > step
        assert handle.stop() == "stopped"
    texts = [e[3]["text"] for e in store.events(run.id, "log")]
    assert sum(f"process (pid {alive.pid}) ended without a final state" in t for t in texts) == 2


@pytest.mark.parametrize("executor", ["thread", "subprocess"])
def test_stop_then_resume_at_once_works(store, executor):
    """Before, stop() returned "stopped" while the trainer was still leaving, and a resume()
    right after it raised "already stopped"."""
    run = Run.create(RegressionTrainer, store=store, total_steps=10**8, step_delay=0.001)
    run.start(executor)
    for _ in range(3 if executor == "thread" else 1):
        run.wait_for_step(run.step + 20, timeout=60)
        assert run.stop() == "stopped"
        run.resume()
        assert run.wait(states=("running",), timeout=30) == "running"
    assert run.stop() == "stopped"


def test_a_killed_workbench_train_reads_as_failed_everywhere(tmp_path):
    """kill -9 of a whole ``workbench train`` left its run "running" in ``runs list`` and
    ``runs show`` for ever."""
    cli = [sys.executable, "-m", "workbench.cli", "--home", str(tmp_path)]
    train = subprocess.Popen(
        [*cli, "train", "regression", "--set", "total_steps=100000000", "--set", "step_delay=0.001"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    store = RunStore(tmp_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
        store.list_runs() and store.list_runs()[0].step > 20
    ):
        time.sleep(0.1)
    (record,) = store.list_runs()
    assert record.state == "running" and record.pid == train.pid
    train.kill()
    train.wait()

    listed = subprocess.run([*cli, "runs", "list"], capture_output=True, text=True, timeout=60)
    assert re.search(rf"{record.id} .* failed ", listed.stdout), listed.stdout
    shown = subprocess.run(
        [*cli, "runs", "show", record.id], capture_output=True, text=True, timeout=60
    )
    assert "state    failed" in shown.stdout
    assert f"process (pid {train.pid}) ended without a final state" in shown.stdout
    # ... and it restarts from its last checkpoint like any failed run.
    assert store.get_run(record.id).state == "failed"


def _store_with_runs(home: Path) -> Path:
    store = RunStore(home)
    for i in range(3):
        run_id = store.create_run(f"run {i}", "regression", {"lr": 0.1}).id
        store.add_scalars(run_id, [(s, "losses/mse", 1.0 / s) for s in range(1, 400)])
    store.close()  # the last connection folds the write-ahead log into the file
    return home / "runs.sqlite"


def _garbage_header(path: Path) -> None:
    with path.open("r+b") as file:
        file.write(b"definitely not SQLite")


def _random_page(path: Path) -> None:
    with path.open("r+b") as file:
        file.seek(4096 * 2)
        file.write(np.random.default_rng(0).bytes(4096))


def _text_file(path: Path) -> None:
    path.write_text("runs: none, this is a note\n")


def _truncated(path: Path) -> None:
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)


@pytest.mark.parametrize("damage", [_garbage_header, _random_page, _text_file, _truncated])
def test_a_damaged_store_is_refused_in_one_line_naming_the_file(tmp_path, damage):
    path = _store_with_runs(tmp_path)
    damage(path)
    with pytest.raises(StoreError) as refused:
        RunStore(tmp_path)
    message = str(refused.value)
    assert str(path) in message and "move it aside" in message and "\n" not in message
    # The CLI says the same in one line, without a traceback.
    result = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "--home", str(tmp_path), "runs", "list"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert str(path) in result.stderr


def test_a_store_folder_that_cannot_be_made_is_named(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(StoreError, match=r"cannot make the run store folder .*a-file/home"):
        RunStore(blocker / "home")


# A writer that logs 500 scalar rows, copies the log into the database (as a run checkpoint
# does), logs 1,000 more and dies without closing: its last writes live only in the log.
_WRITER = """
import os, sys
from workbench.runs import RunStore
store = RunStore(sys.argv[1])
run = store.create_run("probe", "sb3", {})
for batch in range(15):
    store.add_scalars(run.id, [(batch * 100 + i, "loss", 1.0) for i in range(100)])
    if batch == 4:
        store.checkpoint_log()
os._exit(0)
"""


def _cut_log_in_half(log: Path) -> None:
    with log.open("r+b") as file:
        file.truncate(log.stat().st_size // 2)


def _random_bytes_after_the_log_header(log: Path) -> None:
    with log.open("r+b") as file:
        file.seek(32)
        file.write(np.random.default_rng(0).bytes(64))


@pytest.mark.parametrize("damage", [_cut_log_in_half, _random_bytes_after_the_log_header])
def test_a_damaged_write_ahead_log_loses_only_what_followed_the_last_checkpoint(
    tmp_path, damage, caplog
):
    """Before, a log cut in half lost 1,200 of 1,500 rows without a word, and random bytes in
    it left 'no runs yet' and a store rebuilt over the loss."""
    subprocess.run([sys.executable, "-c", _WRITER, str(tmp_path)], check=True, timeout=120)
    log = tmp_path / "runs.sqlite-wal"
    assert log.stat().st_size > 0, "the writer's last rows should be in the log only"
    damage(log)

    with caplog.at_level(logging.WARNING, logger="workbench.runs.store"):
        store = RunStore(tmp_path)
    message = store.recovered
    assert message is not None and "\n" not in message
    assert str(log) in message and "Lost: " in message and "Kept: 1 runs" in message
    assert message in caplog.text  # logged: the CLI and the notebook show it
    copies = list(tmp_path.glob("runs.sqlite-wal.damaged-*"))
    assert len(copies) == 1 and copies[0].name in message
    # Everything up to the checkpoint is kept, and stays kept once writing resumes.
    (run,) = store.list_runs()
    kept = len(store.scalars(run.id))
    assert 500 <= kept < 1500 and f"{kept:,} scalar rows" in message
    store.add_scalars(run.id, [(2000, "loss", 0.5)])
    store.close()
    assert len(RunStore(tmp_path).scalars(run.id)) == kept + 1


def test_a_clean_log_left_by_a_writer_that_died_is_not_reported(tmp_path):
    subprocess.run([sys.executable, "-c", _WRITER, str(tmp_path)], check=True, timeout=120)
    store = RunStore(tmp_path)
    assert store.recovered is None
    assert len(store.scalars(store.list_runs()[0].id)) == 1500
