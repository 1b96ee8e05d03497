"""A curriculum run: an SB3 student trains on the tasks a teacher chooses, live.

The teacher sits inside the run. Each episode of every environment copy starts on the
teacher's next task (``TeacherTasks`` wraps the copies) and reports its outcome back, so
the teacher's picture of learning progress follows the student as it learns. Everything
the teacher knows is in the run's checkpoints: a resumed run samples what it would have.

Task families:
- ``maze-goals``: goal reaching in a point maze; the task is the goal (x, y), the task
  space the maze's box; the teacher hears whether the goal was reached.

Snapshots ``curriculum`` (at each evaluation) hold the teacher's ``snapshot()`` (prefixed
``teacher/``), the latest tasks and outcomes, and the test set's goals with the student's
deterministic success on each (the competence map).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import param

from workbench.curricula import CurriculumError, make_teacher
from workbench.curricula.maze_goals import MazeGoals, TeacherTasks
from workbench.runs.config import HOT
from workbench.runs.trainer import RunContext
from workbench.trainers.sb3 import POINT_ENV_IDS, SB3Config, SB3Trainer, build_model

MAZE_ENV_IDS = [env_id for env_id in POINT_ENV_IDS if "PointMaze" in env_id]
TASK_FAMILIES = ["maze-goals"]
CONTINUOUS_TEACHERS = ["random", "alp-gmm", "covar-gmm", "riac"]
# Hot knobs that are teachers' attributes of the same name (where a teacher has them).
TEACHER_KNOBS = ("random_task_ratio", "temperature", "staleness_coef", "replay_prob", "num_edits")


class CurriculumConfig(SB3Config):
    """Knobs of :class:`CurriculumTrainer`: the student's (SB3's) and the teacher's."""

    teacher = param.Selector(
        default="alp-gmm",
        objects=CONTINUOUS_TEACHERS,
        doc="Who chooses the next task: random (uniform), alp-gmm (absolute learning "
        "progress, Gaussian mixtures), covar-gmm, riac (regions split by progress). "
        "Switching teacher is a fork.",
    )
    tasks = param.Selector(
        default="maze-goals", objects=TASK_FAMILIES, doc="Task family (its space, its env)."
    )
    env_id = param.Selector(
        default="workbench/PointMaze-UMaze-v0", objects=MAZE_ENV_IDS, doc="Maze of the goals."
    )
    reward_mode = param.Selector(
        default="goal",
        objects=["goal", "dense", "geodesic"],
        doc="Student's reward: goal (1 on reaching it, episode ends), dense (minus the "
        "straight-line distance), geodesic (minus the distance through the maze). The "
        "teacher hears whether the goal was reached.",
    )
    random_task_ratio = param.Number(
        0.2,
        bounds=(0.0, 1.0),
        doc="Share of tasks drawn uniformly instead of by the teacher (ALP-GMM, Covar-GMM).",
        metadata=HOT,
    )
    test_tasks = param.Integer(
        25, bounds=(1, 1000), doc="Goals of the fixed test set (free cell centres)."
    )
    total_timesteps = param.Integer(
        300_000, bounds=(1, 10**10), doc="Environment steps to train for.", metadata=HOT
    )
    eval_every = param.Integer(
        10_000,
        bounds=(0, None),
        doc="Steps between evaluations on the test set (0: never).",
        metadata=HOT,
    )


class TaskFeed:
    """Between the environment copies and the teacher: tasks out, outcomes in."""

    def __init__(self, teacher: Any, family: MazeGoals, history: int = 2_000) -> None:
        self.teacher = teacher
        self.family = family
        self.episodes = 0
        # The latest tasks and outcomes, for the views (the teacher keeps its own record).
        self.recent: deque[tuple[np.ndarray, float]] = deque(maxlen=history)

    def next_task(self) -> np.ndarray:
        return np.asarray(self.teacher.sample(), dtype=np.float64)

    def options_of(self, task: np.ndarray) -> dict[str, Any]:
        return {"goal": self.family.goal_of(task)}

    def report(self, task: np.ndarray, success: float, episode_return: float) -> None:
        self.teacher.update(task, success)
        self.episodes += 1
        self.recent.append((task, success))


