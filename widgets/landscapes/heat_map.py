"""A heat map of values over a 2-D grid (a maze's positions, a plane of parameters), with an
optional path on top: one plain Bokeh figure whose data are swapped in place."""

from __future__ import annotations

import numpy as np
import panel as pn
import param
from bokeh.models import ColorBar, ColumnDataSource, LinearColorMapper, Range1d
from bokeh.palettes import Viridis256
from bokeh.plotting import figure as BokehFigure

WALL_COLOR = "#343a4a"  # NaN cells (inside walls): the maze's wall colour


class HeatMap(pn.viewable.Viewer):
    """``values[i, j]`` at ``(xs[j], ys[i])``, NaN drawn as wall; :meth:`show` replaces the
    data (and the colour range), :meth:`show_path` the path drawn over it."""

    title = param.String(default="", doc="Title above the map.")
    value_label = param.String(default="value", doc="Colour bar title.")
    x_label = param.String(default="", doc="Horizontal axis title ('' hides the axes).")
    y_label = param.String(default="", doc="Vertical axis title.")
    size = param.Integer(default=300, bounds=(100, 2000), doc="Plot width in pixels.")
    css_class = param.String(default="heat-map", doc="CSS class of the plot (for tests).")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.colors = LinearColorMapper(palette=Viridis256, low=0.0, high=1.0, nan_color=WALL_COLOR)
        self.image = ColumnDataSource(
            {"image": [np.zeros((1, 1))], "x": [0], "y": [0], "dw": [1], "dh": [1]}
        )
        self.path = ColumnDataSource({"x": [], "y": []})
        self.marks = ColumnDataSource({"x": [], "y": [], "color": []})
        figure = BokehFigure(
            title=self.title, frame_width=self.size, frame_height=self.size,
            toolbar_location=None, x_axis_label=self.x_label, y_axis_label=self.y_label,
            # Fixed ranges, set by show(): Bokeh's data ranges would follow the glyphs.
            x_range=Range1d(0, 1), y_range=Range1d(0, 1),
        )  # fmt: skip
        figure.image(image="image", x="x", y="y", dw="dw", dh="dh", source=self.image,
                     color_mapper=self.colors)  # fmt: skip
        figure.line("x", "y", source=self.path, color="white", line_width=2)
        figure.scatter("x", "y", source=self.marks, color="color", size=9, line_color="white")
        figure.add_layout(
            ColorBar(color_mapper=self.colors, title=self.value_label, width=10), "right"
        )
        figure.grid.visible = False
        if not self.x_label:
            figure.axis.visible = False
        self.figure = figure
        self.pane = pn.pane.Bokeh(css_classes=[self.css_class])
        self.pane.object = figure

    def show(self, values: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> None:
        """Draw ``values`` (H, W) over cell centres ``xs`` (W,) and ``ys`` (H,)."""
        values = np.asarray(values, dtype=np.float64)
        dx = float(xs[1] - xs[0]) if len(xs) > 1 else 1.0
        dy = float(ys[1] - ys[0]) if len(ys) > 1 else 1.0
        left, bottom = float(xs[0]) - dx / 2, float(ys[0]) - dy / 2
        width, height = dx * len(xs), dy * len(ys)
        finite = values[np.isfinite(values)]
        if finite.size:
            low, high = float(finite.min()), float(finite.max())
            self.colors.update(low=low, high=high if high > low else low + 1e-9)
        self.image.data = {
            "image": [values],
            "x": [left],
            "y": [bottom],
            "dw": [width],
            "dh": [height],
        }
        self.figure.x_range.update(start=left, end=left + width)
        self.figure.y_range.update(start=bottom, end=bottom + height)

    def clear(self) -> None:
        """Nothing drawn (the figure keeps its ranges)."""
        self.image.data = {**self.image.data, "image": [np.full((1, 1), np.nan)]}
        self.show_path(np.zeros((0, 2)))
        self.show_marks(np.zeros((0, 2)), [])

    def show_path(self, points: np.ndarray) -> None:
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        self.path.data = {"x": points[:, 0], "y": points[:, 1]}

    def show_marks(self, points: np.ndarray, colors: list[str]) -> None:
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        self.marks.data = {"x": points[:, 0], "y": points[:, 1], "color": list(colors)}

    def __panel__(self) -> pn.viewable.Viewable:
        return self.pane
