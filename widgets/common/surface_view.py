"""The reward surface around a run's policy: the return at theta + a d1 + b d2 over a grid of
(a, b), filling in point by point as batches of policies finish (Sullivan et al. 2022), in a
random plane or in the plane of the training trajectory (Li et al. 2018); and the return
along the policy gradient, where a cliff is a fall the next update may step off."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import panel as pn
import param
from bokeh.models import ColorBar, ColumnDataSource, LinearColorMapper, Range1d, Whisker
from bokeh.palettes import Viridis256
from bokeh.plotting import figure as BokehFigure
from bokeh.plotting.contour import contour_data

from widgets.common.live import LiveSession
from widgets.common.threads import on_next_tick
from workbench.landscapes.run_surfaces import (
    SKILL_TRAINERS,
    reward_label,
    run_gradient_line,
    run_surface,
    stored_surface,
)
from workbench.landscapes.surfaces import CLIFF_CHECK_INDEX, SurfaceResult, find_cliffs, grid_axis

EMPTY_POINTS = {"a": [], "b": [], "value": [], "stderr": []}
EMPTY_CONTOURS = {"xs": [], "ys": [], "level": []}
SKILL_CAPTION = (
    "For a skill run the return is one skill's own objective: its skill reward summed over "
    "an episode, with the checkpoint's phi held fixed (METRA, LSD and HILP: how far the "
    "episode moves along z in the learned space; DIAYN: log q(z | s')). **skill** picks z: "
    "the run's evaluation skill of that number (HILP: a fixed random unit vector)."
)
# Level lines drawn over a finished surface, evenly spaced between its lowest and highest
# return: where the surface is steep they crowd together (Li et al. 2018 draw theirs so).
CONTOUR_LEVELS = 8


class SurfaceView(pn.viewable.Viewer):
    """Compute (in a thread) and draw the reward surface and the gradient line of a run's
    latest checkpoint; the run's stored surface is drawn when the run is chosen.

    SB3 runs: the return of the environment's reward. Skill runs (METRA, DIAYN, LSD, HILP):
    the return of one skill's policy on that skill's own reward; a skill field picks which."""

    run_id = param.String(default="", doc="Run whose policy is perturbed.")
    size = param.Integer(default=300, bounds=(100, 2000), doc="Plot width in pixels.")
    collapsed = param.Boolean(
        default=False,
        doc="Shown as a closed card that opens on a click (a page where the surface is an "
        "aside: closed, its plots cost the browser nothing when the page's numbers change).",
    )

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.directions = pn.widgets.RadioButtonGroup(
            options=["random", "pca"], value="random", css_classes=["surface-directions"]
        )
        self.grid_input = pn.widgets.IntInput(
            label="grid", value=11, start=3, end=41, step=2, width=80, css_classes=["surface-grid"]
        )
        self.episodes_input = pn.widgets.IntInput(
            label="episodes", value=4, start=1, end=64, width=80, css_classes=["surface-episodes"]
        )
        self.magnitude_input = pn.widgets.FloatInput(
            label="magnitude", value=1.0, start=0.01, end=10.0, width=90
        )
        self.skill_input = pn.widgets.IntInput(
            label="skill", value=0, start=0, end=1023, width=70, visible=False,
            css_classes=["surface-skill"],
        )  # fmt: skip
        self.compute_button = pn.widgets.Button(
            label="Compute surface", color="primary", css_classes=["surface-compute"]
        )
        self.line_button = pn.widgets.Button(label="Gradient line", css_classes=["gradient-line"])
        self.compute_button.on_click(lambda _: on_next_tick(self.compute))
        self.line_button.on_click(lambda _: on_next_tick(self.compute_line))
        self.status = pn.widgets.StaticText(
            label="surface", value="", css_classes=["surface-status"]
        )
        self.colors = LinearColorMapper(palette=Viridis256, low=0.0, high=1.0)
        self.points = ColumnDataSource(dict(EMPTY_POINTS))
        self.trajectory = ColumnDataSource({"a": [], "b": []})
        figure = BokehFigure(
            frame_width=self.size, frame_height=self.size, toolbar_location=None,
            x_axis_label="direction 1 (a)", y_axis_label="direction 2 (b)",
            title=self._title(reward_label("sb3")),
            x_range=Range1d(-1, 1), y_range=Range1d(-1, 1),  # set by each grid
        )  # fmt: skip
        self._rects = figure.rect(
            "a", "b", width=0.2, height=0.2, source=self.points,
            fill_color={"field": "value", "transform": self.colors}, line_color=None,
        )  # fmt: skip
        self.contours = ColumnDataSource(dict(EMPTY_CONTOURS))
        figure.multi_line("xs", "ys", source=self.contours, color="white", alpha=0.55)
        figure.line("a", "b", source=self.trajectory, color="white", line_width=2)
        figure.scatter("a", "b", source=self.trajectory, color="white", size=5)
        figure.scatter([0.0], [0.0], marker="x", size=12, color="red", line_width=2)
        figure.add_layout(ColorBar(color_mapper=self.colors, title="return", width=10), "right")
        figure.grid.visible = False
        self.figure = figure
        self.pane = pn.pane.Bokeh(css_classes=["surface-map"])
        self.pane.object = figure
        self.line = ColumnDataSource({"t": [], "value": [], "lower": [], "upper": []})
        line_figure = BokehFigure(
            frame_width=self.size, frame_height=round(self.size * 0.6), toolbar_location=None,
            x_axis_label="step along the normalised policy gradient", y_axis_label="return",
            title="gradient line", x_range=Range1d(0, 1), y_range=Range1d(-1, 1),  # set by each line
        )  # fmt: skip
        line_figure.line("t", "value", source=self.line, line_width=2)
        line_figure.scatter("t", "value", source=self.line, size=5)
        line_figure.add_layout(Whisker(source=self.line, base="t", upper="upper", lower="lower"))
        self.line_pane = pn.pane.Bokeh(css_classes=["gradient-line-plot"])
        self.line_pane.object = line_figure
        self.line_figure = line_figure
        self.caption = pn.pane.Markdown("", css_classes=["surface-caption"], max_width=700)
        self.line_verdict = pn.pane.Markdown("", css_classes=["cliff-verdict"], width=self.size)
        self._lock = threading.Lock()
        self._arrived: list[tuple[int, float, float]] = []
        self._plane: tuple[float, np.ndarray | None] | None = None  # set by the worker
        self._line: SurfaceResult | None = None  # set by the worker
        self._grid = 0
        self._axis = np.zeros(0)
        self._returns = np.zeros((0, 0))  # the grid's mean returns so far, [a index, b index]
        self._busy = False
        self._done = ""
        self._job = 0  # the job whose results are drawn (another run's are dropped)
        session.register(self)
        self._load()

    @param.depends("run_id", watch=True)
    def _run_chosen(self) -> None:
        on_next_tick(self._load)

    def _load(self) -> None:
        """Draw the run's stored surface, if it has one."""
        with self._lock:  # a job still running for another run draws nothing here
            self._job += 1
            self._arrived, self._plane, self._line = [], None, None
        self.points.data = dict(EMPTY_POINTS)
        self.contours.data = dict(EMPTY_CONTOURS)
        self.trajectory.data = {"a": [], "b": []}
        self.line.data = {"t": [], "value": [], "lower": [], "upper": []}
        self.line_verdict.object = ""
        self.status.value = "" if self.run_id else "no run chosen"
        trainer = self.session.store.get_run(self.run_id).trainer if self.run_id else ""
        self.skill_input.visible = trainer in SKILL_TRAINERS
        self.caption.object = SKILL_CAPTION if trainer in SKILL_TRAINERS else ""
        self.figure.title.text = self._title(reward_label(trainer, self.skill_input.value or 0))
        if not self.run_id:
            return
        stored = stored_surface(self.session.store, self.run_id)
        if stored is None:
            self.status.value = "none yet: press Compute surface"
            return
        result, magnitude, step, trajectory, reward = stored
        self.figure.title.text = self._title(reward)
        grid = result.grid_shape[0] if result.grid_shape else int(np.sqrt(result.returns_mean.size))
        self._start_grid(grid, magnitude, trajectory)
        with self._lock:
            self._arrived = [
                (i, float(m), float(s))
                for i, (m, s) in enumerate(zip(result.returns_mean, result.returns_stderr, strict=True))
            ]  # fmt: skip
        self.refresh()
        self.status.value = (
            f"stored surface of the checkpoint at step {step}: {result.returns_mean.size} "
            f"points, {result.episodes} episodes each"
        )

    @staticmethod
    def _title(reward: str) -> str:
        return f"return around the policy ({reward})"

    def _start_grid(self, grid: int, magnitude: float, trajectory: np.ndarray | None) -> None:
        self._axis = grid_axis(grid, magnitude)
        step = float(self._axis[1] - self._axis[0]) if grid > 1 else 1.0
        self._rects.glyph.update(width=step, height=step)
        pad = step / 2
        self.figure.x_range.update(start=-magnitude - pad, end=magnitude + pad)
        self.figure.y_range.update(start=-magnitude - pad, end=magnitude + pad)
        self.points.data = dict(EMPTY_POINTS)
        self.contours.data = dict(EMPTY_CONTOURS)
        self._returns = np.full((grid, grid), np.nan)
        points = np.zeros((0, 2)) if trajectory is None else np.asarray(trajectory)
        self.trajectory.data = {"a": points[:, 0], "b": points[:, 1]}

    def _in_thread(self, work: Callable[[], str]) -> None:
        """Run ``work`` (which returns its closing status) in a thread; one job at a time.
        What it reports is tagged with its job number, so a job of a run no longer shown
        draws nothing."""
        with self._lock:
            self._job += 1
            self._busy = True
        self.compute_button.disabled = self.line_button.disabled = True

        def guarded() -> None:
            try:
                done = work()
            except ValueError as error:  # no checkpoint yet, too few of them: said plainly
                done = f"refused: {error}"
            except Exception as error:  # anything else: shown, not lost in a log
                done = f"failed: {type(error).__name__}: {error}"
            with self._lock:
                self._busy, self._done = False, done

        threading.Thread(target=guarded, daemon=True, name="reward-surface").start()

    def _missing_input(self) -> str | None:
        """The first emptied field's refusal (a cleared number box holds None), or None."""
        fields = (self.grid_input, self.episodes_input, self.magnitude_input, self.skill_input)
        for field in fields:
            if field.value is None:
                return f"refused: {field.label} is empty; enter a number from {field.start} to {field.end}"
        return None

    def compute(self) -> None:
        """Compute the surface of the run's latest checkpoint in a thread; points stream in."""
        if not self.run_id or self._busy:
            return
        if (refusal := self._missing_input()) is not None:
            self.status.value = refusal
            return
        grid, episodes = int(self.grid_input.value), int(self.episodes_input.value)
        magnitude, directions = float(self.magnitude_input.value), self.directions.value
        skill = int(self.skill_input.value)
        trainer = self.session.store.get_run(self.run_id).trainer
        self.figure.title.text = self._title(reward_label(trainer, skill))
        self.points.data = dict(EMPTY_POINTS)
        self.status.value = f"computing: 0 / {grid * grid} points"
        run_id, store = self.run_id, self.session.store

        job = self._job + 1  # the number _in_thread gives this job

        def arrived(index: int, mean: float, stderr: float) -> None:
            with self._lock:
                if job == self._job:
                    self._arrived.append((index, mean, stderr))

        def plane(extent: float, trajectory: np.ndarray | None) -> None:
            with self._lock:
                if job == self._job:
                    self._plane = (extent, trajectory)

        def work() -> str:
            _, step = run_surface(
                store, run_id, grid=grid, magnitude=magnitude, episodes=episodes,
                on_point=arrived, directions=directions, on_plane=plane, skill=skill,
            )  # fmt: skip
            return f"done: {grid * grid} points around the checkpoint at step {step}"

        self._grid = grid
        self._in_thread(work)

    def compute_line(self) -> None:
        """The return along the normalised policy gradient, and whether it has a cliff."""
        if not self.run_id or self._busy:
            return
        if (refusal := self._missing_input()) is not None:
            self.status.value = refusal
            return
        episodes, skill = int(self.episodes_input.value), int(self.skill_input.value)
        self.status.value = "computing the gradient line"
        run_id, store = self.run_id, self.session.store

        job = self._job + 1

        def work() -> str:
            line, step = run_gradient_line(store, run_id, episodes=episodes, skill=skill)
            with self._lock:
                if job == self._job:
                    self._line = line
            return f"done: gradient line of the checkpoint at step {step}"

        self._in_thread(work)

    def refresh(self) -> None:
        with self._lock:
            arrived, self._arrived = self._arrived, []
            plane, self._plane = self._plane, None
            line, self._line = self._line, None
            busy, done, self._done = self._busy, self._done, ""
        if plane is not None:
            self._start_grid(self._grid, *plane)
        if arrived and len(self._axis):
            grid = len(self._axis)
            index = np.array([i for i, _, _ in arrived])
            self.points.stream({
                "a": self._axis[index // grid], "b": self._axis[index % grid],
                "value": np.array([m for _, m, _ in arrived]),
                "stderr": np.array([s for _, _, s in arrived]),
            })  # fmt: skip
            self._returns.flat[index] = [m for _, m, _ in arrived]
            every = np.asarray(self.points.data["value"], dtype=np.float64)
            low, high = float(every.min()), float(every.max())
            self.colors.update(low=low, high=high if high > low else low + 1e-9)
            if not np.isnan(self._returns).any() and high > low:
                self._draw_contours(low, high)
            if busy:
                self.status.value = f"computing: {every.size} / {grid * grid} points"
        if line is not None:
            self._draw_line(line)
        if done:
            self.status.value = done
            self.compute_button.disabled = self.line_button.disabled = False
        if (arrived or line is not None) and self.session.in_notebook:
            pn.io.push_notebook(self.pane)
            pn.io.push_notebook(self.line_pane)

    def _draw_contours(self, low: float, high: float) -> None:
        """Level lines of the finished surface (contourpy's, through Bokeh)."""
        levels = np.linspace(low, high, CONTOUR_LEVELS + 2)[1:-1]
        # contour_data wants z[y index, x index]: b is the vertical axis.
        lines = contour_data(
            self._axis, self._axis, self._returns.T, levels, want_fill=False, want_line=True
        ).line_data
        self.contours.data = {
            "xs": list(lines.xs),
            "ys": list(lines.ys),
            "level": list(lines.levels),
        }

    def _draw_line(self, line: SurfaceResult) -> None:
        values, errors = line.returns_mean, line.returns_stderr
        t = line.coords.reshape(-1)
        # The return axis spans the line and its error bars; a flat line (a policy whose
        # return the step does not change) gets at least a thousandth of its size, not a
        # span of rounding errors with nine-digit ticks.
        low, high = float((values - errors).min()), float((values + errors).max())
        middle = (low + high) / 2
        half = max(high - low, 1e-3 * max(1.0, float(np.abs(values).max()))) / 2 * 1.1
        self.line_figure.y_range.update(start=middle - half, end=middle + half)
        pad = 0.03 * float(np.ptp(t)) if len(t) > 1 else 0.5
        self.line_figure.x_range.update(start=float(t.min()) - pad, end=float(t.max()) + pad)
        self.line.data = {
            "t": t,
            "value": values,
            "lower": values - errors,
            "upper": values + errors,
        }
        # Judged against the line's own range, as `workbench surface --directions gradient`.
        cliff = find_cliffs(values, line.returns_range)
        where = f"at step {t[cliff.index]:.2f}" if cliff.is_cliff else ""
        self.line_verdict.object = (
            f"**Cliff {where}**: the return falls by {cliff.drop:.1f} (Sullivan et al.'s rule: "
            f"by the {CLIFF_CHECK_INDEX + 1}th point at most half the start, and more than a "
            "quarter of the line's range)."
            if cliff.is_cliff
            else "No cliff along the gradient by Sullivan et al.'s rule."
        )

    def __panel__(self) -> pn.viewable.Viewable:
        body = (
            pn.Row(
                self.directions,
                self.grid_input,
                self.episodes_input,
                self.magnitude_input,
                self.skill_input,
            ),
            pn.Row(self.compute_button, self.line_button),
            self.caption,
            self.status,
            pn.Row(self.pane, pn.Column(self.line_pane, self.line_verdict)),
        )
        if self.collapsed:
            # A header of our own: the default title's look depended on which stylesheet
            # reached it last (bold on a grey band in one session, plain in another).
            header = pn.pane.Markdown(
                "**Reward surface** of the latest checkpoint (click to open or close)",
                margin=(0, 5),
            )
            return pn.Card(
                *body, header=header, header_background="#f1f3f5", collapsed=True,
                css_classes=["surface-card"], sizing_mode="stretch_width",
            )  # fmt: skip
        return pn.Column(pn.pane.Markdown("**Reward surface** of the latest checkpoint"), *body)
