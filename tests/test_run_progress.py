"""The progress line under every run's controls: percent done, speed, time left, and
what the trainer is doing before its first data."""

from __future__ import annotations

import pytest

from widgets.common.live import LiveSession
from widgets.common.run_controls import RunControls
from widgets.common.run_progress import RunProgress, StepRate, duration, run_length
from workbench.runs import Run, RunStore


def test_step_rate_is_measured_over_its_window_and_forgets_a_rollback():
    rate = StepRate(window=10.0)
    rate.observe(0, now=0.0)
    assert rate.per_second is None  # one sample says nothing about speed
    rate.observe(100, now=1.0)
    rate.observe(300, now=2.0)
    assert rate.per_second == pytest.approx(150.0)
    for t in range(3, 30):
        rate.observe(300 + 10 * (t - 2), now=float(t))  # slows to 10 steps/s
    assert rate.per_second == pytest.approx(10.0, rel=0.15)
    rate.observe(50, now=31.0)  # resumed from an earlier checkpoint
    assert rate.per_second is None


def test_durations_read_as_a_person_says_them():
    assert duration(0.2) == "1 s"
    assert duration(42) == "42 s"
    assert duration(600) == "10 min"
    assert duration(3 * 3600) == "3.0 h"


def test_run_length_comes_from_each_trainers_length_knob(tmp_path):
    store = RunStore(tmp_path)
    sb3 = Run.create("sb3", store=store, total_timesteps=5_000)
    metra = Run.create("metra", store=store, total_steps=7_000)
    assert run_length(sb3.record) == 5_000
    assert run_length(metra.record) == 7_000


def test_progress_says_percent_speed_time_left_and_the_trainers_latest_note(tmp_path):
    store = RunStore(tmp_path)
    run = Run.create("regression", store=store, total_steps=1_000)
    store.set_state(run.id, "running", "starting")
    progress = RunProgress(store, run_id=run.id)
    progress.show(store.get_run(run.id))
    assert "0 of 1,000 steps (0%)" in progress.text.value
    assert "starting the trainer" in progress.text.value
    store.add_event(run.id, 0, "log", {"text": "building dataset 'x'"})
    progress.rate = StepRate()
    progress.rate.observe(0, now=0.0)
    progress.rate.observe(200, now=2.0)  # 100 steps/s
    store.set_step(run.id, 250)
    record = store.get_run(run.id)
    progress._read_note()
    text = progress.describe(record, 1_000)
    assert "250 of 1,000 steps (25%)" in text
    assert "100 steps/s" in text and "about 8 s left" in text
    assert "trainer: building dataset 'x'" in text
    assert "starting the trainer" not in text


def test_run_controls_show_the_progress_of_a_training_run(tmp_path):
    store = RunStore(tmp_path)
    run = Run.create("regression", store=store, total_steps=400, step_delay=0.002).start("thread")
    controls = RunControls(LiveSession(store), run_id=run.id)
    run.wait_for_step(100, timeout=60)
    controls.refresh()
    assert controls.progress.bar.value > 0
    assert "of 400 steps" in controls.progress.text.value
    run.wait(timeout=60)
    controls.refresh()
    assert controls.progress.bar.value == 1000
    assert controls.progress.text.value.endswith("finished")
