"""The task space as the teacher sees it: where it samples, where learning progress is,
and what the student masters, drawn over the maze whose goals are the tasks (maze goals)
or on the axes of the task's two numbers (wall gaps: centre and width)."""

from __future__ import annotations

import time

import numpy as np
import panel as pn
import param
from bokeh.models import ColorBar, ColumnDataSource, LinearColorMapper
from bokeh.palettes import Viridis256
from bokeh.plotting import figure as BokehFigure

from widgets.common.live import LiveSession
from widgets.common.maze_plot import maze_figure, maze_of_run
from workbench.curricula.base import TaskBox
from workbench.curricula.wall_gaps import WallGaps

SOLVED, UNSOLVED = "#2ca02c", "#d62728"


def ellipses(means: np.ndarray, covariances: np.ndarray) -> dict[str, np.ndarray]:
    """2-sigma ellipses of 2-D Gaussians: centres, full widths and heights, angles."""
    if not len(means):
        return {"x": [], "y": [], "width": [], "height": [], "angle": []}
    variances, axes = np.linalg.eigh(covariances[:, :2, :2])  # ascending eigenvalues
    sigma = np.sqrt(np.clip(variances, 0.0, None))
    return {
        "x": means[:, 0],
        "y": means[:, 1],
        "width": 4 * sigma[:, 1],  # two sigmas on either side of the mean
        "height": 4 * sigma[:, 0],
        "angle": np.arctan2(axes[:, 1, 1], axes[:, 0, 1]),
    }


