"""Continuous 2-D point environments: the open plane and point mazes with walls.

One :class:`PointTask` holds the geometry and reward of a world and steps any number of
positions at once with array operations. :class:`PointEnv` (a ``gymnasium.Env``) and
:class:`PointVectorEnv` (a ``gymnasium.vector.VectorEnv``) are thin shells around it, so a
vector env of N copies equals N single envs step for step.

Dynamics: s' = s + a with a in the box [-max_action, max_action]^2. In a maze the move is
applied along x, then along y, and each axis stops at the first wall it meets. With
max_action < 1 (one cell) an axis move crosses at most one cell boundary, so checking that
one neighbour is exact: the point never enters or passes through a wall cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from environments.maze import (
    LAYOUTS,
    GoalDistanceField,
    LayoutError,
    MazeLayout,
    get_layout,
    parse_layout,
)
from environments.rendering import AGENT, GOAL, draw_cells, draw_disk, draw_open_plane

RewardMode = Literal["none", "goal", "dense", "geodesic", "dx"]
REWARD_MODES: tuple[str, ...] = ("none", "goal", "dense", "geodesic")

# Distance kept between a point and a wall it runs into, so that the point stays strictly
# inside its free cell even after its float32 observation is rounded.
WALL_MARGIN = 1e-4
# Slack on the action bound: float32 boxes store 0.2 as 0.2000000029.
_ACTION_TOLERANCE = 1e-6
_PIXELS_PER_CELL = 32


@dataclass(frozen=True)
class PointTask:
    """Geometry, start, goal and reward of a point world (no state of its own).

    Attributes:
        maze: the walls; ``None`` for the unbounded open plane.
        reward_mode: ``"none"`` (reward 0, unsupervised), ``"goal"`` (1 within
            ``goal_radius`` of the goal and the episode terminates; the goal is appended to
            the observation), ``"dense"`` (minus the Euclidean distance to the goal, no
            termination), ``"geodesic"`` (minus the shortest-path distance to the goal
            through the maze, no termination; see :class:`GoalDistanceField`) or ``"dx"``
            (the x displacement, the plane's reward).
        max_action: half-width of the action box.
        goal_radius: distance to the goal that counts as reaching it.
        fixed_goal: the goal of every episode; ``None`` means the layout's ``G`` cell, or,
            without one, a free cell centre drawn at each reset.
    """

    maze: MazeLayout | None
    reward_mode: RewardMode = "none"
    max_action: float = 0.2
    goal_radius: float = 0.5
    fixed_goal: tuple[float, float] | None = None
    # Geodesic distance fields, one per goal, built at the goal's first use (milliseconds).
    _goal_fields: dict[tuple[float, float], GoalDistanceField] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        allowed = ("dx",) if self.maze is None else REWARD_MODES
        if self.reward_mode not in allowed:
            raise ValueError(
                f"reward_mode must be one of {', '.join(map(repr, allowed))}, got {self.reward_mode!r}"
            )
        if not 0.0 < self.max_action < 1.0:
            raise ValueError(f"max_action must be in (0, 1) cells, got {self.max_action!r}")
        if not self.goal_radius > 0.0:
            raise ValueError(f"goal_radius must be positive, got {self.goal_radius!r}")
        if self.fixed_goal is not None:
            self.check_free(np.asarray(self.fixed_goal, dtype=np.float64), "goal")

    @property
    def uses_goal(self) -> bool:
        return self.reward_mode in ("goal", "dense", "geodesic")

    @property
    def start(self) -> np.ndarray:
        return np.zeros(2) if self.maze is None else np.array(self.maze.start)

    def observation_space(self) -> spaces.Box:
        if self.maze is None:
            return spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)
        high = np.array([self.maze.width, self.maze.height], dtype=np.float32)
        if self.reward_mode == "goal":
            high = np.concatenate([high, high])
        return spaces.Box(np.zeros_like(high), high, dtype=np.float32)

    def action_space(self) -> spaces.Box:
        return spaces.Box(-self.max_action, self.max_action, shape=(2,), dtype=np.float32)

    def check_free(self, point: np.ndarray, what: str) -> None:
        """Raise ValueError when ``point`` (2,) is not a free position of the world."""
        if point.shape != (2,) or not np.all(np.isfinite(point)):
            raise ValueError(f"{what} must be two finite numbers (x, y), got {point!r}")
        if self.maze is not None and not self.maze.is_free(point):
            raise LayoutError(
                f"{what} ({point[0]:g}, {point[1]:g}) is inside a wall of maze {self.maze.name!r}"
            )

    def check_actions(self, actions: np.ndarray) -> np.ndarray:
        """Actions as float64 (N, 2); raise ValueError naming the first one outside the box."""
        actions = np.asarray(actions, dtype=np.float64)
        bad = ~np.isfinite(actions).all(axis=-1) | (
            np.abs(actions) > self.max_action + _ACTION_TOLERANCE
        ).any(axis=-1)
        if bad.any():
            index = int(np.argmax(bad))
            raise ValueError(
                f"action {actions[index].tolist()} (copy {index}) is outside the action box "
                f"[-{self.max_action:g}, {self.max_action:g}]^2"
            )
        return actions

    def sample_goal(self, rng: np.random.Generator) -> np.ndarray:
        """The fixed goal, the layout's goal, or a uniformly drawn free cell centre."""
        if self.fixed_goal is not None:
            return np.array(self.fixed_goal, dtype=np.float64)
        assert self.maze is not None
        if self.maze.goal is not None:
            return np.array(self.maze.goal)
        centers = self.maze.free_cell_centers
        centers = centers[np.any(centers != self.maze.start, axis=1)]
        return centers[rng.integers(len(centers))].copy()

    def move(self, positions: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Next positions (N, 2) from positions and in-box actions (N, 2)."""
        if self.maze is None:
            return positions + actions
        free = self.maze.free
        x, y = positions[:, 0], positions[:, 1]
        cell_x, cell_y = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)

        new_x = x + actions[:, 0]
        new_cell_x = np.floor(new_x).astype(np.int64)
        blocked = (new_cell_x != cell_x) & ~_free_at(free, new_cell_x, cell_y)
        new_x = np.where(
            blocked,
            np.where(actions[:, 0] > 0, cell_x + 1 - WALL_MARGIN, cell_x + WALL_MARGIN),
            new_x,
        )

        cell_x = np.floor(new_x).astype(np.int64)
        new_y = y + actions[:, 1]
        new_cell_y = np.floor(new_y).astype(np.int64)
        blocked = (new_cell_y != cell_y) & ~_free_at(free, cell_x, new_cell_y)
        new_y = np.where(
            blocked,
            np.where(actions[:, 1] > 0, cell_y + 1 - WALL_MARGIN, cell_y + WALL_MARGIN),
            new_y,
        )
        return np.stack([new_x, new_y], axis=1)

    def reward(
        self, positions: np.ndarray, new_positions: np.ndarray, goals: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rewards (N,) and goal success flags (N,) of the moves positions -> new_positions."""
        n = len(positions)
        if self.reward_mode == "dx":
            return new_positions[:, 0] - positions[:, 0], np.zeros(n, dtype=bool)
        if not self.uses_goal:
            return np.zeros(n), np.zeros(n, dtype=bool)
        distance = np.linalg.norm(new_positions - goals, axis=1)
        success = distance <= self.goal_radius
        if self.reward_mode == "goal":
            return success.astype(np.float64), success
        if self.reward_mode == "geodesic":
            return -self.geodesic_distance(new_positions, goals), success
        return -distance, success

    def geodesic_distance(self, positions: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """Shortest-path distance through the maze from each position (N, 2) to its goal."""
        # Copies mostly share a goal (the layout's): then one field answers for all.
        if np.all(goals == goals[:1]):
            return self.goal_field(goals[0])(positions)
        distances = np.empty(len(positions))
        unique_goals, which = np.unique(goals, axis=0, return_inverse=True)
        for index, goal in enumerate(unique_goals):
            mine = which.ravel() == index
            distances[mine] = self.goal_field(goal)(positions[mine])
        return distances

    def goal_field(self, goal: np.ndarray) -> GoalDistanceField:
        """The geodesic distance field to ``goal`` (2,), built at its first use."""
        key = (float(goal[0]), float(goal[1]))
        found = self._goal_fields.get(key)
        if found is None:
            assert self.maze is not None
            found = self._goal_fields[key] = GoalDistanceField(self.maze, np.array(key))
        return found

    def observe(self, positions: np.ndarray, goals: np.ndarray | None) -> np.ndarray:
        if self.reward_mode == "goal":
            return np.concatenate([positions, goals], axis=1).astype(np.float32)
        return positions.astype(np.float32)

    def render(self, position: np.ndarray, goal: np.ndarray | None) -> np.ndarray:
        if self.maze is None:
            image, origin = draw_open_plane(position)
            scale = image.shape[0] / (-2 * origin[0])
        else:
            image, origin, scale = (
                draw_cells(self.maze.free, _PIXELS_PER_CELL),
                (0, 0),
                _PIXELS_PER_CELL,
            )
        if goal is not None:
            draw_disk(image, tuple(goal), self.goal_radius * scale, GOAL, origin, scale)
        draw_disk(image, tuple(position), 0.22 * scale, AGENT, origin, scale)
        return image


def _free_at(free: np.ndarray, ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """``free[ix, iy]`` with everything outside the grid a wall."""
    inside = (ix >= 0) & (ix < free.shape[0]) & (iy >= 0) & (iy < free.shape[1])
    result = np.zeros(ix.shape, dtype=bool)
    result[inside] = free[ix[inside], iy[inside]]
    return result


def _options_point(task: PointTask, options: dict[str, Any] | None, key: str) -> np.ndarray | None:
    if not options or options.get(key) is None:
        return None
    point = np.asarray(options[key], dtype=np.float64)
    task.check_free(point, key)
    return point


def maze_task(
    layout: str | MazeLayout,
    reward_mode: str = "none",
    goal: tuple[float, float] | None = None,
    max_action: float = 0.2,
    goal_radius: float = 0.5,
) -> PointTask:
    """A maze task from a layout name of :data:`LAYOUTS`, an ASCII layout or a parsed one."""
    if isinstance(layout, MazeLayout):
        maze = layout
    elif "\n" in layout:
        maze = parse_layout(layout)
    else:
        maze = get_layout(layout)
    fixed_goal = None if goal is None else (float(goal[0]), float(goal[1]))
    return PointTask(maze, reward_mode, max_action, goal_radius, fixed_goal)  # type: ignore[arg-type]


class PointEnv(gym.Env[np.ndarray, np.ndarray]):
    """One point in a :class:`PointTask`. ``reset`` options: ``start`` and ``goal``."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, task: PointTask, render_mode: str | None = None) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.task = task
        self.render_mode = render_mode
        self.observation_space = task.observation_space()
        self.action_space = task.action_space()
        self.position = task.start.copy()
        self.goal: np.ndarray | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        start = _options_point(self.task, options, "start")
        self.position = self.task.start.copy() if start is None else start
        if self.task.uses_goal:
            goal = _options_point(self.task, options, "goal")
            self.goal = self.task.sample_goal(self.np_random) if goal is None else goal
        return self._observe(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        actions = self.task.check_actions(np.reshape(action, (1, 2)))
        positions = self.position[None]
        goals = None if self.goal is None else self.goal[None]
        new_positions = self.task.move(positions, actions)
        reward, success = self.task.reward(positions, new_positions, goals)
        self.position = new_positions[0]
        terminated = bool(success[0]) and self.task.reward_mode == "goal"
        info = {"is_success": bool(success[0])} if self.task.uses_goal else {}
        return self._observe(), float(reward[0]), terminated, False, info

    def _observe(self) -> np.ndarray:
        goals = None if self.goal is None else self.goal[None]
        return self.task.observe(self.position[None], goals)[0]

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return self.task.render(self.position, self.goal)


class PointVectorEnv(VectorEnv):
    """``num_envs`` points in one :class:`PointTask`, stepped with array operations.

    Follows gymnasium's vector API: the time limit is applied per copy, and finished copies
    reset automatically (``autoreset_mode`` NEXT_STEP, gymnasium's default, or SAME_STEP
    with ``final_obs``/``final_info`` in the infos). Copy ``i`` draws its goals from its
    own generator seeded ``seed + i``, as ``SyncVectorEnv`` seeds its sub-environments.
    """

    def __init__(
        self,
        task: PointTask,
        num_envs: int,
        max_episode_steps: int,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
    ) -> None:
        if not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if not isinstance(max_episode_steps, int | np.integer) or max_episode_steps < 1:
            raise ValueError(
                f"max_episode_steps must be a positive integer, got {max_episode_steps!r}"
            )
        autoreset_mode = AutoresetMode(autoreset_mode)
        if autoreset_mode == AutoresetMode.DISABLED:
            raise ValueError(
                "autoreset_mode must be NEXT_STEP or SAME_STEP; DISABLED is not supported"
            )
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.task = task
        self.num_envs = int(num_envs)
        self.max_episode_steps = int(max_episode_steps)
        self.autoreset_mode = autoreset_mode
        self.render_mode = render_mode
        self.metadata = {"autoreset_mode": autoreset_mode, "render_modes": ["rgb_array"]}
        self.single_observation_space = task.observation_space()
        self.single_action_space = task.action_space()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

        self.positions = np.tile(task.start, (self.num_envs, 1))
        self.goals = np.zeros((self.num_envs, 2)) if task.uses_goal else None
        self.elapsed_steps = np.zeros(self.num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)
        self._copy_rngs: list[np.random.Generator | None] = [None] * self.num_envs

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed if isinstance(seed, int) else None)
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, int | np.integer):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"got {len(seeds)} seeds for num_envs={self.num_envs}")
        options = dict(options or {})
        mask = np.asarray(options.pop("reset_mask", np.ones(self.num_envs, dtype=bool)), dtype=bool)
        if mask.shape != (self.num_envs,):
            raise ValueError(f"reset_mask must have shape ({self.num_envs},), got {mask.shape}")
        for i in np.flatnonzero(mask):
            if seeds[i] is not None or self._copy_rngs[i] is None:
                self._copy_rngs[i], _ = seeding.np_random(seeds[i])
        self._reset_copies(mask, options)
        return self._observe(), {}

    def _reset_copies(self, mask: np.ndarray, options: dict[str, Any] | None = None) -> None:
        start = _options_point(self.task, options, "start")
        self.positions[mask] = self.task.start if start is None else start
        self.elapsed_steps[mask] = 0
        self._needs_reset[mask] = False
        if self.goals is not None:
            goal = _options_point(self.task, options, "goal")
            for i in np.flatnonzero(mask):
                rng = self._copy_rngs[i]
                if rng is None:
                    rng = self._copy_rngs[i] = seeding.np_random()[0]
                self.goals[i] = self.task.sample_goal(rng) if goal is None else goal

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = np.asarray(actions, dtype=np.float64).reshape(self.num_envs, 2)
        resetting = self._needs_reset.copy()
        stepping = ~resetting
        actions = self.task.check_actions(np.where(stepping[:, None], actions, 0.0))

        new_positions = self.task.move(self.positions, actions)
        rewards, success = self.task.reward(self.positions, new_positions, self.goals)
        self.positions = np.where(stepping[:, None], new_positions, self.positions)
        rewards = np.where(stepping, rewards, 0.0)
        success &= stepping
        self.elapsed_steps += stepping
        terminated = success if self.task.reward_mode == "goal" else np.zeros(self.num_envs, bool)
        truncated = stepping & (self.elapsed_steps >= self.max_episode_steps)
        done = terminated | truncated

        infos: dict[str, Any] = {}
        if self.task.uses_goal:
            infos = {"is_success": success, "_is_success": stepping}
        if resetting.any():  # NEXT_STEP: copies that finished last step start over now
            self._reset_copies(resetting)
        observations = self._observe()
        if self.autoreset_mode == AutoresetMode.SAME_STEP and done.any():
            infos["final_obs"] = np.where(done[:, None], observations, 0.0).astype(np.float32)
            infos["_final_obs"] = done
            infos["final_info"] = {k: v.copy() for k, v in infos.items() if "final" not in k}
            infos["_final_info"] = done
            self._reset_copies(done)
            observations = self._observe()
        else:
            self._needs_reset = done
        return observations, rewards, terminated, truncated, infos

    def _observe(self) -> np.ndarray:
        return self.task.observe(self.positions, self.goals)

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode != "rgb_array":
            return None
        goals = self.goals if self.goals is not None else [None] * self.num_envs
        return tuple(self.task.render(p, g) for p, g in zip(self.positions, goals, strict=True))


# ---- Registered constructors ------------------------------------------------------------

PLANE_TASK = PointTask(maze=None, reward_mode="dx", max_action=0.2)


class PlaneEnv(PointEnv):
    """``workbench/Plane-v0``: METRA's open plane. Start (0, 0), a in [-0.2, 0.2]^2,
    s' = s + a, reward = dx, 200 steps."""

    def __init__(self, render_mode: str | None = None) -> None:
        super().__init__(PLANE_TASK, render_mode=render_mode)


def make_plane_vector_env(
    num_envs: int = 1, max_episode_steps: int = 200, **kwargs: Any
) -> PointVectorEnv:
    """Vector entry point of ``workbench/Plane-v0``."""
    return PointVectorEnv(PLANE_TASK, num_envs, max_episode_steps, **kwargs)


class PointMazeEnv(PointEnv):
    """A point in a maze. ``layout`` is a name from :data:`LAYOUTS` or an ASCII layout;
    ``reward_mode`` is ``"none"``, ``"goal"``, ``"dense"`` or ``"geodesic"`` (see
    :class:`PointTask`)."""

    def __init__(
        self,
        layout: str | MazeLayout = "umaze",
        reward_mode: str = "none",
        goal: tuple[float, float] | None = None,
        max_action: float = 0.2,
        goal_radius: float = 0.5,
        render_mode: str | None = None,
    ) -> None:
        task = maze_task(layout, reward_mode, goal, max_action, goal_radius)
        super().__init__(task, render_mode=render_mode)


def make_maze_vector_env(
    num_envs: int = 1,
    layout: str | MazeLayout = "umaze",
    reward_mode: str = "none",
    goal: tuple[float, float] | None = None,
    max_action: float = 0.2,
    goal_radius: float = 0.5,
    max_episode_steps: int = 200,
    autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
    render_mode: str | None = None,
) -> PointVectorEnv:
    """Vector entry point of the point mazes (same arguments as :class:`PointMazeEnv`)."""
    task = maze_task(layout, reward_mode, goal, max_action, goal_radius)
    return PointVectorEnv(task, num_envs, max_episode_steps, autoreset_mode, render_mode)


__all__ = [
    "LAYOUTS",
    "PLANE_TASK",
    "PlaneEnv",
    "PointEnv",
    "PointMazeEnv",
    "PointTask",
    "PointVectorEnv",
    "make_maze_vector_env",
    "make_plane_vector_env",
    "maze_task",
]
