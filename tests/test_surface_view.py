"""The reward-surface view: points stream into the heat map, and a finished surface gets its
level lines."""

from __future__ import annotations

import numpy as np

from widgets import LiveSession
from widgets.common.surface_view import CONTOUR_LEVELS, SurfaceView
from workbench.runs import RunStore


def _fill(view: SurfaceView, grid: int, surface, indices) -> None:
    """Hand the view the mean returns of ``indices`` as its computing thread does."""
    axis = view._axis
    with view._lock:
        view._arrived = [(i, float(surface(axis[i // grid], axis[i % grid])), 0.0) for i in indices]
    view.refresh()


def test_a_finished_surface_gets_level_lines_along_its_level_sets(tmp_path):
    view = SurfaceView(LiveSession(RunStore(tmp_path)))
    grid = 9
    view._start_grid(grid, 1.0, None)

    def surface(a, b):  # the return grows with a only: its level lines are vertical
        return 10.0 * a

    _fill(view, grid, surface, range(grid * grid - 1))
    assert view.contours.data["xs"] == []  # a grid with a hole has no level lines yet
    _fill(view, grid, surface, [grid * grid - 1])
    lines = view.contours.data
    assert len(lines["xs"]) == CONTOUR_LEVELS
    for xs, ys, level in zip(lines["xs"], lines["ys"], lines["level"], strict=True):
        assert np.allclose(10.0 * np.asarray(xs), level)  # on its level set: a = level / 10
        assert np.ptp(ys) > 1.5  # across the whole plane, along b
    # A new grid clears them.
    view._start_grid(grid, 1.0, None)
    assert view.contours.data["xs"] == []