class TaskSpaceView(pn.viewable.Viewer):
    """The latest ``curriculum`` snapshot of a run: recent tasks coloured by learning
    progress, the teacher's Gaussian mixture (2-sigma ellipses) or regions (boxes) coloured
    by theirs, and the test tasks green where the student masters them. A slider goes back
    through the mixture's refits."""

    run_id = param.String(default="", doc="Run shown.")
    size = param.Integer(default=420, bounds=(100, 2000), doc="Plot width in pixels.")
    min_interval = param.Number(
        default=1.0, bounds=(0.0, None), doc="Seconds between two redraws, at least."
    )

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self._cursor, self._drawn_at = 0, -np.inf
        self._snapshot: dict[str, np.ndarray] = {}
        self.caption = pn.widgets.StaticText(
            label="curriculum", value="none yet", css_classes=["curriculum-caption"]
        )
        self.refit = pn.widgets.IntSlider(
            label="mixture refit", start=0, end=1, value=0, visible=False, width=260,
            css_classes=["refit-scrubber"],
        )  # fmt: skip
        self.follow = pn.widgets.Checkbox(
            label="follow the latest refit", value=True, visible=False, css_classes=["refit-follow"]
        )
        self.refit.param.watch(self._scrubbed, "value")
        self._pane = pn.pane.Bokeh(css_classes=["task-space-view"])
        session.register(self)
        self._new_run()

    @param.depends("run_id", watch=True)
    def _new_run(self) -> None:
        self._cursor, self._drawn_at, self._snapshot = 0, -np.inf, {}
        self._pane.object = self._new_figure(self._base_figure())
        self.caption.value = "none yet"
        self.refit.visible = self.follow.visible = False
        self.refresh()

    def _base_figure(self) -> BokehFigure:
        """The run's task space: its maze picture, or the axes of its task box."""
        if not self.run_id:
            return maze_figure(None, self.size)
        if self.session.store.get_run(self.run_id).config.get("tasks") == "wall-gaps":
            return box_figure(WallGaps().box, self.size)
        return maze_figure(maze_of_run(self.session.store, self.run_id), self.size)

    def _new_figure(self, figure: BokehFigure) -> BokehFigure:
        self._progress_colors = LinearColorMapper(palette=Viridis256, low=0.0, high=1.0)
        color = {"field": "progress", "transform": self._progress_colors}
        self._boxes = ColumnDataSource(
            {"left": [], "right": [], "bottom": [], "top": [], "progress": []}
        )
        self._ellipses = ColumnDataSource(
            {**ellipses(np.zeros((0, 2)), np.zeros((0, 2, 2))), "progress": []}
        )
        self._tasks = ColumnDataSource({"x": [], "y": [], "progress": []})
        self._tests = ColumnDataSource({"x": [], "y": [], "color": []})
        figure.quad(
            "left", "right", "top", "bottom", source=self._boxes,
            fill_color=color, fill_alpha=0.25, line_color=color, line_width=2,
        )  # fmt: skip
        figure.ellipse(
            "x", "y", "width", "height", angle="angle", source=self._ellipses,
            fill_color=color, fill_alpha=0.2, line_color=color, line_width=3,
        )  # fmt: skip
        figure.scatter("x", "y", source=self._tasks, size=5, color=color, alpha=0.8)
        figure.scatter(
            "x", "y", source=self._tests, marker="square", size=11, fill_color="color",
            line_color="white", fill_alpha=0.9,
        )  # fmt: skip
        figure.add_layout(
            ColorBar(color_mapper=self._progress_colors, title="learning progress", width=10),
            "right",
        )
        return figure

    def refresh(self) -> None:
        if not self.run_id or time.monotonic() - self._drawn_at < self.min_interval:
            return
        store = self.session.store
        new = store.snapshots(self.run_id, "curriculum", after_rowid=self._cursor)
        if not new:
            return
        self._cursor, step = new[-1]
        self._drawn_at = time.monotonic()
        data = store.load_snapshot(self.run_id, "curriculum", step)
        if "test_tasks" not in data and "test_goals" not in data:
            return  # a run of levels: the level buffer view draws it
        self._snapshot = data
        self._draw(step)

    def _draw(self, step: int) -> None:
        data = self._snapshot
        tasks = data.get("teacher/tasks", np.zeros((0, 2)))
        progress = data.get("teacher/progress", np.zeros(len(tasks)))
        self._tasks.data = {"x": tasks[:, 0], "y": tasks[:, 1], "progress": progress}
        success = data.get("test_success", np.zeros(0)).astype(bool)
        # Runs recorded before the wall gaps called their test set goals.
        tests = data.get("test_tasks", data.get("test_goals", np.zeros((0, 2))))
        self._tests.data = {
            "x": tests[:, 0], "y": tests[:, 1],
            "color": np.where(success, SOLVED, UNSOLVED).tolist(),
        }  # fmt: skip
        leaves = data.get("teacher/region_is_leaf", np.zeros(0, dtype=bool)).astype(bool)
        if leaves.any():
            low, high = data["teacher/region_low"][leaves], data["teacher/region_high"][leaves]
            self._boxes.data = {
                "left": low[:, 0], "right": high[:, 0], "bottom": low[:, 1], "top": high[:, 1],
                "progress": data["teacher/region_alp"][leaves],
            }  # fmt: skip
        refits = len(data.get("teacher/refit_episode", ()))
        self.refit.visible = self.follow.visible = refits > 1
        if refits:
            self.refit.end = max(refits - 1, 1)
            if self.follow.value or self.refit.value >= refits:
                self.refit.value = refits - 1
        self._draw_mixture()
        # The colours span the largest progress shown (ALP is often far below 1).
        shown = [
            progress,
            self._boxes.data["progress"] if leaves.any() else np.zeros(0),
            np.asarray(self._ellipses.data["progress"]),
        ]
        self._progress_colors.high = max(1e-3, *(float(np.max(v)) for v in shown if len(v)))
        mastered = f", test tasks mastered {success.mean():.0%}" if len(success) else ""
        episodes = int(data.get("teacher/episodes", 0))
        self.caption.value = f"step {step}: {episodes} tasks so far{mastered}"
        if self.session.in_notebook:
            pn.io.push_notebook(self._pane)  # a notebook sends Bokeh changes only when told

    def _scrubbed(self, _: object) -> None:
        if self._snapshot:
            self._draw_mixture()
            if self.session.in_notebook:
                pn.io.push_notebook(self._pane)

    def _draw_mixture(self) -> None:
        """The mixture of the refit chosen on the slider (the latest when following)."""
        data = self._snapshot
        refits = len(data.get("teacher/refit_episode", ()))
        if not refits:
            means = data.get("teacher/gmm_means", np.zeros((0, 2)))
            covariances = data.get("teacher/gmm_covariances", np.zeros((0, 2, 2)))
            progress = data.get("teacher/gmm_progress", np.zeros(len(means)))
        else:
            row = min(self.refit.value, refits - 1)
            means = data["teacher/refit_means"][row]
            keep = ~np.isnan(means[:, 0])  # rows are padded to the most components
            means = means[keep]
            covariances = data["teacher/refit_covariances"][row][keep]
            progress = data["teacher/refit_progress"][row][keep]
        self._ellipses.data = {**ellipses(means, covariances), "progress": progress}

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.caption, self._pane, pn.Row(self.refit, self.follow))


def box_figure(box: TaskBox, size: int) -> BokehFigure:
    """A figure over a 2-D task box, ``size`` pixels wide, its axes named by the task's
    dimensions."""
    figure = BokehFigure(
        frame_width=size,
        frame_height=round(size * 0.75),
        x_range=(box.low[0], box.high[0]),
        y_range=(box.low[1], box.high[1]),
        x_axis_label=box.names[0],
        y_axis_label=box.names[1],
        toolbar_location=None,
    )
    figure.grid.grid_line_alpha = 0.3
    return figure
