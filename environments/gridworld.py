"""Grid worlds from ASCII layouts, as exact :class:`TabularMDP` models.

Characters: ``#`` wall, ``.`` free, ``S`` start (exactly one), ``G`` goal (reward on
entry, then the episode ends), ``L`` lava (``trap_reward`` on entry, then the episode ends).

Actions: 0 up (+y), 1 right (+x), 2 down (-y), 3 left (-x). A move into a wall stays put.
Slippery variant: with probability ``slip`` the move goes in one of the two perpendicular
directions instead (``slip / 2`` each), as in FrozenLake; ``slip = 0`` is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from environments.maze import LAYOUTS, LayoutError, check_reachable, read_ascii_grid, to_world
from environments.rendering import AGENT, GOAL, TRAP, draw_cells, draw_disk
from environments.tabular import TabularEnv, TabularMDP

GRID_LAYOUTS: dict[str, str] = {
    "empty": """
#######
#S....#
#.....#
#.....#
#.....#
#....G#
#######
""",
    # Sutton and Barto's cliff walk, shortened: the short path runs along the lava.
    "cliff": """
##########
#........#
#........#
#........#
#SLLLLLLG#
##########
""",
    "four_rooms": LAYOUTS["four_rooms"],
}

_CHARS = {"#": "wall", ".": "free", "S": "start", "G": "goal", "L": "lava"}
# (dx, dy) of actions up, right, down, left.
ACTION_MOVES = np.array([[0, 1], [1, 0], [0, -1], [-1, 0]])
ACTION_NAMES = ("up", "right", "down", "left")
_PIXELS_PER_CELL = 32


@dataclass
class GridWorldMDP(TabularMDP):
    """A :class:`TabularMDP` that remembers its grid: ``cells[s]`` is the (ix, iy) cell of
    state ``s`` and ``free[ix, iy]`` the non-wall cells (y upwards)."""

    free: np.ndarray | None = None
    cells: np.ndarray | None = None
    goal_cells: np.ndarray | None = None
    trap_cells: np.ndarray | None = None
    slip: float = 0.0
    name: str = "custom"

    def state_of(self, cell: tuple[int, int]) -> int:
        """The state index of cell (ix, iy)."""
        assert self.cells is not None
        match = np.flatnonzero((self.cells == np.asarray(cell)).all(axis=1))
        if not len(match):
            raise ValueError(f"cell {tuple(cell)} is a wall or outside grid world {self.name!r}")
        return int(match[0])

    def render_state(self, state: int) -> np.ndarray:
        """RGB picture of the grid with the agent in ``state``."""
        assert self.free is not None and self.cells is not None
        height = self.free.shape[1]
        colors = {int(ix * height + iy): TRAP for ix, iy in self.trap_cells}
        colors |= {int(ix * height + iy): GOAL for ix, iy in self.goal_cells}
        image = draw_cells(self.free, _PIXELS_PER_CELL, colors)
        centre = tuple(self.cells[state] + 0.5)
        draw_disk(image, centre, 0.3 * _PIXELS_PER_CELL, AGENT, (0, 0), _PIXELS_PER_CELL)
        return image


def gridworld(
    layout: str = "empty",
    slip: float = 0.0,
    horizon: int | None = None,
    goal_reward: float = 1.0,
    trap_reward: float = -1.0,
    step_reward: float = 0.0,
) -> GridWorldMDP:
    """Build the exact MDP of a grid world.

    Args:
        layout: a name from :data:`GRID_LAYOUTS` or an ASCII layout (module docstring).
        slip: probability that a move goes sideways instead, in [0, 1).
        horizon: episode length; default: the number of non-wall cells.
        goal_reward: reward for entering a goal cell.
        trap_reward: reward for entering a lava cell.
        step_reward: reward added to every move from a non-terminal state.
    """
    if "\n" in layout:
        name, text = "custom", layout
    elif layout in GRID_LAYOUTS:
        name, text = layout, GRID_LAYOUTS[layout]
    else:
        raise LayoutError(f"unknown grid world layout {layout!r}; known: {', '.join(GRID_LAYOUTS)}")
    if not 0.0 <= slip < 1.0:
        raise ValueError(f"slip must be in [0, 1), got {slip!r}")
    world = to_world(read_ascii_grid(text, name, _CHARS))
    free = world != "#"
    goal, trap = world == "G", world == "L"
    if not goal.any():
        raise LayoutError(f"layout {name!r} has no goal: mark at least one cell with 'G'")
    # Episodes end on entering lava, so a goal counts as reachable only around it.
    check_reachable(name, world, free & ~trap, goal, "goal cell(s)")

    cells = np.argwhere(free)
    num_states = len(cells)
    state_of = np.full(world.shape, -1, dtype=np.int64)
    state_of[free] = np.arange(num_states)
    terminal = (goal | trap)[tuple(cells.T)]

    # Next state of every (state, direction) for a deterministic move.
    targets = cells[:, None, :] + ACTION_MOVES[None, :, :]
    inside = (
        (targets[..., 0] >= 0)
        & (targets[..., 0] < world.shape[0])
        & (targets[..., 1] >= 0)
        & (targets[..., 1] < world.shape[1])
    )
    clipped = np.where(inside[..., None], targets, 0)
    open_ = inside & free[clipped[..., 0], clipped[..., 1]]
    moved = np.where(
        open_, state_of[clipped[..., 0], clipped[..., 1]], np.arange(num_states)[:, None]
    )

    # Direction taken by action a: a itself, or a perpendicular one when slipping.
    direction_probs = np.zeros((4, 4))
    for a in range(4):
        direction_probs[a, a] += 1.0 - slip
        direction_probs[a, (a + 1) % 4] += slip / 2
        direction_probs[a, (a + 3) % 4] += slip / 2
    transitions = np.zeros((num_states, 4, num_states))
    for d in range(4):
        np.add.at(
            transitions,
            (np.arange(num_states)[:, None], np.arange(4)[None, :], moved[:, d][:, None]),
            direction_probs[None, :, d],
        )
    # Terminal states are absorbing.
    terminal_states = np.flatnonzero(terminal)
    transitions[terminal_states] = 0.0
    transitions[terminal_states, :, terminal_states] = 1.0

    entry_reward = np.full(num_states, step_reward)
    entry_reward[goal[tuple(cells.T)]] += goal_reward
    entry_reward[trap[tuple(cells.T)]] += trap_reward
    transition_rewards = np.broadcast_to(entry_reward, transitions.shape).copy()
    transition_rewards[terminal] = 0.0
    rewards = (transitions * transition_rewards).sum(axis=2)

    start = np.zeros(num_states)
    start[state_of[tuple(np.argwhere(world == "S")[0])]] = 1.0
    return GridWorldMDP(
        transitions=transitions,
        rewards=rewards,
        start=start,
        horizon=num_states if horizon is None else horizon,
        terminal=terminal,
        transition_rewards=transition_rewards,
        state_names=[f"({ix}, {iy})" for ix, iy in cells],
        free=free,
        cells=cells,
        goal_cells=np.argwhere(goal),
        trap_cells=np.argwhere(trap),
        slip=slip,
        name=name,
    )


class GridWorldEnv(TabularEnv):
    """A gymnasium environment sampling a grid world (arguments as :func:`gridworld`)."""

    def __init__(
        self,
        layout: str = "empty",
        slip: float = 0.0,
        horizon: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(gridworld(layout, slip=slip, horizon=horizon), render_mode=render_mode)
