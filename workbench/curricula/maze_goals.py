"""Goal reaching in a point maze as a continuous task family: the task is the goal (x, y),
and the task space is the maze itself.

Teachers sample the whole box of the maze, walls included: a goal inside a wall is played at
the centre of the nearest free cell (the student is never handed an impossible goal), while
the teacher keeps the point it chose, so its map of learning progress covers the box.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from environments.maze import MazeLayout
from workbench.curricula.base import TaskBox


class MazeGoals:
    """The goals of one maze as tasks."""

    def __init__(self, maze: MazeLayout) -> None:
        self.maze = maze
        self.box = TaskBox((0.0, 0.0), (maze.width, maze.height), names=("goal x", "goal y"))
        self._centers = maze.free_cell_centers

    def goal_of(self, task: np.ndarray) -> np.ndarray:
        """Where the goal of ``task`` is played: the task itself when free, else the centre
        of the nearest free cell."""
        point = np.asarray(task, dtype=np.float64)
        if self.maze.is_free(point):
            return point
        return self._centers[np.argmin(np.linalg.norm(self._centers - point, axis=1))]

    def options_of(self, task: np.ndarray) -> dict[str, Any]:
        """Reset options that play ``task``."""
        return {"goal": self.goal_of(task)}

    def test_tasks(self, count: int) -> np.ndarray:
        """A fixed test set: ``count`` free cell centres spread over the maze (every cell
        when ``count`` is at least their number)."""
        if count >= len(self._centers):
            return self._centers.copy()
        index = np.linspace(0, len(self._centers) - 1, count).round().astype(int)
        return self._centers[index]


class TeacherTasks(gym.Wrapper):
    """Plays the teacher's next task at every reset and reports the episode's outcome.

    ``feed`` gives tasks (``next_task()``), turns a task into reset options
    (``options_of(task)``) and takes outcomes (``report(task, success, episode_return)``).
    SB3's vector envs reset a finished copy without options, so the task comes from here.
    """

    def __init__(self, env: gym.Env, feed: Any) -> None:
        super().__init__(env)
        self.feed = feed
        self.task: np.ndarray | None = None
        self._reached = False
        self._return = 0.0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        self.task = self.feed.next_task()
        self._reached, self._return = False, 0.0
        return self.env.reset(
            seed=seed, options={**(options or {}), **self.feed.options_of(self.task)}
        )

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._reached = self._reached or bool(info.get("is_success", False))
        self._return += float(reward)
        if terminated or truncated:
            self.feed.report(self.task, float(self._reached), self._return)
        return obs, reward, terminated, truncated, info
