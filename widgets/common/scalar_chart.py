"""Live scalar charts: one metric of several runs overlaid, smoothed, with a marker at
every knob change."""

from __future__ import annotations

import time

import holoviews as hv
import numpy as np
import panel as pn
import param

from widgets.common.live import LiveSession


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
    steps: np.ndarray, values: np.ndarray, max_points: int
) -> tuple[np.ndarray, np.ndarray]:
    """Halve long series by averaging neighbouring pairs until at most ``max_points``."""
    while len(steps) > max_points:
        n = len(steps) // 2 * 2
        tail_steps, tail_values = steps[n:], values[n:]
        steps = np.concatenate([steps[:n].reshape(-1, 2)[:, 1], tail_steps])
        values = np.concatenate([values[:n].reshape(-1, 2).mean(axis=1), tail_values])
    return steps, values


class _Series:
    """What the chart holds of one run: bounded points, the last row read, knob changes."""

    def __init__(self) -> None:
        self.steps = np.zeros(0, dtype=np.int64)
        self.values = np.zeros(0)
        self.last_count = 0  # values averaged into the last point (more may come at its step)
        self.cursor = 0
        self.event_cursor = 0
        self.markers: list[tuple[int, str]] = []


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

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self._series: dict[str, _Series] = {}
        self._pipe = hv.streams.Pipe(data={})
        self._plotted_keys: tuple[str, ...] = ()
        self._last_draw = 0.0
        self._stale = False
        self.metric_select = pn.widgets.Select(
            label="metric", options=[self.metric], value=self.metric
        )
        self.metric_select.link(self, value="metric")
        self.smoothing_slider = pn.widgets.FloatSlider.from_param(self.param.smoothing, step=0.01)
        self.markers_text = pn.widgets.StaticText(
            label="knob changes", value="none", css_classes=["knob-markers"]
        )
        # Unlinked: Panel otherwise gives every chart on a page with the same axis names
        # one shared range, so an empty chart showed another's returns.
        self._pane = pn.pane.HoloViews(
            self._dynamic_map(),
            linked_axes=False,
            sizing_mode="stretch_width",
            css_classes=["scalar-chart"],
        )
        session.register(self)
        self.refresh(force=True)

    @param.depends("run_ids", "metric", watch=True)
    def _reset(self) -> None:
        self._series = {run_id: _Series() for run_id in self.run_ids}
        self.refresh(force=True)

    @param.depends("smoothing", watch=True)
    def _resmooth(self) -> None:
        self._pipe.send(self._pipe.data)

    def refresh(self, force: bool = False) -> None:
        store = self.session.store
        changed = force
        for run_id in self.run_ids:
            series = self._series.setdefault(run_id, _Series())
            rows = store.scalars(run_id, self.metric, after_rowid=series.cursor)
            if rows:
                series.cursor = rows[-1][0]
                steps = np.array([r[1] for r in rows], dtype=np.int64)
                values = np.array([r[3] for r in rows])
                steps, values, counts = mean_per_step(steps, values)
                if len(series.steps) and series.steps[-1] == steps[0]:
                    # More values at the step already drawn last: fold them into its mean.
                    total = series.last_count + counts[0]
                    values[0] = (
                        series.values[-1] * series.last_count + values[0] * counts[0]
                    ) / total
                    counts[0] = total
                    series.steps, series.values = series.steps[:-1], series.values[:-1]
                series.last_count = int(counts[-1])
                series.steps, series.values = downsample(
                    np.concatenate([series.steps, steps]),
                    np.concatenate([series.values, values]),
                    self.max_points,
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
        if self.run_ids:
            options = sorted(set(store.scalar_names(self.run_ids[0])) | {self.metric})
            if options != self.metric_select.options:  # no widget update when unchanged
                self.metric_select.options = options
        if changed:
            self._stale = True
        # Data is read every tick; the plot is redrawn at most every `redraw_every` seconds.
        if self._stale and (force or time.monotonic() - self._last_draw >= self.redraw_every):
            self._stale = False
            self._last_draw = time.monotonic()
            markers = [m for run_id in self.run_ids for m in self._series[run_id].markers]
            self.markers_text.value = "; ".join(f"step {s}: {t}" for s, t in markers[-5:]) or "none"
            self._publish()

    def _publish(self) -> None:
        """Stream the series to the plot. When the set of curves changes, build a new plot
        instead: BokehJS fails on a live legend whose entries change ("cannot find a view
        for Legend")."""
        data = {run_id: s for run_id, s in self._series.items() if len(s.steps) or s.markers}
        keys = tuple(run_id for run_id, s in data.items() if len(s.steps))
        if keys != self._plotted_keys:
            self._plotted_keys = keys
            self._pipe = hv.streams.Pipe(data=data)
            self._pane.object = self._dynamic_map()
        else:
            self._pipe.send(data)

    def _plot(self, data: dict[str, _Series]) -> hv.Overlay:
        # The value axis is named after the metric: it labels the axis, and charts of
        # different metrics never share a range.
        value = hv.Dimension(self.metric.replace("/", "_"), label=self.metric)
        curves, latest = {}, {}
        labels = self._run_labels(list(data))
        for run_id, s in data.items():
            if len(s.steps):
                smoothed = ema(s.values, self.smoothing)
                curves[labels[run_id]] = hv.Curve((s.steps, smoothed), "step", value)
                # A dot at the latest value: a series of one point is seen, and the eye
                # finds where each run is now.
                latest[labels[run_id]] = hv.Scatter((s.steps[-1:], smoothed[-1:]), "step", value)
        if not curves:
            curves = {"no data yet": hv.Curve([], "step", value)}
            latest = {"no data yet": hv.Scatter([], "step", value)}
        marker_steps = [step for s in data.values() for step, _ in s.markers]
        lines = hv.VLines(marker_steps).opts(color="#d62728", line_dash="dashed", line_width=2)
        overlay = hv.NdOverlay(curves, kdims="run") * hv.NdOverlay(latest, kdims="run") * lines
        return overlay.opts(
            # framewise: axes follow the data as it streams in.
            hv.opts.Curve(tools=["hover"], line_width=2, framewise=True),
            hv.opts.Scatter(size=7, framewise=True, show_legend=False),
            hv.opts.NdOverlay(legend_position="bottom_right", framewise=True),
            hv.opts.Overlay(responsive=True, height=self.height, title=self.metric, framewise=True),
        )

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
        return pn.Column(
            pn.Row(self.metric_select, self.smoothing_slider),
            self._pane,
            self.markers_text,
            sizing_mode="stretch_width",
        )
