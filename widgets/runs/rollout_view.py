"""The live rollout view: a run's latest evaluation trajectory drawn over its environment."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
import param

from widgets.common.live import LiveSession
from widgets.common.maze_plot import maze_of_run, over_maze
from widgets.common.plotting import figure_pane


class RolloutView(pn.viewable.Viewer):
    """Draws snapshot ``rollout`` (positions, goal) of a run as it is recorded."""

    run_id = param.String(default="", doc="Run shown.")
    size = param.Integer(default=320, bounds=(100, 2000), doc="Plot width in pixels.")

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self._cursor = 0
        self._pipe = hv.streams.Pipe(data={"positions": np.zeros((0, 2)), "step": 0})
        self.caption = pn.widgets.StaticText(
            label="rollout", value="none yet", css_classes=["rollout-caption"]
        )
        session.register(self)
        self._new_run()

    @param.depends("run_id", watch=True)
    def _new_run(self) -> None:
        self._cursor = 0
        self._maze = None
        if self.run_id:
            self._maze = maze_of_run(self.session.store, self.run_id)
        self._pipe.send({"positions": np.zeros((0, 2)), "step": 0})
        self.refresh()

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
        self._pipe.send({**arrays, "step": step})

    def _plot(self, data: dict) -> hv.Overlay:
        positions = data["positions"]
        path = hv.Path([positions], ["x", "y"]).opts(color="#d62728", line_width=2)
        ends = hv.Points(positions[-1:], ["x", "y"]).opts(color="#d62728", size=8)
        layers = path * ends
        if "goal" in data:
            layers *= hv.Points(data["goal"][None, :2], ["x", "y"]).opts(
                color="#2ca02c", size=14, marker="circle"
            )
        # Without a maze (the plane) nothing fixes the frame: it follows the path.
        return over_maze(layers, self._maze, self.size).opts(framewise=self._maze is None)

    def __panel__(self) -> pn.viewable.Viewable:
        plot = hv.DynamicMap(self._plot, streams=[self._pipe])
        return pn.Column(self.caption, figure_pane(plot, css_classes=["rollout-view"]))
