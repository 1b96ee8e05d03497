"""A curriculum run: an SB3 student trains on the tasks a teacher chooses, live.

The teacher sits inside the run. Each episode of every environment copy starts on the
teacher's next task (``TeacherTasks`` wraps the copies) and reports its outcome back, so
the teacher's picture of learning progress follows the student as it learns. Everything
the teacher knows is in the run's checkpoints: a resumed run samples what it would have.

Task families:
- ``maze-goals``: goal reaching in a point maze; the task is the goal (x, y), the task
  space the maze's box; the teacher hears whether the goal was reached. Teachers:
  ``random`` (uniform goals), ``alp-gmm``, ``covar-gmm``, ``riac``.
- ``wall-gaps``: a point crosses a wall through a gap to a goal (``workbench/WallGap-v0``);
  the task is the gap (centre, width), from closed to wide open; the teacher hears whether
  the goal was reached. The same teachers as maze-goals; the student's reward defaults to
  the geodesic one (the path through the gap).
- ``grid-levels``: the seeded grid mazes of ``workbench/GridLevels-v0``; the task is a
  level. Teachers: ``plr``, ``robust-plr``, ``accel`` and ``random`` (uniform level
  sampling over the training levels). The student is PPO; every episode is scored from the
  student's value estimates by GAE (workbench/curricula/level_replay.py says how episodes
  across rollout boundaries are scored, and how robust PLR and ACCEL take no gradient step
  on new and edited levels).

A teacher of another family is refused before the run starts.

Defaults that depend on the family or the teacher are filled in where a knob is not given
(:data:`GRID_LEVELS_DEFAULTS`, :data:`TEACHER_DEFAULTS`), so a run's record shows the
values it ran with: ``tasks=grid-levels`` alone gives PLR and the PPO settings that learned
in the level env's check (8 copies, 128 steps, minibatches of 256, 4 epochs, step size
5e-4); ``teacher=robust-plr`` or ``accel`` alone gives temperature 0.3, staleness 0.3 and
the positive value loss. A knob given explicitly always wins (a fork keeps its parent's).

Snapshots ``curriculum`` (at each evaluation) hold the teacher's ``snapshot()`` (prefixed
``teacher/``) and:
- maze-goals, wall-gaps: the latest tasks and outcomes (``recent_tasks``,
  ``recent_success``), and the test set's tasks (``test_tasks``) with the student's
  deterministic success on each (``test_success``: the competence map); snapshot
  ``rollout`` one test path.
- grid-levels: ``top_levels`` (pictures, ``(k, H, W, 3)`` uint8, best first) and
  ``top_scores`` of the highest-scoring buffer levels; ``test_levels`` (held-out seeds)
  with ``test_success``; ``recent_scores``, ``recent_success`` and ``recent_kinds`` (0
  new, 1 replay, 2 edit) of the latest episodes. Scalars ``eval/test_success`` (held-out
  solve rate), ``eval/train_success`` (as many training levels), ``curriculum/new``,
  ``curriculum/replay``, ``curriculum/edit`` (levels sampled so far by kind),
  ``curriculum/replay_probability``, ``curriculum/trained_fraction`` (each rollout's share
  of samples the student learned from). No ``rollout`` snapshot: the Live page draws paths
  over a point maze, and a grid level is no such picture.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import param
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv

from environments.grid_levels import held_out_levels, training_levels
from workbench.curricula import CurriculumError, make_teacher
from workbench.curricula.level_replay import (
    KIND_CODES,
    LevelFeed,
    LevelReplayCallback,
    LevelReplayPPO,
    UniformLevels,
    level_copies,
    solved_levels,
    top_levels,
)
from workbench.curricula.maze_goals import MazeGoals, TeacherTasks
from workbench.curricula.plr import PLR, SCORE_KINDS
from workbench.curricula.wall_gaps import WallGaps
from workbench.runs.config import HOT, KnobError
from workbench.runs.trainer import RunContext
from workbench.trainers.sb3 import (
    POINT_ENV_IDS,
    SB3Config,
    SB3Trainer,
    WorkbenchCallback,
    build_model,
)

MAZE_ENV_IDS = [env_id for env_id in POINT_ENV_IDS if "PointMaze" in env_id]
GRID_LEVELS_ENV_ID = "workbench/GridLevels-v0"
TASK_FAMILIES = ["maze-goals", "wall-gaps", "grid-levels"]
# The environment of each family that has one of its own (maze-goals: any point maze).
FAMILY_ENV_IDS = {"wall-gaps": WallGaps.env_id, "grid-levels": GRID_LEVELS_ENV_ID}
CONTINUOUS_TEACHERS = ["random", "alp-gmm", "covar-gmm", "riac"]
LEVEL_TEACHERS = ["random", "plr", "robust-plr", "accel"]  # random: uniform level sampling
TEACHERS_OF_FAMILY = {
    "maze-goals": CONTINUOUS_TEACHERS,
    "wall-gaps": CONTINUOUS_TEACHERS,
    "grid-levels": LEVEL_TEACHERS,
}
# Hot knobs that are teachers' attributes of the same name (where a teacher has them).
TEACHER_KNOBS = ("random_task_ratio", "temperature", "staleness_coef", "replay_prob", "num_edits")
# Knobs that grid-levels runs default to differently (where the knob is not given): the
# teacher, and the PPO student that learned in the level env's check.
GRID_LEVELS_DEFAULTS: dict[str, Any] = {
    "env_id": GRID_LEVELS_ENV_ID,
    "teacher": "plr",
    "n_envs": 8,
    "n_steps": 128,
    "batch_size": 256,
    "n_epochs": 4,
    "learning_rate": 5e-4,
    "ent_coef": 0.01,
    "net_width": 64,
    "test_tasks": 50,
    "total_timesteps": 500_000,
    "eval_every": 10_000,
}
# Wall gaps: the geodesic reward leads through the gap (the straight-line one traps the
# point at the wall in front of the goal), 36 test gaps (6 x 6).
WALL_GAPS_DEFAULTS: dict[str, Any] = {
    "env_id": WallGaps.env_id,
    "reward_mode": "geodesic",
    "test_tasks": 36,
}
FAMILY_DEFAULTS = {"wall-gaps": WALL_GAPS_DEFAULTS, "grid-levels": GRID_LEVELS_DEFAULTS}
# Robust PLR's settings on mazes (Jiang et al. 2021), ACCEL's too (where not given).
_ROBUST_PLR_DEFAULTS = {
    "temperature": 0.3,
    "staleness_coef": 0.3,
    "score_kind": "positive_value_loss",
}
TEACHER_DEFAULTS: dict[str, dict[str, Any]] = {
    "robust-plr": _ROBUST_PLR_DEFAULTS,
    "accel": _ROBUST_PLR_DEFAULTS,
}
TOP_LEVELS = 6  # pictures of the highest-scoring levels in each snapshot


def check_combination(tasks: str, teacher: str, algorithm: str, env_id: str) -> None:
    """A :class:`KnobError` naming both knobs when they do not go together."""
    wanted = FAMILY_ENV_IDS.get(tasks)
    if env_id != wanted if wanted else env_id not in MAZE_ENV_IDS:
        wanted = wanted or "a point maze"
        raise KnobError(
            f"env_id={env_id!r} does not go with tasks={tasks!r}: {tasks} plays {wanted}"
        )
    allowed = TEACHERS_OF_FAMILY[tasks]
    if teacher not in allowed:
        raise KnobError(
            f"teacher={teacher!r} does not go with tasks={tasks!r}: {tasks} takes the "
            f"teachers {', '.join(allowed)}"
        )
    if tasks == "grid-levels" and algorithm != "PPO":
        raise KnobError(
            f"algorithm={algorithm!r} does not go with tasks='grid-levels': its student is "
            "PPO (discrete moves; robust PLR masks PPO's updates)"
        )


class CurriculumConfig(SB3Config):
    """Knobs of :class:`CurriculumTrainer`: the student's (SB3's) and the teacher's."""

    teacher = param.Selector(
        default="alp-gmm",
        objects=list(dict.fromkeys(CONTINUOUS_TEACHERS + LEVEL_TEACHERS)),
        doc="Who chooses the next task. maze-goals: random (uniform), alp-gmm (absolute "
        "learning progress, Gaussian mixtures), covar-gmm, riac (regions split by progress). "
        "grid-levels: plr (prioritized level replay), robust-plr (trains on replayed levels "
        "only), accel (robust PLR plus edits of replayed levels), random (uniform level "
        "sampling). Switching teacher is a fork.",
    )
    tasks = param.Selector(
        default="maze-goals",
        objects=TASK_FAMILIES,
        doc="Task family: maze-goals (goals in a point maze), wall-gaps (the gap a point "
        "crosses a wall through, workbench/WallGap-v0) or grid-levels (seeded grid mazes of "
        "workbench/GridLevels-v0, PPO student).",
    )
    env_id = param.Selector(
        default="workbench/PointMaze-UMaze-v0",
        objects=[*MAZE_ENV_IDS, *FAMILY_ENV_IDS.values()],
        doc="maze-goals: the maze of the goals; wall-gaps and grid-levels play their own "
        "environment (set with tasks).",
    )
    n_steps = param.Integer(
        512,
        bounds=(2, 100_000),
        doc="PPO: steps per environment copy in each rollout (grid-levels default: 128).",
    )
    batch_size = param.Integer(
        64,
        bounds=(2, 1_000_000),
        doc="PPO: samples per minibatch; best a divisor of n_steps x n_envs (grid-levels "
        "default: 256).",
    )
    n_epochs = param.Integer(
        10, bounds=(1, 1000), doc="PPO: passes over each rollout (grid-levels default: 4)."
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
    fit_rate = param.Integer(
        250,
        bounds=(10, 100_000),
        doc="ALP-GMM, Covar-GMM: tasks between two refits of the mixture, on the latest that "
        "many; the first that many are uniform (the papers' 250).",
    )
    temperature = param.Number(
        0.1,
        bounds=(1e-3, 100.0),
        doc="PLR's rank-prioritization temperature beta: lower favours the top-scoring "
        "levels more (PLR paper 0.1; robust PLR and ACCEL default 0.3).",
        metadata=HOT,
    )
    staleness_coef = param.Number(
        0.1,
        bounds=(0.0, 1.0),
        doc="PLR's staleness weight (the paper's rho): share of the replay distribution "
        "given to levels by episodes since last sampled (PLR 0.1; robust PLR, ACCEL 0.3).",
        metadata=HOT,
    )
    replay_prob = param.Number(
        0.5,
        bounds=(0.0, 1.0),
        doc="Robust PLR, ACCEL: chance that an episode replays a buffer level (once half "
        "the training levels are seen). PLR replays by the fraction of training levels "
        "seen instead, and ignores this knob.",
        metadata=HOT,
    )
    num_edits = param.Integer(
        5,
        bounds=(0, 81),
        doc="ACCEL: changes per edit of a replayed level (walls toggled, goal moved).",
        metadata=HOT,
    )
    num_train_levels = param.Integer(
        200,
        bounds=(0, 1_000_000),
        doc="grid-levels: number of training levels (seeds fixed across runs; 0: every "
        "training seed, a fresh level each time).",
    )
    level_buffer_size = param.Integer(
        256,
        bounds=(1, 100_000),
        doc="grid-levels: most levels the PLR teachers keep scores for (lowest score "
        "evicted). Robust PLR waits for half the training levels (with num_train_levels=0: "
        "half this buffer) before replaying, and trains only on replays.",
    )
    score_kind = param.Selector(
        default="l1_value_loss",
        objects=list(SCORE_KINDS),
        doc="grid-levels: a level's score from an episode: l1_value_loss (mean |GAE|, PLR), "
        "positive_value_loss (mean positive GAE; robust PLR, ACCEL default), max_mc, "
        "policy_entropy.",
    )
    test_tasks = param.Integer(
        25,
        bounds=(1, 1000),
        doc="Size of the fixed test set: goals (free cell centres) for maze-goals, "
        "held-out levels for grid-levels (default 50).",
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

    def __init__(self, **params: Any) -> None:
        # Family and teacher defaults for the knobs not given (recorded with the run).
        family = params.get("tasks")
        if family in FAMILY_DEFAULTS:
            params = {**FAMILY_DEFAULTS[family], **params}
            # A maze kept from a maze-goals parent (a fork), or recorded by runs from before
            # grid-levels had its own env_id: the family's environment is the one played.
            if params["env_id"] in MAZE_ENV_IDS:
                params["env_id"] = FAMILY_ENV_IDS[family]
        params = {**TEACHER_DEFAULTS.get(params.get("teacher", ""), {}), **params}
        super().__init__(**params)
        check_combination(self.tasks, self.teacher, self.algorithm, self.env_id)


class TaskFeed:
    """Between the environment copies and the teacher: tasks out, outcomes in."""

    def __init__(self, teacher: Any, family: MazeGoals | WallGaps, history: int = 2_000) -> None:
        self.teacher = teacher
        self.family = family
        self.episodes = 0
        # The latest tasks and outcomes, for the views (the teacher keeps its own record).
        self.recent: deque[tuple[np.ndarray, float]] = deque(maxlen=history)

    def next_task(self) -> np.ndarray:
        return np.asarray(self.teacher.sample(), dtype=np.float64)

    def options_of(self, task: np.ndarray) -> dict[str, Any]:
        return self.family.options_of(task)

    def report(self, task: np.ndarray, success: float, episode_return: float) -> None:
        self.teacher.update(task, success)
        self.episodes += 1
        self.recent.append((task, success))


def build_ppo(config: CurriculumConfig, venv: VecEnv, ppo_class: type[PPO] = PPO) -> PPO:
    """The PPO student of a curriculum run (the same PPO as ``build_model``'s, with the
    rollout knobs n_steps, batch_size and n_epochs)."""
    return ppo_class(
        "MlpPolicy",
        venv,
        learning_rate=config.learning_rate,
        gamma=config.gamma,
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        n_epochs=config.n_epochs,
        ent_coef=config.ent_coef,
        clip_range=config.clip_range,
        policy_kwargs={"net_arch": [config.net_width, config.net_width]},
        seed=config.seed,
        device=config.device,
        verbose=0,
    )


def make_level_teacher(config: CurriculumConfig) -> PLR:
    """The grid-levels teacher of ``config``; its hot knobs are set by the trainer."""
    options: dict[str, Any] = {
        "seed": config.seed,
        "levels": config.num_train_levels,  # 0: every training seed
        "buffer_size": config.level_buffer_size,
        "score_kind": config.score_kind,
        "temperature": config.temperature,
        "staleness_coef": config.staleness_coef,
        "gamma": config.gamma,
    }
    if config.teacher == "random":
        return UniformLevels(**options)
    return make_teacher(config.teacher, **options)


class LevelCurriculumCallback(WorkbenchCallback):
    """The run's callback plus the level bookkeeping, which runs first at every step so
    that evaluations and checkpoints see every finished episode."""

    def __init__(self, ctx: RunContext, trainer: CurriculumTrainer, levels: LevelReplayCallback):
        super().__init__(ctx, trainer)
        self.levels = levels

    def _init_callback(self) -> None:
        self.levels.init_callback(self.model)

    def _on_training_start(self) -> None:
        self.levels.on_training_start(self.locals, self.globals)

    def _on_step(self) -> bool:
        self.levels.update_locals(self.locals)
        self.levels.on_step()
        return super()._on_step()


class CurriculumTrainer(SB3Trainer):
    """An SB3 student (PPO by default) on the tasks a teacher chooses."""

    Config = CurriculumConfig
    length_knob = "total_timesteps"

    def __init__(self, config: CurriculumConfig, ctx: RunContext) -> None:
        self.config, self.ctx = config, ctx
        # Configs check this when built; a config changed in place is checked here too.
        check_combination(config.tasks, config.teacher, config.algorithm, config.env_id)
        self.plays_levels = config.tasks == "grid-levels"
        model = self._level_student() if self.plays_levels else self._goal_student()
        super().__init__(config, ctx, model=model)
        if self.plays_levels:
            self.callback = LevelCurriculumCallback(ctx, self, LevelReplayCallback(self.feed))

    def _goal_student(self) -> BaseAlgorithm:
        config = self.config
        if config.tasks == "wall-gaps":
            self.family: MazeGoals | WallGaps = WallGaps()
        else:
            self.family = MazeGoals(gym.make(config.env_id).unwrapped.task.maze)
        # A Gaussian-mixture refit takes longer than many environment steps: the GMM
        # teachers fit in a worker process and switch to the new mixture a fixed number of
        # tasks later (reproducible from the seed, and the student never waits).
        mixture = (
            {
                "refit_in_background": True,
                "fit_rate": config.fit_rate,
                # The new mixture applies this many tasks after its fit started (the
                # teacher's 25, fewer when refits come sooner).
                "apply_after": min(25, config.fit_rate // 2),
            }
            if "gmm" in config.teacher
            else {}
        )
        self.teacher = make_teacher(
            config.teacher, box=self.family.box, seed=config.seed, **mixture
        )
        self._apply_teacher_knobs(TEACHER_KNOBS)
        self.feed = TaskFeed(self.teacher, self.family)
        self.test_tasks = self.family.test_tasks(config.test_tasks)

        def make_env() -> gym.Env:
            return TeacherTasks(gym.make(config.env_id, reward_mode=config.reward_mode), self.feed)

        if config.algorithm != "PPO":
            return build_model(config, make_env=make_env)
        return build_ppo(config, make_vec_env(make_env, n_envs=config.n_envs, seed=config.seed))

    def _level_student(self) -> BaseAlgorithm:
        config = self.config
        self.teacher = make_level_teacher(config)
        self._apply_teacher_knobs(TEACHER_KNOBS)
        self.feed = LevelFeed(self.teacher, config.n_envs)
        self.test_levels = held_out_levels(config.test_tasks)
        # As many training levels as test levels: the gap between the two solve rates is
        # what the student memorized.
        known = self.teacher.training_levels or training_levels(config.test_tasks)
        self.check_levels = list(known[: config.test_tasks])
        venv = level_copies(self.feed, config.n_envs, config.seed)
        return build_ppo(config, venv, LevelReplayPPO)

    def _apply_teacher_knobs(self, names: Any) -> None:
        for name in names:
            if hasattr(self.teacher, name):
                setattr(self.teacher, name, getattr(self.config, name))

    def apply(self, changes: Mapping[str, Any]) -> None:
        super().apply(changes)
        self._apply_teacher_knobs([name for name in changes if name in TEACHER_KNOBS])
        if "gamma" in changes and self.plays_levels:
            self.teacher.gamma = self.config.gamma  # the scores' GAE follows the student's

    def record_rollout(self, step: int) -> None:
        if self.plays_levels:
            self._record_levels(step)
        else:
            self._record_goals(step)

    def _record_levels(self, step: int) -> None:
        """Solve rates of the deterministic student on the held-out and as many training
        levels, and the teacher's picture: its snapshot, the top-scoring levels, counts."""
        test = solved_levels(self.model, self.test_levels)
        train = solved_levels(self.model, self.check_levels)
        log = self.ctx.log_scalar
        log("eval/test_success", float(test.mean()), step)
        log("eval/train_success", float(train.mean()), step)
        log("curriculum/episodes", float(self.feed.episodes), step)
        snapshot = self.teacher.snapshot()
        for kind, count in zip(KIND_CODES, snapshot["counts"], strict=True):
            log(f"curriculum/{kind}", float(count), step)
        log("curriculum/replay_probability", float(snapshot["replay_probability"]), step)
        arrays: dict[str, np.ndarray] = {
            f"teacher/{key}": np.asarray(value) for key, value in snapshot.items()
        }
        arrays["top_levels"], arrays["top_scores"] = top_levels(snapshot, TOP_LEVELS)
        arrays["test_levels"] = np.array(self.test_levels, dtype=np.int64)
        arrays["test_success"] = test.astype(np.float32)
        if self.feed.recent:
            scores, solved, kinds = (
                np.array(column) for column in zip(*self.feed.recent, strict=True)
            )
            arrays["recent_scores"] = scores.astype(np.float32)
            arrays["recent_success"] = solved.astype(np.float32)
            arrays["recent_kinds"] = kinds.astype(np.int8)
            log("curriculum/recent_success", float(solved[-200:].mean()), step)
        self.ctx.log_snapshot("curriculum", arrays, step)

    def _record_goals(self, step: int) -> None:
        """Evaluate the student on the test goals (deterministic, all goals stepped
        together), log the competence map with the teacher's snapshot, and one rollout
        picture (the test goal farthest into the run's list that was reached, else the
        last) for the Live page."""
        success, paths, goals = self.test_success()
        self.ctx.log_scalar("eval/test_success", float(success.mean()), step)
        self.ctx.log_scalar("curriculum/episodes", float(self.feed.episodes), step)
        snapshot = self.teacher.snapshot()
        # How spread the teacher's sampling is: 1 uniform over the task space, near 0 on a
        # few spots (normalised entropy, estimated on a grid).
        self.ctx.log_scalar("curriculum/sampling_entropy", float(snapshot["entropy"]), step)
        arrays: dict[str, np.ndarray] = {
            f"teacher/{key}": np.asarray(value) for key, value in snapshot.items()
        }
        if self.feed.recent:
            tasks, outcomes = zip(*self.feed.recent, strict=True)
            arrays["recent_tasks"] = np.array(tasks, dtype=np.float32)
            arrays["recent_success"] = np.array(outcomes, dtype=np.float32)
            self.ctx.log_scalar("curriculum/recent_success", float(np.mean(outcomes[-200:])), step)
        arrays["test_tasks"] = self.test_tasks.astype(np.float32)
        arrays["test_success"] = success.astype(np.float32)
        self.ctx.log_snapshot("curriculum", arrays, step)
        shown = int(np.flatnonzero(success)[-1]) if success.any() else len(paths) - 1
        self.ctx.log_snapshot(
            "rollout",
            {"positions": paths[shown], "goal": goals[shown].astype(np.float32)},
            step,
        )

    def test_success(self) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
        """Whether the deterministic student reaches the goal of each test task, its paths
        and the goals."""
        envs = [
            gym.make(self.config.env_id, reward_mode=self.config.reward_mode)
            for _ in self.test_tasks
        ]
        obs = np.stack(
            [
                env.reset(seed=self.config.seed, options=self.feed.options_of(task))[0]
                for env, task in zip(envs, self.test_tasks, strict=True)
            ]
        )
        goals = np.array([env.unwrapped.goal for env in envs], dtype=np.float64)
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
        return reached, [np.array(p, dtype=np.float32) for p in paths], goals

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
