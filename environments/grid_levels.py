"""Procedurally generated grid mazes: the discrete level family of level-replay curricula.

A *level* is a small square room of ``size`` x ``size`` cells (inside an implicit border
wall) holding walls, a start and a goal. It is generated from an integer seed, or given
directly as a layout so a teacher can edit it (ACCEL adds or removes walls and moves the
goal). Generated levels are always solvable; their difficulty varies widely because the
wall density and the start and goal cells are drawn per level: some goals are a step away
in an open room, others at the end of a long winding path.

Cells are addressed in text order, row 0 at the top: a flat index ``row * size + column``.
Actions: 0 up, 1 right, 2 down, 3 left (one cell); a move into a wall or the border stays
put. Reward: ``1 - 0.9 * steps / max_steps`` on reaching the goal (as MiniGrid's and the
PLR papers' mazes), then the episode ends; 0 otherwise. Observation: a flat ``float32``
vector suited to SB3's ``MlpPolicy``: by default the walls and the goal seen from the agent
(a window centred on it, large enough to show the whole room wherever the agent stands),
or the room as three channels (walls, agent, goal).

Seeds ``0 .. HELD_OUT_START - 1`` are training levels, seeds from :data:`HELD_OUT_START`
on are held out for testing (:func:`training_levels`, :func:`held_out_levels`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import gymnasium as gym
import numpy as np

from environments.rendering import AGENT, FLOOR, GOAL, WALL

DEFAULT_SIZE = 9  # interior cells per side: a 9 x 9 room (11 x 11 with its border)
MAX_WALL_DENSITY = 0.5  # a generated level's wall density is uniform in [0, this)
HELD_OUT_START = 2**30  # first held-out seed; training seeds lie below it
PIXELS_PER_CELL = 8  # render(): an 88 x 88 picture for the default size
ACTION_NAMES = ("up", "right", "down", "left")
OBSERVATIONS = ("egocentric", "grid")
_ROW_COL_MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))  # (d_row, d_column) of each action
_START_COLOR = np.array([170, 200, 240], dtype=np.uint8)

# Codes of Level.grid(): one byte per cell.
FREE, WALL_CELL, START_CELL, GOAL_CELL = 0, 1, 2, 3
_TEXT = {FREE: ".", WALL_CELL: "#", START_CELL: "S", GOAL_CELL: "G"}


class LevelError(ValueError):
    """A level that is not a valid layout: the message names what is wrong."""


@lru_cache(maxsize=16)
def _neighbour_table(size: int) -> tuple[tuple[int, ...], ...]:
    """For every cell, the cell each action moves to in an empty room (itself at the border)."""
    table = []
    for cell in range(size * size):
        row, col = divmod(cell, size)
        moves = []
        for d_row, d_col in _ROW_COL_MOVES:
            r, c = row + d_row, col + d_col
            moves.append(r * size + c if 0 <= r < size and 0 <= c < size else cell)
        table.append(tuple(moves))
    return tuple(table)


def shortest_path_length(size: int, walls: bytes | bytearray, start: int, goal: int) -> int:
    """Fewest moves from ``start`` to ``goal`` (breadth-first search), -1 when unreachable."""
    neighbours = _neighbour_table(size)
    distance = {start: 0}
    frontier = deque([start])
    while frontier:
        cell = frontier.popleft()
        if cell == goal:
            return distance[cell]
        for nxt in neighbours[cell]:
            if nxt not in distance and not walls[nxt]:
                distance[nxt] = distance[cell] + 1
                frontier.append(nxt)
    return -1


@dataclass(frozen=True)
class Level:
    """One maze: ``walls`` holds one byte per cell (1 = wall), ``start`` and ``goal`` are
    flat cell indices. Levels compare and hash by layout; ``seed`` (the seed that generated
    the level, ``None`` for a hand-made or edited one) is carried along but not compared."""

    size: int
    walls: bytes
    start: int
    goal: int
    seed: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        cells = self.size * self.size
        if self.size < 2:
            raise LevelError(f"a level needs size >= 2, got {self.size}")
        if len(self.walls) != cells:
            raise LevelError(
                f"a size-{self.size} level needs {cells} wall bytes, got {len(self.walls)}"
            )
        if not set(self.walls) <= {0, 1}:
            raise LevelError("a level's wall bytes must be 0 (free) or 1 (wall)")
        for what, cell in (("start", self.start), ("goal", self.goal)):
            if not 0 <= cell < cells:
                raise LevelError(
                    f"the {what} cell {cell} is outside the {self.size}x{self.size} room"
                )
            if self.walls[cell]:
                raise LevelError(f"the {what} cell {divmod(cell, self.size)} is a wall")
        if self.start == self.goal:
            raise LevelError(f"start and goal are the same cell {divmod(self.start, self.size)}")

    def __repr__(self) -> str:
        start, goal = divmod(self.start, self.size), divmod(self.goal, self.size)
        return (
            f"Level(size={self.size}, walls={self.num_walls}, start={start}, goal={goal}, "
            f"seed={self.seed})"
        )

    # -- construction and encoding ------------------------------------------------------

    @classmethod
    def from_seed(cls, seed: int, size: int = DEFAULT_SIZE) -> Level:
        """The level generated from ``seed`` (cached: the same object for the same seed)."""
        return level_from_seed(int(seed), int(size))

    @classmethod
    def from_text(cls, text: str) -> Level:
        """A level from square ASCII text: ``#`` wall, ``.`` free, one ``S`` and one ``G``."""
        rows = [row.strip() for row in text.strip().splitlines() if row.strip()]
        size = len(rows)
        if any(len(row) != size for row in rows):
            raise LevelError(f"level text must be square; row lengths {[len(r) for r in rows]}")
        flat = "".join(rows)
        unknown = set(flat) - set("#.SG")
        if unknown:
            raise LevelError(f"level text has unknown characters {sorted(unknown)}; use # . S G")
        if flat.count("S") != 1 or flat.count("G") != 1:
            raise LevelError("level text needs exactly one 'S' and one 'G'")
        walls = bytes(1 if char == "#" else 0 for char in flat)
        return cls(size, walls, flat.index("S"), flat.index("G"))

    def encode(self) -> list[int]:
        """Plain integers: ``[size, start, goal, seed or -1, *wall cells]``."""
        wall_cells = [cell for cell, wall in enumerate(self.walls) if wall]
        return [
            self.size,
            self.start,
            self.goal,
            -1 if self.seed is None else self.seed,
            *wall_cells,
        ]

    @classmethod
    def decode(cls, code: Sequence[int]) -> Level:
        """The level of :meth:`encode`'s list."""
        if len(code) < 4:
            raise LevelError(f"a level code needs at least 4 integers, got {list(code)}")
        size, start, goal, seed = (int(v) for v in code[:4])
        walls = bytearray(size * size)
        for cell in code[4:]:
            if not 0 <= int(cell) < size * size:
                raise LevelError(f"wall cell {cell} is outside the {size}x{size} room")
            walls[int(cell)] = 1
        return cls(size, bytes(walls), start, goal, None if seed < 0 else seed)

    # -- what a level looks like -----------------------------------------------------------

    def grid(self) -> np.ndarray:
        """Cell codes ``(size, size)`` uint8: FREE 0, WALL_CELL 1, START_CELL 2, GOAL_CELL 3."""
        grid = np.frombuffer(self.walls, dtype=np.uint8).copy()
        grid[self.start], grid[self.goal] = START_CELL, GOAL_CELL
        return grid.reshape(self.size, self.size)

    def to_text(self) -> str:
        return "\n".join("".join(_TEXT[int(v)] for v in row) for row in self.grid())

    @property
    def num_walls(self) -> int:
        return sum(self.walls)

    @cached_property
    def optimal_steps(self) -> int:
        """Fewest moves from start to goal, -1 when the goal cannot be reached."""
        return shortest_path_length(self.size, self.walls, self.start, self.goal)

    @property
    def solvable(self) -> bool:
        return self.optimal_steps > 0

    @cached_property
    def next_cell(self) -> tuple[tuple[int, ...], ...]:
        """``next_cell[cell][action]``: where each action leads (walls block)."""
        return tuple(
            tuple(cell if self.walls[nxt] else nxt for nxt in moves)
            for cell, moves in enumerate(_neighbour_table(self.size))
        )


