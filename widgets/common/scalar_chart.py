"""Live scalar charts: one metric of several runs overlaid, smoothed, with a marker at
every knob change, against steps or wall-clock seconds, on a linear or a log axis. Where a
run went back to an earlier checkpoint, the stretch it left behind is drawn faint."""

from __future__ import annotations

import time

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import SaveTool

from widgets.common.live import LiveSession
from widgets.common.plotting import figure_pane
from workbench.runs import RunStore


def ema(values: np.ndarray, smoothing: float) -> np.ndarray:
    """TensorBoard's debiased exponential moving average (0: raw values)."""
    if smoothing <= 0 or len(values) == 0:
        return values
    out = np.empty_like(values, dtype=np.float64)
    last, weight = 0.0, 0.0
    for i, value in enumerate(values):
        last = smoothing * last + (1 - smoothing) * value
        weight = smoothing * weight + (1 - smoothing)
        out[i] = last / weight
    return out


def mean_per_step(
    steps: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One point per step: the mean of the values logged at it, and how many there were.
    Several episodes often end at the same step (vector environments whose copies share a
    time limit); drawn one by one they make vertical strokes instead of a curve."""
    unique, index, counts = np.unique(steps, return_inverse=True, return_counts=True)
    return unique, np.bincount(index, values, minlength=len(unique)) / counts, counts


def downsample(
    steps: np.ndarray, values: np.ndarray, max_points: int, *aligned: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Halve long series by averaging neighbouring pairs until at most ``max_points``.
    ``aligned`` arrays (say the wall time of each step) are thinned as the steps are: each
    pair keeps its later entry. Returns the steps, the values, then the aligned arrays."""
    while len(steps) > max_points:
        n = len(steps) // 2 * 2
        values = np.concatenate([values[:n].reshape(-1, 2).mean(axis=1), values[n:]])
        steps, *aligned = (
            np.concatenate([a[:n].reshape(-1, 2)[:, 1], a[n:]]) for a in (steps, *aligned)
        )
    return (steps, values, *aligned)


def last_time_per_step(steps: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The latest wall time logged at each distinct step (in the order of ``np.unique``)."""
    unique, index = np.unique(steps, return_inverse=True)
    out = np.full(len(unique), -np.inf)
    np.maximum.at(out, index, times)
    return out


X_AXES = {"step": "step", "wall": "wall-clock seconds"}
DATA_COLUMNS = [
    "run", "run_id", "metric", "branch", "step", "wall_seconds", "value", "smoothed"
]  # fmt: skip
ABANDONED_STYLE = {"color": "#8c8c8c", "alpha": 0.6, "line_dash": "dotted", "line_width": 1.5}


class _Series:
    """What the chart holds of one run: bounded points, the last row read, knob changes."""

    def __init__(self, origin: float = 0.0) -> None:
        self.origin = origin  # the run's creation (Unix time): wall-clock seconds count from it
        self.steps = np.zeros(0, dtype=np.int64)
        self.values = np.zeros(0)
        self.times = np.zeros(0)  # wall-clock seconds since `origin` at which each step was logged
        self.last_count = 0  # values averaged into the last point (more may come at its step)
        self.cursor = 0
        self.event_cursor = 0
        self.rollback_cursor = 0
        self.markers: list[tuple[int, str]] = []
        # Points logged past a checkpoint the run later went back to (steps, values, times).
        self.abandoned = (np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))


class ScalarChart(pn.viewable.Viewer):
    """One metric of the selected runs, live."""

    run_ids = param.List(default=[], item_type=str, doc="Runs overlaid.")
    metric = param.String(default="charts/episodic_return", doc="Scalar name.")
    smoothing = param.Number(default=0.6, bounds=(0.0, 0.99), doc="EMA smoothing weight.")
    max_points = param.Integer(default=1_000, bounds=(10, 100_000), doc="Points kept per run.")
    height = param.Integer(default=320, bounds=(100, 2000), doc="Plot height in pixels.")
    redraw_every = param.Number(
        default=1.0,
        bounds=(0.1, 60.0),
        doc="Seconds between redraws (a redraw costs the server CPU).",
    )
    logy = param.Boolean(
        default=False,
        doc="Log-scale value axis; values at or below zero are left out (and counted in the title).",
    )
    x_axis = param.Selector(
        default="step",
        objects=list(X_AXES),
        doc="Horizontal axis: training step, or wall-clock seconds since the run was created.",
    )
    show_controls = param.Boolean(
        default=True,
        doc="Show this chart's own metric picker and smoothing slider (a page that sets them "
        "for several charts at once hides them).",
    )

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self._series: dict[str, _Series] = {}
        self._pipe = hv.streams.Pipe(data={})
        self._plotted_keys: tuple[str, ...] = ()
        self._last_draw = 0.0
        self._stale = False
        self.metric_select = pn.widgets.Select(
            label="metric", options=[self.metric], value=self.metric, width=260
        )
        self.metric_select.link(self, value="metric")
        self.smoothing_slider = pn.widgets.FloatSlider.from_param(
            self.param.smoothing, step=0.01, width=180
        )
        self.markers_text = pn.widgets.StaticText(
            label="knob changes", value="none", css_classes=["knob-markers"]
        )
        # Unlinked: Panel otherwise gives every chart on a page with the same axis names
        # one shared range, so an empty chart showed another's returns.
        self._pane = figure_pane(
            self._dynamic_map(),
            sizing_mode="stretch_width",
            css_classes=["scalar-chart"],
        )
        session.register(self)
        self.refresh(force=True)

    @param.depends("run_ids", "metric", watch=True)
    def _reset(self) -> None:
        self._series = {run_id: self._new_series(run_id) for run_id in self.run_ids}
        self.refresh(force=True)

    def _new_series(self, run_id: str) -> _Series:
        return _Series(origin=self.session.store.get_run(run_id).created_at)

    @param.depends("smoothing", watch=True)
    def _resmooth(self) -> None:
        self._pipe.send(self._pipe.data)

    @param.depends("logy", "x_axis", watch=True)
    def _redraw_axes(self) -> None:
        # An axis' type (linear or log) and its name are fixed when a figure is built.
        self._plotted_keys = None
        self._publish()

    def refresh(self, force: bool = False) -> None:
        store = self.session.store
        changed = force
        for run_id in self.run_ids:
            if run_id not in self._series:
                self._series[run_id] = self._new_series(run_id)
            series = self._series[run_id]
            rollbacks = store.events(run_id, "rollback", after_rowid=series.rollback_cursor)
            if rollbacks:  # rows already drawn are abandoned now: read both branches afresh
                series = self._series[run_id] = self._new_series(run_id)
                series.rollback_cursor = rollbacks[-1][0]
                series.abandoned = self._abandoned_points(run_id, series.origin)
                changed = True
            rows = store.timed_scalars(run_id, self.metric, after_rowid=series.cursor)
            if rows:
                series.cursor = rows[-1][0]
                logged = np.array([r[1] for r in rows], dtype=np.int64)
                times = last_time_per_step(logged, np.array([r[3] for r in rows]) - series.origin)
                steps, values, counts = mean_per_step(logged, np.array([r[2] for r in rows]))
                if len(series.steps) and series.steps[-1] == steps[0]:
                    # More values at the step already drawn last: fold them into its mean.
                    total = series.last_count + counts[0]
                    values[0] = (
                        series.values[-1] * series.last_count + values[0] * counts[0]
                    ) / total
                    counts[0] = total
                    times[0] = max(times[0], series.times[-1])
                    series.steps, series.values = series.steps[:-1], series.values[:-1]
                    series.times = series.times[:-1]
                series.last_count = int(counts[-1])
                series.steps, series.values, series.times = downsample(
                    np.concatenate([series.steps, steps]),
                    np.concatenate([series.values, values]),
                    self.max_points,
                    np.concatenate([series.times, times]),
                )
                changed = True
            events = store.events(run_id, "knob", after_rowid=series.event_cursor)
            if events:
                series.event_cursor = events[-1][0]
                for _, step, _, payload in events:
                    text = ", ".join(
                        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in payload["changes"].items()
                    )
                    series.markers.append((step, text))
                changed = True
        if self.run_ids and self.show_controls:
            options = metric_names(store, self.run_ids) | {self.metric}
            if sorted(options) != self.metric_select.options:  # no widget update when unchanged
                self.metric_select.options = sorted(options)
        if changed:
            self._stale = True
        # Data is read every tick; the plot is redrawn at most every `redraw_every` seconds.
        interval = LiveSession.redraw_interval(self.redraw_every)  # slower with many sessions
        if self._stale and (force or time.monotonic() - self._last_draw >= interval):
            self._stale = False
            self._last_draw = time.monotonic()
            markers = [m for run_id in self.run_ids for m in self._series[run_id].markers]
            self.markers_text.value = "; ".join(f"step {s}: {t}" for s, t in markers[-5:]) or "none"
            self._publish()

    def _abandoned_points(
        self, run_id: str, origin: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The run's abandoned rows of this metric, one point per step (thinned like the
        live branch)."""
        rows = self.session.store.timed_scalars(run_id, self.metric, abandoned=True)
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
        logged = np.array([r[1] for r in rows], dtype=np.int64)
        times = last_time_per_step(logged, np.array([r[3] for r in rows]) - origin)
        steps, values, _ = mean_per_step(logged, np.array([r[2] for r in rows]))
        return downsample(steps, values, self.max_points, times)

    def _publish(self) -> None:
        """Stream the series to the plot. When the set of curves changes, build a new plot
        instead: BokehJS fails on a live legend whose entries change ("cannot find a view
        for Legend")."""
        data = {
            run_id: s
            for run_id, s in self._series.items()
            if len(s.steps) or s.markers or len(s.abandoned[0])
        }
        keys = tuple(run_id for run_id, s in data.items() if len(s.steps))
        if keys != self._plotted_keys:
            self._plotted_keys = keys
            self._pipe = hv.streams.Pipe(data=data)
            self._pane.object = self._dynamic_map()
        else:
            self._pipe.send(data)

    def _points(
        self, series: _Series, abandoned: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What is drawn of one run (or of its abandoned stretches): x (steps or seconds),
        raw and smoothed values; on a log axis, without the points at or below zero (a log
        axis has no place for them)."""
        steps, values, times = (
            series.abandoned if abandoned else (series.steps, series.values, series.times)
        )
        x = steps if self.x_axis == "step" else times
        smoothed = ema(values, self.smoothing)
        if self.logy:
            keep = smoothed > 0
            x, values, smoothed = x[keep], values[keep], smoothed[keep]
        return x, values, smoothed

    def _plot(self, data: dict[str, _Series]) -> hv.Overlay:
        # The value axis is named after the metric: it labels the axis, and charts of
        # different metrics never share a range.
        value = hv.Dimension(self.metric.replace("/", "_"), label=self.metric)
        x = hv.Dimension(self.x_axis, label=X_AXES[self.x_axis])
        curves, latest = {}, {}
        labels = self._run_labels(list(data))
        hidden = 0
        for run_id, s in data.items():
            if len(s.steps):
                xs, _, smoothed = self._points(s)
                hidden += len(s.steps) - len(xs)
                if not len(xs):
                    continue
                curves[labels[run_id]] = hv.Curve((xs, smoothed), x, value)
                # A dot at the latest value: a series of one point is seen, and the eye
                # finds where each run is now.
                latest[labels[run_id]] = hv.Scatter((xs[-1:], smoothed[-1:]), x, value)
        if not curves:
            curves = {"no data yet": hv.Curve([], x, value)}
            latest = {"no data yet": hv.Scatter([], x, value)}
        lines = hv.VLines(self._marker_positions(data)).opts(
            color="#d62728", line_dash="dashed", line_width=2
        )
        # Abandoned stretches: one faint path per run, outside the legend.
        left_behind = [
            np.column_stack(self._points(s, abandoned=True)[::2])
            for s in data.values()
            if len(s.abandoned[0])
        ]
        faint = hv.Path([p for p in left_behind if len(p)], [x, value]).opts(**ABANDONED_STYLE)
        overlay = (
            faint * hv.NdOverlay(curves, kdims="run") * hv.NdOverlay(latest, kdims="run") * lines
        )
        title = self.metric + (f" ({hidden} points <= 0 not on the log axis)" if hidden else "")
        return overlay.opts(
            # framewise: axes follow the data as it streams in.
            hv.opts.Curve(tools=["hover"], line_width=2, framewise=True),
            hv.opts.Scatter(size=7, framewise=True, show_legend=False),
            hv.opts.NdOverlay(legend_position="bottom_right", framewise=True),
            hv.opts.Overlay(
                responsive=True,
                height=self.height,
                title=title,
                logy=self.logy,
                framewise=True,
                hooks=[self._name_png],
            ),
        )

    def _marker_positions(self, data: dict[str, _Series]) -> list[float]:
        """Where the knob changes are drawn: at their step, or at the wall time the run
        logged that step (interpolated between logged steps)."""
        if self.x_axis == "step":
            return [step for s in data.values() for step, _ in s.markers]
        return [
            float(np.interp(step, s.steps, s.times))
            for s in data.values()
            if len(s.steps)
            for step, _ in s.markers
        ]

    def _name_png(self, plot: object, element: object) -> None:
        """The toolbar's save tool downloads the chart as a PNG named after its metric."""
        for tool in plot.state.select(type=SaveTool):
            tool.filename = self.metric.replace("/", "_")

    def data_frame(self) -> pd.DataFrame:
        """The data drawn, one row per point: run name and id, metric, step, wall-clock
        seconds since the run was created, the value (the mean of the values logged at that
        step, after any downsampling) and the smoothed value drawn. A log axis hides points
        at or below zero; this keeps them. ``branch`` is "live", or "abandoned" for what a
        run logged past a checkpoint it later went back to."""
        labels = self._run_labels(list(self._series))
        frames = []
        for run_id, s in self._series.items():
            branches = {"abandoned": s.abandoned, "live": (s.steps, s.values, s.times)}
            for branch, (steps, values, times) in branches.items():
                if not len(steps):
                    continue  # (pandas deprecates concatenating empty frames)
                frame = pd.DataFrame(
                    {
                        "run": labels[run_id],
                        "run_id": run_id,
                        "metric": self.metric,
                        "branch": branch,
                        "step": steps,
                        "wall_seconds": np.round(times, 3),
                        "value": values,
                        "smoothed": ema(values, self.smoothing),
                    }
                )
                frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else self.empty_frame()

    @staticmethod
    def empty_frame() -> pd.DataFrame:
        """A :meth:`data_frame` with no points."""
        return pd.DataFrame(columns=DATA_COLUMNS)

    def _run_labels(self, run_ids: list[str]) -> dict[str, str]:
        """Legend labels: run names, with the id where two runs share a name."""
        names = {run_id: self.session.store.get_run(run_id).name for run_id in run_ids}
        shared = {name for name in names.values() if list(names.values()).count(name) > 1}
        return {
            run_id: f"{name} ({run_id})" if name in shared else name
            for run_id, name in names.items()
        }

    def _dynamic_map(self) -> hv.DynamicMap:
        return hv.DynamicMap(self._plot, streams=[self._pipe])

    def __panel__(self) -> pn.viewable.Viewable:
        # Wraps in a narrow column: a fixed row ran its slider under the next column.
        controls = pn.FlexBox(
            self.metric_select,
            self.smoothing_slider,
            visible=self.param.show_controls,
            sizing_mode="stretch_width",
        )
        return pn.Column(controls, self._pane, self.markers_text, sizing_mode="stretch_width")


def metric_names(store: RunStore, run_ids: list[str]) -> set[str]:
    """Every scalar name logged by any of ``run_ids`` (one indexed read per run)."""
    return {name for run_id in run_ids for name in store.scalar_names(run_id)}
