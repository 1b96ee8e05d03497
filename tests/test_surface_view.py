"""The reward-surface view: points stream into the heat map, and a finished surface gets its
level lines."""

from __future__ import annotations

import numpy as np
import pytest

from widgets import LiveSession
from widgets.common.surface_view import CONTOUR_LEVELS, SurfaceView
from workbench.landscapes.surfaces import SurfaceResult
from workbench.runs import Run, RunStore


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


def test_an_emptied_field_is_refused_by_name_and_a_flat_line_keeps_a_readable_axis(tmp_path):
    store = RunStore(tmp_path)
    run = Run.create("sb3", store=store, total_timesteps=1_000)
    view = SurfaceView(LiveSession(store), run_id=run.id)
    view.grid_input.value = None  # what a cleared number box holds
    view.compute()
    assert view.status.value == "refused: grid is empty; enter a number from 3 to 41"
    assert not view._busy and not view.compute_button.disabled  # no job was started
    view.grid_input.value, view.episodes_input.value = 11, None
    view.compute_line()
    assert view.status.value.startswith("refused: episodes is empty")
    flat = np.full(21, -300.0)
    view._draw_line(
        SurfaceResult(np.linspace(0, 1, 21)[:, None], flat, np.zeros(21), episodes=4, seed=0)
    )
    y_range = view.line_figure.y_range
    assert y_range.end - y_range.start == pytest.approx(0.33)  # a thousandth, and a margin
    assert y_range.start < -300.0 < y_range.end
    x_range = view.line_figure.x_range  # the whole line, with a margin
    assert x_range.start < 0.0 and 1.0 < x_range.end < 1.1
    assert "No cliff" in view.line_verdict.object
