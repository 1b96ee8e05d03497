"""ACCEL (Parker-Holder et al. 2022, "Evolving Curricula with Regret-Based Environment
Design"): robust PLR whose replayed levels are edited, the edits joining the buffer by
their score.

Levels here are layouts, not seeds: :class:`environments.grid_levels.Level` values (they
hash by layout; ``Level.encode()`` stores one as plain integers in a checkpoint). Each time
a replayed level has been scored, a copy of it with ``num_edits`` random changes (a wall
added or removed, or the goal moved; the goal always stays reachable) is queued; the next
:meth:`ACCEL.sample` hands it out with ``last_sample_kind == "edit"``. Like a new level,
an edited one is played without a gradient step (:meth:`should_train` is False) and
:meth:`update` puts it in the buffer if it scores high enough. Replays are drawn from P,
which favours high scores, so the levels edited are mostly the high-regret ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from environments.grid_levels import (
    DEFAULT_SIZE,
    GOAL_CELL,
    HELD_OUT_START,
    START_CELL,
    Level,
    LevelError,
    edit_level,
    generate_level,
    level_from_seed,
)
from workbench.curricula.base import CurriculumError
from workbench.curricula.plr import RobustPLR, _choice, _unit_interval

NEW_LEVEL_KINDS = ("random", "empty")


class ACCEL(RobustPLR):
    """Robust PLR plus edits of replayed levels (arguments as :class:`RobustPLR`, plus):

    Args:
        num_edits: changes per edit (hot). jaxued's maze setting: 5.
        goal_move_prob: chance that a change moves the goal instead of toggling a wall.
        level_size: interior cells per side of the levels (the env's ``size``).
        new_levels: ``random``: new levels are generated from fresh training seeds, as
            PLR's; ``empty``: rooms without walls (start and goal from the seed), which
            the paper's maze runs begin from so that edits build the complexity.
    """

    name: ClassVar[str] = "accel"

    def __init__(
        self,
        seed: int = 0,
        *,
        num_edits: int = 5,
        goal_move_prob: float = 0.1,
        level_size: int = DEFAULT_SIZE,
        new_levels: str = "random",
        levels: int | Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        self.num_edits = num_edits
        self.goal_move_prob = _unit_interval("goal_move_prob", goal_move_prob)
        if int(level_size) < 2:
            raise CurriculumError(f"level_size must be >= 2, got {level_size}")
        self.level_size = int(level_size)
        self.new_levels = _choice("new_levels", new_levels, NEW_LEVEL_KINDS)
        self._edit_queue: list[Level] = []
        super().__init__(seed, levels=levels, **kwargs)

    @property
    def num_edits(self) -> int:
        return self._num_edits

    @num_edits.setter
    def num_edits(self, value: int) -> None:
        if isinstance(value, bool) or int(value) != value or int(value) < 0:
            raise CurriculumError(f"num_edits must be an integer >= 0, got {value!r}")
        self._num_edits = int(value)

    # -- levels are layouts ---------------------------------------------------------------------

    def _generate(self, seed: int) -> Level:
        if self.new_levels == "empty":
            return generate_level(seed, self.level_size, max_wall_density=0.0)
        return level_from_seed(seed, self.level_size)

    def _resolve_levels(self, levels: int | Sequence[int] | None) -> list[Any] | None:
        seeds = super()._resolve_levels(levels)
        return None if seeds is None else [self._generate(seed) for seed in seeds]

    def check_level(self, level: Any) -> Level:
        """Integer seeds are PLR's levels; ACCEL's are :class:`Level` layouts."""
        if not isinstance(level, Level):
            raise CurriculumError(
                f"accel levels are environments.grid_levels.Level layouts; got "
                f"{type(level).__name__} {level!r}"
            )
        if level.size != self.level_size:
            raise CurriculumError(
                f"level {level!r} is {level.size}x{level.size}; this teacher's levels are "
                f"{self.level_size}x{self.level_size}"
            )
        return level

    def _new_level(self) -> Level:
        if self.training_levels is not None:
            return super()._new_level()
        while True:
            level = self._generate(int(self.rng.integers(0, HELD_OUT_START)))
            if level not in self._slot:
                return level

    def _encode(self, level: Level) -> list[int]:
        return level.encode()

    def _decode(self, code: Any) -> Level:
        try:
            return Level.decode(code)
        except LevelError as error:
            raise CurriculumError(f"checkpoint holds a bad level: {error}") from None

    def _levels_snapshot(self) -> dict[str, np.ndarray]:
        size, count = self.level_size, len(self._levels)
        # All layouts at once: their wall bytes joined, then start and goal codes set.
        joined = b"".join(level.walls for level in self._levels)
        grids = np.frombuffer(joined, dtype=np.uint8).reshape(count, size * size).copy()
        rows = np.arange(count)
        grids[rows, [level.start for level in self._levels]] = START_CELL
        grids[rows, [level.goal for level in self._levels]] = GOAL_CELL
        grids = grids.reshape(count, size, size)
        return {
            "levels": grids,  # cell codes of Level.grid(): free 0, wall 1, start 2, goal 3
            "level_seeds": np.array(
                [-1 if level.seed is None else level.seed for level in self._levels],
                dtype=np.int64,
            ),
            "edited": np.array([level.seed is None for level in self._levels], dtype=bool),
            "optimal_steps": np.array([lv.optimal_steps for lv in self._levels], dtype=np.int64),
        }

    # -- editing ------------------------------------------------------------------------------

    def _choose(self) -> tuple[Any, str]:
        if self._edit_queue:
            return self._edit_queue.pop(0), "edit"
        return super()._choose()

    def _after_update(self, level: Any, kind: str) -> None:
        # A replayed level, just scored, is edited; the edit is played and scored next.
        if kind == "replay" and self.num_edits > 0:
            child = edit_level(level, self.rng, self.num_edits, self.goal_move_prob)
            self._edit_queue.append(child)

    # -- checkpoints ----------------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        return {
            **super()._config(),
            "num_edits": self.num_edits,
            "goal_move_prob": self.goal_move_prob,
            "level_size": self.level_size,
            "new_levels": self.new_levels,
        }

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "edit_queue": [lv.encode() for lv in self._edit_queue]}

    def _load_extra(self, config: dict[str, Any]) -> None:
        self.num_edits = config["num_edits"]
        self.goal_move_prob = _unit_interval("goal_move_prob", config["goal_move_prob"])
        self.level_size = int(config["level_size"])
        self.new_levels = _choice("new_levels", config["new_levels"], NEW_LEVEL_KINDS)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._edit_queue = [self._decode(code) for code in state["edit_queue"]]