def generate_level(
    seed: int, size: int = DEFAULT_SIZE, max_wall_density: float = MAX_WALL_DENSITY
) -> Level:
    """The solvable level of ``seed``: a wall density uniform in [0, ``max_wall_density``),
    each cell a wall with that probability, start and goal two distinct cells; layouts whose
    goal cannot be reached are redrawn from the same generator, so the seed fixes the level
    (``max_wall_density=0`` gives empty rooms)."""
    rng = np.random.default_rng([int(seed), int(size)])
    cells = size * size
    while True:
        density = rng.uniform(0.0, max_wall_density)
        walls = rng.random(cells) < density
        start, goal = (int(v) for v in rng.choice(cells, size=2, replace=False))
        walls[[start, goal]] = False
        wall_bytes = walls.astype(np.uint8).tobytes()
        if shortest_path_length(size, wall_bytes, start, goal) > 0:
            return Level(size, wall_bytes, start, goal, int(seed))


@lru_cache(maxsize=8192)
def level_from_seed(seed: int, size: int = DEFAULT_SIZE) -> Level:
    """:func:`generate_level`, cached (a curriculum replays the same seeds many times)."""
    return generate_level(seed, size)


def training_levels(n: int, seed: int = 0) -> list[int]:
    """``n`` distinct training seeds (below :data:`HELD_OUT_START`), drawn by ``seed``."""
    if n < 0:
        raise ValueError(f"the number of training levels must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    chosen: dict[int, None] = {}
    while len(chosen) < n:
        for value in rng.integers(0, HELD_OUT_START, size=n - len(chosen)).tolist():
            chosen.setdefault(int(value))
    return list(chosen)[:n]


def held_out_levels(n: int) -> list[int]:
    """The first ``n`` held-out seeds: never among :func:`training_levels`."""
    return list(range(HELD_OUT_START, HELD_OUT_START + n))


def edit_level(
    level: Level,
    rng: np.random.Generator,
    num_edits: int = 1,
    goal_move_prob: float = 0.1,
    keep_solvable: bool = True,
) -> Level:
    """ACCEL's level edit: ``num_edits`` changes, each either a wall added or removed at a
    random cell or (with probability ``goal_move_prob``, at most once) the goal moved to a
    random free cell. Every edit touches a different cell, so the result differs from
    ``level`` in exactly ``num_edits`` cells' walls or goal (fewer only when no cell is left
    to edit). With ``keep_solvable`` an edit that would cut the goal off is redrawn.

    Args:
        level: the level to edit (unchanged: levels are immutable).
        rng: the editing teacher's generator.
        num_edits: how many changes (>= 0).
        goal_move_prob: chance that an edit moves the goal instead of toggling a wall.
        keep_solvable: redraw edits that make the goal unreachable.
    """
    if num_edits < 0:
        raise LevelError(f"num_edits must be >= 0, got {num_edits}")
    size, cells = level.size, level.size * level.size
    walls, goal = bytearray(level.walls), level.goal
    touched = {level.start, level.goal}
    goal_moved = False
    for _ in range(num_edits):
        move_goal = not goal_moved and rng.random() < goal_move_prob
        candidates = [
            c for c in range(cells) if c not in touched and (not move_goal or not walls[c])
        ]
        rng.shuffle(candidates)
        for cell in candidates:
            if move_goal:
                new_walls, new_goal = walls, cell
            else:
                new_walls, new_goal = bytearray(walls), goal
                new_walls[cell] ^= 1
            if keep_solvable and shortest_path_length(size, new_walls, level.start, new_goal) < 0:
                continue
            walls, goal = new_walls, new_goal
            touched.add(cell)
            goal_moved |= move_goal
            break
    return Level(size, bytes(walls), level.start, goal)


class GridLevelsEnv(gym.Env):
    """Grid mazes, one level per episode.

    ``reset(options={"level": seed_or_Level})`` plays that level (a seed is generated with
    this env's ``size``); without options the level is drawn with the env's generator from
    its training set: ``num_levels`` seeds of :func:`training_levels` (``levels_seed``), or
    any training seed when ``num_levels`` is 0. ``info`` holds the level's ``level_seed``
    (-1 for a layout without one) and ``optimal_steps``; the last step's ``info`` says
    ``is_success`` (read by SB3's success rate).

    Args:
        size: interior cells per side.
        max_steps: episode length; default ``size * size`` (81 for 9 x 9: a random walk
            solves about a third of the levels in time).
        num_levels: training-set size for option-less resets; 0 = every training seed.
        levels_seed: the seed drawing that training set.
        observation: ``egocentric`` (default): walls and goal in a ``(2 size - 1)``-cell
            square window centred on the agent, everything outside the room a wall (two
            channels, ``2 (2 size - 1)^2`` values): the same situation looks the same
            wherever it is, so an MLP generalizes across levels; ``grid``: the room as
            three ``size x size`` channels (walls, agent, goal).
        render_mode: ``"rgb_array"`` or None.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(
        self,
        size: int = DEFAULT_SIZE,
        max_steps: int | None = None,
        num_levels: int = 0,
        levels_seed: int = 0,
        observation: str = "egocentric",
        render_mode: str | None = None,
    ) -> None:
        if size < 2:
            raise ValueError(f"size must be >= 2, got {size}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.size = int(size)
        self.max_steps = int(max_steps) if max_steps is not None else self.size * self.size
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.levels = training_levels(num_levels, levels_seed) if num_levels else None
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
        self.observation = observation
        self.render_mode = render_mode
        cells = self.size * self.size
        self._cells = cells
        self._window = 2 * self.size - 1  # egocentric window side
        if observation == "grid":
            shape = (3 * cells,)
            self._obs = np.zeros(shape, dtype=np.float32)  # walls | agent | goal channels
        else:
            shape = (2 * self._window * self._window,)
            # Walls and goal of the room padded by size - 1 cells on every side (padding is
            # wall): the window centred on cell (r, c) is rows r .. r + 2 size - 2.
            padded = self._window + self.size - 1
            self._padded = np.zeros((2, padded, padded), dtype=np.float32)
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=shape, dtype=np.float32)
        self.action_space = gym.spaces.Discrete(4)
        self.level: Level | None = None
        self._next_cell: tuple[tuple[int, ...], ...] = ()
        self._agent = 0
        self._steps = 0

    def _pick_level(self, level: Any) -> Level:
        if level is None:
            if self.levels is not None:
                level = self.levels[int(self.np_random.integers(len(self.levels)))]
            else:
                level = int(self.np_random.integers(0, HELD_OUT_START))
        if isinstance(level, Level):
            if level.size != self.size:
                raise LevelError(f"a size-{level.size} level given to a size-{self.size} env")
            return level
        if isinstance(level, (int, np.integer)) and not isinstance(level, bool) and level >= 0:
            return level_from_seed(int(level), self.size)
        raise LevelError(f"options['level'] must be a seed >= 0 or a Level, got {level!r}")

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.level = self._pick_level((options or {}).get("level"))
        self._next_cell = self.level.next_cell
        self._agent, self._steps = self.level.start, 0
        walls = np.frombuffer(self.level.walls, dtype=np.uint8)
        if self.observation == "grid":
            cells = self._cells
            self._obs[:] = 0.0
            self._obs[:cells] = walls
            self._obs[cells + self._agent] = 1.0
            self._obs[2 * cells + self.level.goal] = 1.0
        else:
            size, pad = self.size, self.size - 1
            self._padded[0] = 1.0
            self._padded[0, pad : pad + size, pad : pad + size] = walls.reshape(size, size)
            self._padded[1] = 0.0
            goal_row, goal_col = divmod(self.level.goal, size)
            self._padded[1, pad + goal_row, pad + goal_col] = 1.0
        return self._observe(), self._info()

    def _observe(self) -> np.ndarray:
        """The observation for the agent's current cell (a new array each time)."""
        if self.observation == "grid":
            return self._obs.copy()
        row, col = divmod(self._agent, self.size)
        window = self._window
        return self._padded[:, row : row + window, col : col + window].reshape(-1)

    def _info(self) -> dict[str, Any]:
        assert self.level is not None
        seed = -1 if self.level.seed is None else self.level.seed
        return {"level_seed": seed, "optimal_steps": self.level.optimal_steps}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.level is None:
            raise RuntimeError("call reset() before step()")
        if self.observation == "grid":
            self._obs[self._cells + self._agent] = 0.0
        self._agent = self._next_cell[self._agent][int(action)]
        if self.observation == "grid":
            self._obs[self._cells + self._agent] = 1.0
        self._steps += 1
        terminated = self._agent == self.level.goal
        truncated = not terminated and self._steps >= self.max_steps
        reward = 1.0 - 0.9 * self._steps / self.max_steps if terminated else 0.0
        info = {"is_success": terminated} if terminated or truncated else {}
        return self._observe(), reward, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self.level is None:
            return None
        return render_level(self.level, self._agent)


def render_level(
    level: Level, agent: int | None = None, pixels_per_cell: int = PIXELS_PER_CELL
) -> np.ndarray:
    """RGB picture ``(H, W, 3)`` uint8 of a level inside its border wall (numpy only): walls
    dark, goal green, start pale blue, the agent (default: at the start) red."""
    size = level.size
    colors = np.where(np.frombuffer(level.walls, dtype=np.uint8)[:, None] == 1, WALL, FLOOR)
    colors[level.start] = _START_COLOR
    colors[level.goal] = GOAL
    room = np.empty((size + 2, size + 2, 3), dtype=np.uint8)
    room[:] = WALL
    room[1:-1, 1:-1] = colors.reshape(size, size, 3)
    image = room.repeat(pixels_per_cell, axis=0).repeat(pixels_per_cell, axis=1)
    row, col = divmod(level.start if agent is None else agent, size)
    margin = max(1, pixels_per_cell // 4)
    top, left = (row + 1) * pixels_per_cell, (col + 1) * pixels_per_cell
    image[
        top + margin : top + pixels_per_cell - margin,
        left + margin : left + pixels_per_cell - margin,
    ] = AGENT
    return image
