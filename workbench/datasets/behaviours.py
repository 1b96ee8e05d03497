"""Exploratory behaviours that generate offline data on the point mazes.

Each behaviour drives ``n`` copies at once with array operations (one call per time step)
and knows nothing about rewards: HILP learns from unlabeled trajectories.

- ``random``: uniform actions in the box; stays near the start (a diffusion).
- ``momentum``: a random walk whose velocity keeps most of its last value, so it travels
  along corridors instead of jittering in place.
- ``play``: noisy goal reaching, like the "play" data of the D4RL/OGBench mazes: head for
  a random free cell along the shortest path (the geodesic oracle), with Gaussian noise
  on every action, and pick a new cell on arrival or after a time limit.
"""

from __future__ import annotations

from typing import Literal, Protocol

import numpy as np

from environments.maze import MazeLayout

BehaviourName = Literal["random", "momentum", "play"]
BEHAVIOURS: tuple[BehaviourName, ...] = ("random", "momentum", "play")

# Unit vectors of the eight headings the play behaviour chooses between.
HEADINGS = np.array([[np.cos(a), np.sin(a)] for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)])


class Behaviour(Protocol):
    def reset(self, positions: np.ndarray) -> None: ...

    def act(self, positions: np.ndarray) -> np.ndarray: ...


class RandomBehaviour:
    """Uniform actions in [-max_action, max_action]^2."""

    def __init__(self, max_action: float, rng: np.random.Generator) -> None:
        self.max_action, self.rng = max_action, rng

    def reset(self, positions: np.ndarray) -> None:
        pass

    def act(self, positions: np.ndarray) -> np.ndarray:
        return self.rng.uniform(-self.max_action, self.max_action, positions.shape)


class MomentumBehaviour:
    """Velocity ``v <- persistence * v + (1 - persistence) * noise``, scaled to the box.

    Args:
        persistence: share of the last velocity kept each step (0: the random policy).
    """

    def __init__(
        self, max_action: float, rng: np.random.Generator, persistence: float = 0.9
    ) -> None:
        if not 0.0 <= persistence < 1.0:
            raise ValueError(f"persistence must be in [0, 1), got {persistence!r}")
        self.max_action, self.rng, self.persistence = max_action, rng, persistence
        self.velocity = np.zeros((0, 2))

    def reset(self, positions: np.ndarray) -> None:
        self.velocity = self.rng.uniform(-1, 1, positions.shape)

    def act(self, positions: np.ndarray) -> np.ndarray:
        noise = self.rng.uniform(-1, 1, positions.shape)
        self.velocity = self.persistence * self.velocity + (1 - self.persistence) * noise
        # Keep the speed near the box's edge: a mean of noise shrinks towards zero.
        speed = np.abs(self.velocity).max(1, keepdims=True)
        return self.max_action * self.velocity / np.maximum(speed, 1e-8)


class PlayBehaviour:
    """Noisy goal reaching along shortest paths between random free cells.

    Args:
        noise: standard deviation of the Gaussian added to each action, as a share of
            ``max_action``.
        patience: steps before giving up on a goal and drawing another.
        resolution: sub-cells per cell of the distance fields that steer it.
    """

    def __init__(
        self,
        maze: MazeLayout,
        max_action: float,
        rng: np.random.Generator,
        noise: float = 0.5,
        patience: int = 100,
        resolution: int = 4,
    ) -> None:
        self.max_action, self.rng, self.noise, self.patience = max_action, rng, noise, patience
        self.goals = maze.free_cell_centers
        oracle = maze.geodesic(resolution)
        fields = np.stack([oracle.distance_field(g) for g in self.goals])
        self.fields = np.where(np.isnan(fields), np.inf, fields)
        self.resolution = resolution
        self.goal_index = np.zeros(0, dtype=np.int64)
        self.steps_on_goal = np.zeros(0, dtype=np.int64)

    def reset(self, positions: np.ndarray) -> None:
        self.goal_index = self.rng.integers(len(self.goals), size=len(positions))
        self.steps_on_goal = np.zeros(len(positions), dtype=np.int64)

    def act(self, positions: np.ndarray) -> np.ndarray:
        n = len(positions)
        arrived = np.linalg.norm(positions - self.goals[self.goal_index], axis=1) < 0.5
        bored = self.steps_on_goal >= self.patience
        renew = arrived | bored
        self.goal_index[renew] = self.rng.integers(len(self.goals), size=int(renew.sum()))
        self.steps_on_goal = np.where(renew, 0, self.steps_on_goal + 1)
        # The heading whose end point is geodesically closest to the goal.
        ends = positions[:, None, :] + self.max_action * HEADINGS[None]
        shape = self.fields.shape[1:]
        sub = np.floor(ends * self.resolution).astype(np.int64)
        inside = (sub >= 0).all(-1) & (sub[..., 0] < shape[0]) & (sub[..., 1] < shape[1])
        sub = np.where(inside[..., None], sub, 0)
        distance = self.fields[self.goal_index[:, None], sub[..., 0], sub[..., 1]]
        distance = np.where(inside, distance, np.inf)
        heading = HEADINGS[distance.argmin(1)]
        action = self.max_action * heading + self.noise * self.max_action * (
            self.rng.standard_normal((n, 2))
        )
        return np.clip(action, -self.max_action, self.max_action)


def make_behaviour(
    name: str, maze: MazeLayout | None, max_action: float, rng: np.random.Generator
) -> Behaviour:
    """The behaviour called ``name`` (one of :data:`BEHAVIOURS`)."""
    if name == "random":
        return RandomBehaviour(max_action, rng)
    if name == "momentum":
        return MomentumBehaviour(max_action, rng)
    if name == "play":
        if maze is None:
            raise ValueError("the play behaviour needs a maze: it steers towards free cells")
        return PlayBehaviour(maze, max_action, rng)
    raise ValueError(f"unknown behaviour {name!r}; choose one of {', '.join(BEHAVIOURS)}")
