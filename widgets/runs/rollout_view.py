"""The live rollout view: a run's latest evaluation trajectory drawn over its environment."""

from __future__ import annotations

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource
from bokeh.plotting import figure as BokehFigure

from environments.maze import MazeLayout
from widgets.common.live import LiveSession
from widgets.common.maze_plot import maze_figure, maze_of_run

PATH_COLOR, GOAL_COLOR = "#d62728", "#2ca02c"


class RolloutView(pn.viewable.Viewer):
    """Draws snapshot ``rollout`` (positions, goal) of a run as it is recorded."""

    run_id = param.String(default="", doc="Run shown.")
    size = param.Integer(default=320, bounds=(100, 2000), doc="Plot width in pixels.")

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self._cursor = 0
        self.caption = pn.widgets.StaticText(
            label="rollout", value="none yet", css_classes=["rollout-caption"]
        )
        # A Bokeh figure of its own: a new evaluation replaces the path's columns only, and
        # the maze picture is sent once per run, not with every evaluation.
        self._pane = pn.pane.Bokeh(css_classes=["rollout-view"])
        session.register(self)
        self._new_run()

    @param.depends("run_id", watch=True)
    def _new_run(self) -> None:
        self._cursor = 0
        maze = maze_of_run(self.session.store, self.run_id) if self.run_id else None
        self._pane.object = self._new_figure(maze)
        self.caption.value = "none yet"
        self.refresh()

    def _new_figure(self, maze: MazeLayout | None) -> BokehFigure:
        """The maze picture (if any) with an empty path, end point and goal over it."""
        # Without a maze (the plane) nothing fixes the frame: it follows the path.
        figure = maze_figure(maze, self.size)
        self._path = ColumnDataSource({"x": [], "y": []})
        self._end = ColumnDataSource({"x": [], "y": []})
        self._goal = ColumnDataSource({"x": [], "y": []})
        figure.line("x", "y", source=self._path, color=PATH_COLOR, line_width=2)
        figure.scatter("x", "y", source=self._end, color=PATH_COLOR, size=8)
        figure.scatter("x", "y", source=self._goal, color=GOAL_COLOR, size=14)
        return figure

    def refresh(self) -> None:
        if not self.run_id:
            return
        store = self.session.store
        new = store.snapshots(self.run_id, "rollout", after_rowid=self._cursor)
        if not new:
            return
        self._cursor, step = new[-1]
        arrays = store.load_snapshot(self.run_id, "rollout", step)
        self.caption.value = f"deterministic evaluation at step {step}"
        positions = arrays["positions"]
        self._path.data = {"x": positions[:, 0], "y": positions[:, 1]}
        self._end.data = {"x": positions[-1:, 0], "y": positions[-1:, 1]}
        goal = arrays["goal"][None, :2] if "goal" in arrays else np.zeros((0, 2))
        self._goal.data = {"x": goal[:, 0], "y": goal[:, 1]}
        if self.session.in_notebook:
            pn.io.push_notebook(self._pane)  # a notebook sends Bokeh changes only when told

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.caption, self._pane)
