"""The gaps of ``workbench/WallGap-v0`` as a continuous task family: the task is the gap
(centre, width) the point has to cross the wall through.

The task space holds easy tasks (wide gaps in the middle: walk straight), hard ones (narrow
gaps, gaps near a corner: a detour) and impossible ones (width near 0: a closed wall), so
a teacher that follows learning progress has something to find and something to avoid.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from environments.wall_gap import GAP_HIGH, GAP_LOW
from workbench.curricula.base import TaskBox

ENV_ID = "workbench/WallGap-v0"


class WallGaps:
    """Tasks ``(gap centre, gap width)`` over the box of possible gaps."""

    env_id = ENV_ID

    def __init__(self) -> None:
        self.box = TaskBox(GAP_LOW, GAP_HIGH, names=("gap centre", "gap width"))

    def options_of(self, task: np.ndarray) -> dict[str, Any]:
        """Reset options that play ``task``."""
        return {"gap": np.clip(np.asarray(task, dtype=np.float64), self.box.low, self.box.high)}

    def test_tasks(self, count: int) -> np.ndarray:
        """A fixed test set: a grid of about ``count`` gaps over the box (centres along the
        wall, widths from closed to the widest), row by row."""
        side = max(2, round(np.sqrt(count)))
        centres = np.linspace(self.box.low[0], self.box.high[0], side)
        widths = np.linspace(self.box.low[1], self.box.high[1], side)
        grid = np.stack(np.meshgrid(centres, widths), axis=-1).reshape(-1, 2)
        return grid
