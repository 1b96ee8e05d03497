"""Gymnasium environments and exact tabular MDP models (no torch, no panel).

Importing this package registers every environment under the ``workbench/`` namespace;
:data:`ENVIRONMENTS` describes them in one line each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from environments.gridworld import GRID_LAYOUTS, GridWorldEnv, GridWorldMDP, gridworld
from environments.maze import (
    LAYOUTS,
    GeodesicOracle,
    GoalDistanceField,
    LayoutError,
    MazeLayout,
    get_layout,
    parse_layout,
)
from environments.point import PlaneEnv, PointEnv, PointMazeEnv, PointTask, PointVectorEnv
from environments.tabular import TabularEnv, TabularMDP


@dataclass(frozen=True)
class EnvironmentInfo:
    """One registered environment: its id, a one-line description and its constructor."""

    id: str
    description: str
    entry_point: str
    max_episode_steps: int
    kwargs: dict[str, Any] = field(default_factory=dict)
    vector_entry_point: str | None = None


_MAZE_STEPS = {"open": 200, "umaze": 200, "medium": 300, "four_rooms": 400, "large": 500}
_MAZE_NAMES = {
    "open": "Open",
    "umaze": "UMaze",
    "medium": "Medium",
    "four_rooms": "FourRooms",
    "large": "Large",
}
_MAZE_TEXT = {
    "open": "an open 5x5 room",
    "umaze": "D4RL's U-maze",
    "medium": "D4RL's medium maze",
    "four_rooms": "Sutton's four rooms",
    "large": "D4RL's large maze",
}

ENVIRONMENTS: tuple[EnvironmentInfo, ...] = (
    EnvironmentInfo(
        "workbench/Plane-v0",
        "METRA's open plane: s' = s + a, a in [-0.2, 0.2]^2, reward = dx, 200 steps",
        "environments.point:PlaneEnv",
        200,
        vector_entry_point="environments.point:make_plane_vector_env",
    ),
    *(
        EnvironmentInfo(
            f"workbench/PointMaze-{_MAZE_NAMES[name]}-v0",
            f"point in {_MAZE_TEXT[name]}, a in [-0.2, 0.2]^2, "
            f"reward_mode none|goal|dense|geodesic, {steps} steps",
            "environments.point:PointMazeEnv",
            steps,
            {"layout": name},
            "environments.point:make_maze_vector_env",
        )
        for name, steps in _MAZE_STEPS.items()
    ),
    *(
        EnvironmentInfo(
            f"workbench/GridWorld-{title}-v0",
            f"tabular grid world '{layout}'{', slip 0.1' if slip else ''} with exact P[s, a, s']",
            "environments.gridworld:GridWorldEnv",
            horizon,
            {"layout": layout, "slip": slip, "horizon": horizon},
        )
        for title, layout, slip, horizon in (
            ("Empty", "empty", 0.0, 20),
            ("Cliff", "cliff", 0.0, 30),
            ("SlipperyCliff", "cliff", 0.1, 30),
            ("FourRooms", "four_rooms", 0.0, 100),
        )
    ),
    EnvironmentInfo(
        "workbench/GridLevels-v0",
        "procedurally generated 9x9 grid mazes, a level = a seed or a layout (PLR, ACCEL), "
        "reward 1 - 0.9 t/T at the goal, 81 steps",
        "environments.grid_levels:GridLevelsEnv",
        81,
    ),
    EnvironmentInfo(
        "workbench/WallGap-v0",
        "point crosses a wall through a gap (centre, width: the task) to a goal, "
        "reward_mode goal|dense|geodesic, 100 steps",
        "environments.wall_gap:WallGapEnv",
        100,
    ),
)


def register_environments() -> None:
    """Register :data:`ENVIRONMENTS` with gymnasium (idempotent)."""
    for info in ENVIRONMENTS:
        if info.id in gym.registry:
            continue
        gym.register(
            id=info.id,
            entry_point=info.entry_point,
            vector_entry_point=info.vector_entry_point,
            max_episode_steps=info.max_episode_steps,
            kwargs=dict(info.kwargs),
        )


register_environments()

__all__ = [
    "ENVIRONMENTS",
    "GRID_LAYOUTS",
    "LAYOUTS",
    "EnvironmentInfo",
    "GeodesicOracle",
    "GoalDistanceField",
    "GridWorldEnv",
    "GridWorldMDP",
    "LayoutError",
    "MazeLayout",
    "PlaneEnv",
    "PointEnv",
    "PointMazeEnv",
    "PointTask",
    "PointVectorEnv",
    "TabularEnv",
    "TabularMDP",
    "get_layout",
    "gridworld",
    "parse_layout",
    "register_environments",
]
