"""The maze through phi: a HILP run's representation of a dense grid of free states."""

from __future__ import annotations

import holoviews as hv
import numpy as np

from widgets.common.plotting import non_finite, position_colors, to_2d, to_hex
from widgets.common.snapshot import SnapshotView


class HilbertMap(SnapshotView):
    """phi of a dense grid of free states, coloured by true position (PCA above 2-D): a
    good Hilbert representation straightens the maze."""

    snapshot_name = "hilbert"

    @staticmethod
    def problem(data: dict[str, np.ndarray]) -> str | None:
        return non_finite(data, ("phi_grid",))

    @staticmethod
    def _points(data: dict[str, np.ndarray] | None) -> hv.Points:
        grid, colors = np.zeros((0, 2)), []
        if data is not None:
            grid = to_2d(data["phi_grid"])
            colors = [to_hex(c) for c in position_colors(data["grid"])]
        return hv.Points(
            {"u": grid[:, 0], "v": grid[:, 1], "color": colors}, ["u", "v"], "color"
        ).opts(color="color", size=4, alpha=0.85)

    def _figure(self) -> hv.DynamicMap:
        return hv.DynamicMap(self._points, streams=[self._pipe]).opts(
            frame_width=self.size, frame_height=self.size, toolbar=None, framewise=True,
            title="phi(s), coloured by position",
        )  # fmt: skip
