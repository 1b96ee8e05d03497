"""The reward surface around a run's policy: the return at theta + a d1 + b d2 over a grid of
(a, b), filling in point by point as batches of policies finish (Sullivan et al. 2022)."""

from __future__ import annotations

import threading

import numpy as np
import panel as pn
import param
from bokeh.models import ColorBar, ColumnDataSource, LinearColorMapper
from bokeh.palettes import Viridis256
from bokeh.plotting import figure as BokehFigure

from widgets.common.live import LiveSession
from widgets.common.threads import on_next_tick
from workbench.landscapes.run_surfaces import run_surface, stored_surface
from workbench.landscapes.surfaces import SurfaceResult, grid_axis


class SurfaceView(pn.viewable.Viewer):
    """Compute (in a thread) and draw the reward surface of a run's latest checkpoint; a
    stored surface is drawn when the run is chosen."""

    run_id = param.String(default="", doc="Run whose policy is perturbed.")
    size = param.Integer(default=300, bounds=(100, 2000), doc="Plot width in pixels.")

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.grid_input = pn.widgets.IntInput(
            name="grid", value=11, start=3, end=41, width=80, css_classes=["surface-grid"]
        )
        self.episodes_input = pn.widgets.IntInput(
            name="episodes", value=4, start=1, end=64, width=80, css_classes=["surface-episodes"]
        )
        self.magnitude_input = pn.widgets.FloatInput(
            name="magnitude", value=1.0, start=0.01, end=10.0, width=90
        )
        self.compute_button = pn.widgets.Button(
            name="Compute surface", button_type="primary", css_classes=["surface-compute"]
        )
        self.compute_button.on_click(lambda _: on_next_tick(self.compute))
        self.status = pn.widgets.StaticText(
            name="surface", value="", css_classes=["surface-status"]
        )
        self.colors = LinearColorMapper(palette=Viridis256, low=0.0, high=1.0)
        self.points = ColumnDataSource({"a": [], "b": [], "value": [], "stderr": []})
        figure = BokehFigure(
            frame_width=self.size, frame_height=self.size, toolbar_location=None,
            x_axis_label="direction 1 (a)", y_axis_label="direction 2 (b)",
            title="return around the policy (environment's reward)",
        )  # fmt: skip
        self._rects = figure.rect(
            "a", "b", width=0.2, height=0.2, source=self.points,
            fill_color={"field": "value", "transform": self.colors}, line_color=None,
        )  # fmt: skip
        figure.scatter([0.0], [0.0], marker="x", size=12, color="white", line_width=2)
        figure.add_layout(ColorBar(color_mapper=self.colors, title="return", width=10), "right")
        figure.grid.visible = False
        self.figure = figure
        self.pane = pn.pane.Bokeh(css_classes=["surface-map"])
        self.pane.object = figure
        self._lock = threading.Lock()
        self._arrived: list[tuple[int, float, float]] = []
        self._axis = np.zeros(0)
        self._computing = False
        session.register(self)
        self._load()

    @param.depends("run_id", watch=True)
    def _run_chosen(self) -> None:
        on_next_tick(self._load)

    def _load(self) -> None:
        """Draw the run's stored surface, if it has one."""
        self.points.data = {"a": [], "b": [], "value": [], "stderr": []}
        self.status.value = "" if self.run_id else "no run chosen"
        if not self.run_id:
            return
        stored = stored_surface(self.session.store, self.run_id)
        if stored is None:
            self.status.value = "none yet: press Compute surface"
            return
        result, magnitude, step = stored
        self._draw_result(result, magnitude)
        self.status.value = (
            f"stored surface of the checkpoint at step {step}: {len(result.returns_mean)} points,"
            f" {result.episodes} episodes each"
        )

    def _draw_result(self, result: SurfaceResult, magnitude: float) -> None:
        grid = result.grid_shape[0] if result.grid_shape else int(np.sqrt(len(result.returns_mean)))
        self._start_grid(grid, magnitude)
        with self._lock:
            self._arrived = [
                (i, float(m), float(s))
                for i, (m, s) in enumerate(
                    zip(result.returns_mean, result.returns_stderr, strict=True)
                )
            ]
        self.refresh()

    def _start_grid(self, grid: int, magnitude: float) -> None:
        self._axis = grid_axis(grid, magnitude)
        step = float(self._axis[1] - self._axis[0]) if grid > 1 else 1.0
        self._rects.glyph.update(width=step, height=step)
        pad = step / 2
        self.figure.x_range.update(start=-magnitude - pad, end=magnitude + pad)
        self.figure.y_range.update(start=-magnitude - pad, end=magnitude + pad)
        self.points.data = {"a": [], "b": [], "value": [], "stderr": []}

    def compute(self) -> None:
        """Compute the surface of the run's latest checkpoint in a thread; points stream in."""
        if not self.run_id or self._computing:
            return
        grid, episodes = int(self.grid_input.value), int(self.episodes_input.value)
        magnitude = float(self.magnitude_input.value)
        self._start_grid(grid, magnitude)
        self._computing = True
        self.compute_button.disabled = True
        self.status.value = f"computing: 0 / {grid * grid} points"
        run_id, store = self.run_id, self.session.store

        def arrived(index: int, mean: float, stderr: float) -> None:
            with self._lock:
                self._arrived.append((index, mean, stderr))

        def work() -> None:
            try:
                _, step = run_surface(
                    store, run_id, grid=grid, magnitude=magnitude, episodes=episodes,
                    on_point=arrived,
                )  # fmt: skip
                self._done = f"done: {grid * grid} points around the checkpoint at step {step}"
            except ValueError as error:  # no checkpoint yet, not an SB3 run: said, not raised
                self._done = f"refused: {error}"
            finally:
                self._computing = False

        self._done = ""
        threading.Thread(target=work, daemon=True, name="reward-surface").start()

    def refresh(self) -> None:
        with self._lock:
            arrived, self._arrived = self._arrived, []
        if arrived and len(self._axis):
            grid = len(self._axis)
            index = np.array([i for i, _, _ in arrived])
            values = np.array([m for _, m, _ in arrived])
            self.points.stream({
                "a": self._axis[index // grid], "b": self._axis[index % grid],
                "value": values, "stderr": np.array([s for _, _, s in arrived]),
            })  # fmt: skip
            every = np.asarray(self.points.data["value"], dtype=np.float64)
            low, high = float(every.min()), float(every.max())
            self.colors.update(low=low, high=high if high > low else low + 1e-9)
            if self._computing:
                self.status.value = f"computing: {len(every)} / {grid * grid} points"
        if not self._computing and getattr(self, "_done", ""):
            self.status.value, self._done = self._done, ""
            self.compute_button.disabled = False
        if arrived and self.session.in_notebook:
            pn.io.push_notebook(self.pane)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown("**Reward surface** of the latest checkpoint"),
            pn.Row(self.grid_input, self.episodes_input, self.magnitude_input),
            self.compute_button,
            self.status,
            self.pane,
        )
