"""A point crosses a wall through a gap: a continuous task family for curriculum teachers.

The room is 6 x 4 units; a thin wall at ``x = 3`` splits it, open only on the gap
``|y - gap_centre| <= gap_width / 2``. The point starts at (1, 2) on the left and must reach
the goal disk at (5, 2) on the right, moving at most 0.2 per axis per step. A task is the
gap, ``(gap_centre, gap_width)``, set at each reset (``options={"gap": (centre, width)}``)
and part of the observation ``(x, y, gap_centre, gap_width)``, so one policy plays them all.

What makes it a curriculum problem: a wide gap in the middle is crossed by walking straight;
a gap near a corner needs a detour the student has to learn; a gap of width 0 is a closed
wall (no task there can be learned), and very narrow ones are hard to thread. Like
teachDeepRL's parameterized walkers, the space holds easy, hard and impossible regions.

Rewards (``reward_mode``): ``goal`` (1 on reaching the goal, which ends the episode),
``dense`` (minus the straight-line distance to the goal: on a gap far from the middle its
maximum is the wall right in front of the goal, a trap) and ``geodesic`` (minus the length
of the shortest path through the gap: no trap). Every mode reports ``info["is_success"]``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from environments.rendering import AGENT, FLOOR, GOAL, GRID_LINE, WALL, draw_disk

ROOM_WIDTH, ROOM_HEIGHT = 6.0, 4.0
WALL_X = 3.0
START = np.array([1.0, 2.0])
GOAL_POINT = np.array([5.0, 2.0])
GOAL_RADIUS = 0.5
MAX_ACTION = 0.2
# Where the gap may be: its centre inside the wall, its width up to 1.5 (0 closes it).
GAP_LOW = np.array([0.25, 0.0])
GAP_HIGH = np.array([3.75, 1.5])
# Distance kept between the point and the wall (or the room's edge) it runs into.
MARGIN = 1e-4
REWARD_MODES = ("goal", "dense", "geodesic")
_PIXELS_PER_UNIT = 32


def check_gap(gap: Any) -> np.ndarray:
    """``gap`` as (centre, width), or a ValueError naming what is wrong."""
    values = np.asarray(gap, dtype=np.float64).reshape(-1)
    if values.size != 2 or not np.all(np.isfinite(values)):
        raise ValueError(f"gap must be two finite numbers (centre, width), got {gap!r}")
    if not np.all((values >= GAP_LOW) & (values <= GAP_HIGH)):
        raise ValueError(
            f"gap {values.tolist()} is outside the task space: centre in "
            f"[{GAP_LOW[0]}, {GAP_HIGH[0]}], width in [{GAP_LOW[1]}, {GAP_HIGH[1]}]"
        )
    return values


def move(positions: np.ndarray, actions: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """New positions (N, 2) after ``actions`` (N, 2) with each copy's gap (N, 2): a move
    that crosses the wall outside the gap stops at the wall (its y still moves); the room's
    edges stop the point too."""
    new = positions + np.clip(actions, -MAX_ACTION, MAX_ACTION)
    left_before, left_after = positions[:, 0] < WALL_X, new[:, 0] < WALL_X
    crosses = left_before != left_after
    # The y where the straight move meets the wall's line.
    before, after = positions[:, 0] - WALL_X, new[:, 0] - WALL_X
    fraction = np.divide(before, before - after, out=np.zeros_like(before), where=crosses)
    y_at_wall = positions[:, 1] + fraction * (new[:, 1] - positions[:, 1])
    through = np.abs(y_at_wall - gaps[:, 0]) < gaps[:, 1] / 2  # width 0: closed
    blocked = crosses & ~through
    stop = np.where(left_before, WALL_X - MARGIN, WALL_X + MARGIN)
    new[:, 0] = np.where(blocked, stop, new[:, 0])
    new[:, 0] = np.clip(new[:, 0], MARGIN, ROOM_WIDTH - MARGIN)
    new[:, 1] = np.clip(new[:, 1], MARGIN, ROOM_HEIGHT - MARGIN)
    return new


def geodesic_distance(positions: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """Length of the shortest path from each position (N, 2) to the goal through its gap.

    On the goal's side it is the straight line. From the other side the path bends at one
    point of the gap: the length is convex along the wall, so the best point is where the
    straight line to the goal meets the wall, clipped into the gap.
    """
    straight = np.linalg.norm(positions - GOAL_POINT, axis=1)
    dx = GOAL_POINT[0] - positions[:, 0]
    fraction = np.divide(WALL_X - positions[:, 0], dx, out=np.zeros_like(dx), where=dx != 0)
    y_line = positions[:, 1] + fraction * (GOAL_POINT[1] - positions[:, 1])
    half = gaps[:, 1] / 2
    y_gap = np.clip(y_line, gaps[:, 0] - half, gaps[:, 0] + half)
    via = np.stack([np.full(len(positions), WALL_X), y_gap], axis=1)
    bent = np.linalg.norm(positions - via, axis=1) + np.linalg.norm(via - GOAL_POINT, axis=1)
    return np.where(positions[:, 0] >= WALL_X, straight, bent)


class WallGapEnv(gym.Env[np.ndarray, np.ndarray]):
    """Cross the wall through a gap to reach the goal; the gap is the task.

    Args:
        reward_mode: ``goal``, ``dense`` or ``geodesic`` (see the module's docstring).
        gap: the gap (centre, width) when a reset names none.
        render_mode: ``rgb_array`` or None.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(
        self,
        reward_mode: str = "geodesic",
        gap: tuple[float, float] = (2.0, 1.0),
        render_mode: str | None = None,
    ) -> None:
        if reward_mode not in REWARD_MODES:
            raise ValueError(
                f"reward_mode must be one of {', '.join(map(repr, REWARD_MODES))}, "
                f"got {reward_mode!r}"
            )
        self.reward_mode = reward_mode
        self.default_gap = check_gap(gap)
        self.render_mode = render_mode
        self.observation_space = spaces.Box(
            low=np.array([0.0, 0.0, GAP_LOW[0], GAP_LOW[1]], dtype=np.float32),
            high=np.array([ROOM_WIDTH, ROOM_HEIGHT, GAP_HIGH[0], GAP_HIGH[1]], dtype=np.float32),
        )
        self.action_space = spaces.Box(-MAX_ACTION, MAX_ACTION, shape=(2,), dtype=np.float32)
        self.gap = self.default_gap.copy()
        self.position = START.copy()
        self.goal = GOAL_POINT.copy()  # the point envs' attribute, for views and wrappers

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        gap = (options or {}).get("gap")
        self.gap = self.default_gap.copy() if gap is None else check_gap(gap)
        self.position = START.copy()
        return self._observe(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = np.asarray(action, dtype=np.float64).reshape(1, 2)
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action must be finite, got {action.ravel().tolist()}")
        self.position = move(self.position[None], action, self.gap[None])[0]
        distance = float(np.linalg.norm(self.position - GOAL_POINT))
        success = distance <= GOAL_RADIUS
        if self.reward_mode == "goal":
            reward = float(success)
        elif self.reward_mode == "dense":
            reward = -distance
        else:
            reward = -float(geodesic_distance(self.position[None], self.gap[None])[0])
        terminated = success and self.reward_mode == "goal"
        return self._observe(), reward, terminated, False, {"is_success": success}

    def _observe(self) -> np.ndarray:
        return np.concatenate([self.position, self.gap]).astype(np.float32)

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return draw_wall_gap(self.gap, self.position)


def draw_wall_gap(gap: np.ndarray, position: np.ndarray | None = None) -> np.ndarray:
    """RGB picture of the room with its gap, the goal and (optionally) the point."""
    scale = _PIXELS_PER_UNIT
    height, width = int(ROOM_HEIGHT * scale), int(ROOM_WIDTH * scale)
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = FLOOR
    image[::scale, :] = GRID_LINE
    image[:, ::scale] = GRID_LINE
    rows_y = ROOM_HEIGHT - (np.arange(height) + 0.5) / scale  # world y of each pixel row
    closed = np.abs(rows_y - gap[0]) >= gap[1] / 2
    column = int(WALL_X * scale)
    image[closed, column - 2 : column + 2] = WALL
    draw_disk(image, tuple(GOAL_POINT), GOAL_RADIUS * scale, GOAL, (0.0, 0.0), scale)
    if position is not None:
        draw_disk(image, tuple(position), 4, AGENT, (0.0, 0.0), scale)
    return image
