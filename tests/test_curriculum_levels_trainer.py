"""The curriculum trainer on the grid-levels family: PLR, robust PLR, ACCEL and uniform level
sampling as teachers of a live SB3 PPO run."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from workbench.curricula import CurriculumError
from workbench.curricula.level_replay import LevelReplayCallback, MaskedRolloutBuffer, UniformLevels
from workbench.runs import KnobError, Run, RunStore
from workbench.runs.trainer import RunContext
from workbench.trainers.curriculum import CurriculumConfig, CurriculumTrainer

# A tiny student: 2 copies x 32 steps a rollout, one epoch, 16-unit layers.
SMALL = {
    "tasks": "grid-levels",
    "n_envs": 2,
    "n_steps": 32,
    "batch_size": 32,
    "n_epochs": 1,
    "net_width": 16,
    "total_timesteps": 1_536,
    "eval_every": 768,
    "checkpoint_every": 768,
    "test_tasks": 5,
    "num_train_levels": 10,
    "level_buffer_size": 32,
    "seed": 3,
}
LEVEL_TEACHERS = ["plr", "robust-plr", "accel", "random"]


def _trainer(store: RunStore, **knobs) -> CurriculumTrainer:
    """A curriculum trainer of a new run, not started."""
    run = Run.create("curriculum", store=store, **{**SMALL, **knobs})
    config = CurriculumConfig(**run.config)
    return CurriculumTrainer(config, RunContext(store, run.id, config))


def _finished_run(store: RunStore, **knobs) -> Run:
    run = Run.create("curriculum", store=store, **{**SMALL, **knobs})
    run.start(executor="thread")
    assert run.wait(timeout=120) == "finished", run.record.message
    return run


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks: more threads only contend
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("teacher", LEVEL_TEACHERS)
def test_each_level_teacher_runs_and_logs_its_picture(store, teacher):
    run = _finished_run(store, teacher=teacher)
    trainer = run._trainer
    snapshot = store.load_snapshot(run.id, "curriculum")
    assert snapshot["test_levels"].shape == (5,) and snapshot["test_success"].shape == (5,)
    pictures = snapshot["top_levels"]
    assert pictures.dtype == np.uint8 and pictures.ndim == 4 and pictures.shape[-1] == 3
    assert 1 <= len(pictures) <= 6 and len(snapshot["top_scores"]) == len(pictures)
    assert np.all(np.diff(snapshot["top_scores"]) <= 0)  # best first
    assert {"teacher/scores", "teacher/probabilities", "teacher/counts"} <= set(snapshot)
    names = store.scalar_names(run.id)
    for name in ("eval/test_success", "eval/train_success", "curriculum/replay"):
        assert name in names
    # Every finished episode reached the teacher, whole: its buffer holds a score per level
    # played (10 training levels, a buffer of 32: nothing evicted without ACCEL's edits).
    episodes = trainer.feed.episodes
    assert episodes >= 1_536 // 81 and 1 <= len(snapshot["recent_scores"]) <= episodes
    if teacher != "accel":
        assert trainer.teacher.snapshot()["visits"].sum() == episodes
    final = trainer.teacher.snapshot()["counts"]
    counts = dict(zip(("new", "replay", "edit"), final, strict=True))
    assert counts["new"] >= 1
    assert (counts["edit"] > 0) == (teacher == "accel")
    if teacher in ("robust-plr", "accel"):
        fractions = [value for *_, value in store.scalars(run.id, "curriculum/trained_fraction")]
        assert min(fractions) < 1.0  # samples of new (and edited) levels did not train


def test_every_finished_episode_is_scored_whole_across_rollout_boundaries(store):
    trainer = _trainer(store, teacher="plr", n_steps=16)
    scored: list[tuple[int, float, float]] = []
    finish = trainer.feed.finish

    def spy(trace, last_value: float) -> float:
        scored.append((len(trace.values), sum(trace.rewards), last_value))
        assert len(trace.values) == len(trace.rewards)
        return finish(trace, last_value)

    trainer.feed.finish = spy
    trainer.model.learn(1_024, callback=LevelReplayCallback(trainer.feed))
    monitors = trainer.model.get_env().envs
    played = sorted(
        (length, round(float(ret), 6))
        for monitor in monitors
        for length, ret in zip(
            monitor.get_episode_lengths(), monitor.get_episode_rewards(), strict=True
        )
    )
    assert sorted((length, round(ret, 6)) for length, ret, _ in scored) == played
    assert max(length for length, *_ in scored) > 16  # some crossed a rollout's end
    for length, episode_return, last_value in scored:
        if episode_return > 0:
            assert last_value == 0.0  # reached the goal: nothing after it
        elif length == 81:
            assert last_value != 0.0  # cut off by the step limit: bootstrapped
    assert trainer.feed.episodes == len(scored) == trainer.teacher.snapshot()["visits"].sum()


def _parameters(trainer: CurriculumTrainer) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in trainer.model.policy.state_dict().items()}


@pytest.mark.parametrize(("teacher", "trains"), [("robust-plr", False), ("plr", True)])
def test_robust_plr_takes_no_gradient_step_on_a_rollout_of_new_levels(store, teacher, trains):
    # 200 training levels: robust PLR replays only once 100 are seen, far more than the
    # first rollout's 64 steps can play, so that rollout is all new levels.
    trainer = _trainer(store, teacher=teacher, num_train_levels=200, level_buffer_size=256)
    before = _parameters(trainer)
    trainer.model.learn(64, callback=LevelReplayCallback(trainer.feed))
    assert trainer.teacher.snapshot()["counts"][1] == 0  # no replay yet
    after = _parameters(trainer)
    changed = any(not torch.equal(before[key], after[key]) for key in before)
    assert changed == trains
    assert trainer.model.skipped_updates == (0 if trains else 1)
    assert trainer.model.rollout_buffer.trains.all() == trains


def test_masked_minibatches_hold_only_trainable_samples():
    space = gym.spaces.Box(-np.inf, np.inf, shape=(1,), dtype=np.float32)
    buffer = MaskedRolloutBuffer(4, space, gym.spaces.Discrete(4), device="cpu", n_envs=3)
    for t in range(4):
        codes = np.array([[10.0 * t + copy] for copy in range(3)], dtype=np.float32)
        buffer.add(
            codes, np.zeros((3, 1)), np.zeros(3), np.zeros(3), torch.zeros(3), torch.zeros(3)
        )
    buffer.trains[:] = False
    buffer.trains[1, 0] = buffer.trains[2, 2] = buffer.trains[3, 1] = True
    seen = [float(v) for batch in buffer.get(2) for v in batch.observations.reshape(-1)]
    assert sorted(seen) == [10.0, 22.0, 31.0]


@pytest.mark.parametrize("teacher", ["plr", "accel"])
def test_a_resumed_run_restores_the_level_teacher_exactly(store, teacher):
    run = _finished_run(store, teacher=teacher)
    trainer = run._trainer
    step, state, _ = store.latest_good_checkpoint(run.id)
    assert step == 1_536
    twin = _trainer(store, teacher=teacher)
    twin.load_state_dict(state["trainer"])
    assert twin.feed.episodes == trainer.feed.episodes
    expected = [trainer.teacher.sample() for _ in range(30)]
    assert [twin.teacher.sample() for _ in range(30)] == expected


def test_bad_combinations_are_refused_before_the_run_starts_naming_both(store):
    cases = [
        ({"tasks": "grid-levels", "teacher": "alp-gmm"}, ("alp-gmm", "grid-levels")),
        ({"tasks": "maze-goals", "teacher": "plr"}, ("plr", "maze-goals")),
        ({"teacher": "robust-plr"}, ("robust-plr", "maze-goals")),
        ({"tasks": "grid-levels", "algorithm": "SAC"}, ("SAC", "grid-levels")),
        ({"env_id": "workbench/GridLevels-v0"}, ("GridLevels", "maze-goals")),
    ]
    for knobs, names in cases:
        with pytest.raises(KnobError) as caught:
            Run.create("curriculum", store=store, **knobs)
        message = str(caught.value)
        assert "\n" not in message and all(name in message for name in names), message
    assert store.list_runs() == []
    # A config changed in place is refused by the trainer too.
    config = CurriculumConfig(**SMALL)
    config.teacher = "riac"
    with pytest.raises(KnobError, match="riac"):
        CurriculumTrainer(config, RunContext(store, "none", config))
    # A checkpoint of another level teacher names both.
    plr, robust = _trainer(store, teacher="plr"), _trainer(store, teacher="robust-plr")
    with pytest.raises(CurriculumError, match="robust-plr"):
        plr.load_state_dict(robust.state_dict())


def test_family_and_teacher_defaults_fill_only_what_was_not_given():
    grid = CurriculumConfig(tasks="grid-levels")
    assert (grid.teacher, grid.n_envs, grid.n_steps, grid.batch_size, grid.n_epochs) == (
        "plr",
        8,
        128,
        256,
        4,
    )
    assert (grid.learning_rate, grid.test_tasks, grid.temperature) == (5e-4, 50, 0.1)
    robust = CurriculumConfig(tasks="grid-levels", teacher="robust-plr", n_envs=4)
    assert (robust.temperature, robust.staleness_coef, robust.score_kind) == (
        0.3,
        0.3,
        "positive_value_loss",
    )
    assert robust.n_envs == 4  # given, so kept
    # The goal family keeps its defaults, and its PPO is build_model's.
    goals = CurriculumConfig()
    assert (goals.teacher, goals.n_envs, goals.n_steps, goals.batch_size) == ("alp-gmm", 4, 512, 64)
    assert (goals.n_epochs, goals.learning_rate, goals.test_tasks) == (10, 3e-4, 25)
    # A stored config (all knobs given) comes back as it was.
    assert CurriculumConfig.from_dict(robust.to_dict()).to_dict() == robust.to_dict()
    # The levels are the environment: the run's record (its name, the Runs table, the
    # Live page's picture) says so, also for a fork of a maze-goals run.
    assert grid.env_id == "workbench/GridLevels-v0"
    fork = CurriculumConfig(**{**goals.to_dict(), "tasks": "grid-levels", "teacher": "plr"})
    assert fork.env_id == "workbench/GridLevels-v0"


def test_hot_knobs_reach_the_level_teacher(store):
    trainer = _trainer(store, teacher="accel")
    changes = {"temperature": 0.7, "staleness_coef": 0.2, "replay_prob": 0.9, "num_edits": 2}
    trainer.config.param.update(**changes)
    trainer.apply(changes)
    for name, value in changes.items():
        assert getattr(trainer.teacher, name) == value
    assert all(CurriculumConfig.is_hot(name) for name in changes)
    trainer.config.gamma = 0.9
    trainer.apply({"gamma": 0.9})
    assert trainer.teacher.gamma == 0.9  # scores' GAE follows the student's discount


def test_uniform_level_sampling_draws_every_training_level_alike_and_always_trains():
    teacher = UniformLevels(seed=0, levels=10)
    draws = [teacher.sample() for _ in range(5_000)]
    counts = np.bincount([teacher.training_levels.index(level) for level in draws])
    assert len(counts) == 10 and counts.min() > 400 and counts.max() < 600
    assert teacher.should_train(False) and teacher.should_train(True)
    for level in teacher.training_levels:
        teacher.update(level, 1.0)
    np.testing.assert_allclose(teacher.probabilities(), 0.1)
    assert teacher.replay_probability() == 1.0


@pytest.mark.parametrize("score_kind", ["max_mc", "policy_entropy"])
def test_every_score_kind_scores_episodes_of_a_live_student(store, score_kind):
    trainer = _trainer(store, teacher="plr", score_kind=score_kind)
    trainer.model.learn(256, callback=LevelReplayCallback(trainer.feed))
    scores = trainer.teacher.snapshot()["scores"]
    assert trainer.feed.episodes >= 2 and np.all(np.isfinite(scores))
    if score_kind == "policy_entropy":  # four moves: entropy at most log 4
        assert np.all((scores > 0) & (scores <= np.log(4) + 1e-6))