class CurriculumTrainer(SB3Trainer):
    """An SB3 student (PPO by default) on the tasks a teacher chooses."""

    Config = CurriculumConfig
    length_knob = "total_timesteps"

    def __init__(self, config: CurriculumConfig, ctx: RunContext) -> None:
        self.config, self.ctx = config, ctx
        maze = gym.make(config.env_id).unwrapped.task.maze
        self.family = MazeGoals(maze)
        # A Gaussian-mixture refit takes longer than many environment steps: the GMM
        # teachers fit in a thread and switch to the new mixture a fixed number of tasks
        # later (reproducible from the seed, and the student never waits).
        background = {"refit_in_background": True} if "gmm" in config.teacher else {}
        self.teacher = make_teacher(
            config.teacher, box=self.family.box, seed=config.seed, **background
        )
        self._apply_teacher_knobs(TEACHER_KNOBS)
        self.feed = TaskFeed(self.teacher, self.family)

        def make_env() -> gym.Env:
            return TeacherTasks(gym.make(config.env_id, reward_mode=config.reward_mode), self.feed)

        super().__init__(config, ctx, model=build_model(config, make_env=make_env))
        self.test_goals = self.family.test_tasks(config.test_tasks)

    def _apply_teacher_knobs(self, names: Any) -> None:
        for name in names:
            if hasattr(self.teacher, name):
                setattr(self.teacher, name, getattr(self.config, name))

    def apply(self, changes: Mapping[str, Any]) -> None:
        super().apply(changes)
        self._apply_teacher_knobs([name for name in changes if name in TEACHER_KNOBS])

    def record_rollout(self, step: int) -> None:
        """Evaluate the student on the test goals (deterministic, all goals stepped
        together), log the competence map with the teacher's snapshot, and one rollout
        picture (the test goal farthest into the run's list that was reached, else the
        last) for the Live page."""
        success, paths = self.test_success()
        self.ctx.log_scalar("eval/test_success", float(success.mean()), step)
        self.ctx.log_scalar("curriculum/episodes", float(self.feed.episodes), step)
        arrays: dict[str, np.ndarray] = {
            f"teacher/{key}": np.asarray(value) for key, value in self.teacher.snapshot().items()
        }
        if self.feed.recent:
            tasks, outcomes = zip(*self.feed.recent, strict=True)
            arrays["recent_tasks"] = np.array(tasks, dtype=np.float32)
            arrays["recent_success"] = np.array(outcomes, dtype=np.float32)
            self.ctx.log_scalar("curriculum/recent_success", float(np.mean(outcomes[-200:])), step)
        arrays["test_goals"] = self.test_goals.astype(np.float32)
        arrays["test_success"] = success.astype(np.float32)
        self.ctx.log_snapshot("curriculum", arrays, step)
        shown = int(np.flatnonzero(success)[-1]) if success.any() else len(paths) - 1
        self.ctx.log_snapshot(
            "rollout",
            {"positions": paths[shown], "goal": self.test_goals[shown].astype(np.float32)},
            step,
        )

    def test_success(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """Whether the deterministic student reaches each test goal, and its paths."""
        envs = [
            gym.make(self.config.env_id, reward_mode=self.config.reward_mode)
            for _ in self.test_goals
        ]
        obs = np.stack(
            [
                env.reset(seed=self.config.seed, options={"goal": goal})[0]
                for env, goal in zip(envs, self.test_goals, strict=True)
            ]
        )
        paths = [[o[:2]] for o in obs]
        reached = np.zeros(len(envs), dtype=bool)
        running = np.ones(len(envs), dtype=bool)
        while running.any():
            actions, _ = self.model.predict(obs, deterministic=True)
            for i in np.flatnonzero(running):
                obs[i], _, terminated, truncated, info = envs[i].step(actions[i])
                paths[i].append(obs[i, :2].copy())
                reached[i] |= bool(info.get("is_success", False))
                running[i] = not (terminated or truncated)
        return reached, [np.array(p, dtype=np.float32) for p in paths]

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "teacher": self.teacher.state_dict(),
            "episodes": self.feed.episodes,
        }

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> list[str]:
        skipped = super().load_state_dict(state, strict)
        try:
            self.teacher.load_state_dict(dict(state["teacher"]))
            self.feed.episodes = int(state.get("episodes", 0))
        except CurriculumError:
            if strict:
                raise
            # A fork to another teacher starts that teacher afresh.
            skipped.append("teacher")
        return skipped
