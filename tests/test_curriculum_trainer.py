"""The curriculum trainer: a teacher inside a live SB3 run, checkpointed with it."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.curricula import CurriculumError
from workbench.runs import KnobError, Run, RunStore
from workbench.runs.trainer import RunContext
from workbench.trainers.curriculum import CurriculumConfig, CurriculumTrainer

SMALL = {
    "n_envs": 2,
    "total_timesteps": 3_000,
    "eval_every": 1_500,
    "checkpoint_every": 1_500,
    "test_tasks": 4,
    "net_width": 16,
    "seed": 3,
}


def _trainer(store: RunStore, **knobs) -> CurriculumTrainer:
    """A curriculum trainer of a new run, not started."""
    run = Run.create("curriculum", store=store, **{**SMALL, **knobs})
    config = CurriculumConfig(**run.config)
    return CurriculumTrainer(config, RunContext(store, run.id, config))


def test_the_teacher_chooses_every_episode_and_its_picture_is_recorded(store):
    run = Run.create("curriculum", store=store, teacher="alp-gmm", **SMALL)
    run.start(executor="thread")
    assert run.wait(timeout=240) == "finished", run.record.message
    snapshot = store.load_snapshot(run.id, "curriculum")
    # Every finished episode reached the teacher: 3,000 steps of 200-step episodes (or
    # shorter, when the goal is reached) make at least 13.
    tasks = snapshot["recent_tasks"]
    assert len(tasks) >= 13 and tasks.shape[1] == 2
    # The U-maze is 5 x 5: the teacher samples its whole box (walls included).
    assert (tasks >= 0).all() and (tasks <= 5).all()
    assert snapshot["test_tasks"].shape == (4, 2) and snapshot["test_success"].shape == (4,)
    assert any(key.startswith("teacher/") for key in snapshot)
    assert "eval/test_success" in store.scalar_names(run.id)
    rollout = store.load_snapshot(run.id, "rollout")
    assert rollout["positions"].shape[1] == 2 and rollout["goal"].shape == (2,)


def test_wall_gaps_are_tasks_of_their_own_environment(store):
    run = Run.create("curriculum", store=store, tasks="wall-gaps", teacher="riac", **SMALL)
    assert run.config["env_id"] == "workbench/WallGap-v0"
    assert run.config["reward_mode"] == "geodesic"
    run.start(executor="thread")
    assert run.wait(timeout=240) == "finished", run.record.message
    snapshot = store.load_snapshot(run.id, "curriculum")
    # 3,000 steps of 100-step episodes: the evaluation at the end has seen 14 of them.
    tasks = snapshot["recent_tasks"]  # (gap centre, gap width) inside the task box
    assert len(tasks) >= 10 and (tasks[:, 0] >= 0.25).all() and (tasks[:, 0] <= 3.75).all()
    assert (tasks[:, 1] >= 0.0).all() and (tasks[:, 1] <= 1.5).all()
    assert snapshot["test_tasks"].shape == (4, 2)
    rollout = store.load_snapshot(run.id, "rollout")
    np.testing.assert_allclose(rollout["goal"], [5.0, 2.0])
    with pytest.raises(KnobError, match="WallGap"):
        Run.create("curriculum", store=store, tasks="wall-gaps", env_id="workbench/GridLevels-v0")


def test_a_resumed_run_restores_the_teacher_exactly(store):
    run = Run.create("curriculum", store=store, teacher="riac", **SMALL)
    run.start(executor="thread")
    assert run.wait(timeout=240) == "finished", run.record.message
    trainer = run._trainer  # the trainer that ran, as it ended
    step, state, _ = store.latest_good_checkpoint(run.id)
    assert step == 3_000
    twin = _trainer(store, teacher="riac")
    twin.load_state_dict(state["trainer"])
    expected = [trainer.teacher.sample() for _ in range(20)]
    np.testing.assert_array_equal([twin.teacher.sample() for _ in range(20)], expected)


def test_random_task_ratio_is_hot_and_reaches_the_teacher(store):
    trainer = _trainer(store, teacher="alp-gmm")
    trainer.config.random_task_ratio = 0.7
    trainer.apply({"random_task_ratio": 0.7})
    assert trainer.teacher.random_task_ratio == 0.7


def test_bad_teacher_and_checkpoint_of_another_teacher_are_named(store):
    with pytest.raises(KnobError, match="teacher"):
        Run.create("curriculum", store=store, teacher="nope", **SMALL)
    riac, gmm = _trainer(store, teacher="riac"), _trainer(store, teacher="alp-gmm")
    with pytest.raises(CurriculumError, match="riac"):
        gmm.load_state_dict(riac.state_dict())
    # A fork to another teacher keeps the student and starts the new teacher afresh.
    assert "teacher" in gmm.load_state_dict(riac.state_dict(), strict=False)
