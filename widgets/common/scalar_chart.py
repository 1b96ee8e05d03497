"""Live scalar charts: one metric of several runs overlaid, smoothed, with a marker at
every knob change, against steps or wall-clock seconds, on a linear or a log axis. Where a
run went back to an earlier checkpoint, the stretch it left behind is drawn faint."""

from __future__ import annotations

import time
from collections.abc import Collection

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool, NumeralTickFormatter, SaveTool
from bokeh.plotting import figure as BokehFigure

from widgets.common.live import LiveSession
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
# HoloViews' default colour cycle, so that these charts match the pages' other plots.
COLORS = ["#30a2da", "#fc4f30", "#e5ae38", "#6d904f", "#8b8b8b", "#17becf", "#9467bd",
          "#d62728", "#1f77b4", "#e377c2", "#8c564b", "#bcbd22"]  # fmt: skip


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


MAX_LEGEND_ENTRIES = 10
"""More runs than this are drawn without a legend."""

# Each trainer's headline metric, in the order a chart prefers them, under a short title
# (a runs table's column title).
HEADLINE_METRICS = {
    "charts/episodic_return": "return",
    "eval/return": "eval return",
    "eval/coverage": "coverage",
    "eval/spearman": "spearman",
    "losses/mse": "mse",
}


def headline_metric(names: Collection[str]) -> str | None:
    """The first of :data:`HEADLINE_METRICS` among ``names``, if any is."""
    return next((metric for metric in HEADLINE_METRICS if metric in names), None)


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
    follow_headline = param.Boolean(
        default=False,
        doc="While the runs log nothing under `metric` (a HILP run has no episode return), "
        "chart their headline metric (HEADLINE_METRICS; else the first they log), until "
        "someone picks a metric in this chart's picker.",
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
        self._plotted: tuple[tuple[str, ...], bool, str] | None = None  # runs, logy, x axis
        self._sources: dict[str, tuple[ColumnDataSource, ColumnDataSource]] = {}
        self._last_draw = 0.0
        self._stale = False
        self._redraw_due = False  # runs or metric changed during a session refresh
        self.metric_select = pn.widgets.Select(
            label="metric", options=[self.metric], value=self.metric, width=260
        )
        self._choosing = False  # the chart sets its picker itself: not a person's pick
        self._following = False  # the chart follows its runs' headline metric in a refresh
        # Before the link: a person's pick stops the following before the chart redraws.
        self.metric_select.param.watch(self._picked, "value")
        self.metric_select.link(self, value="metric")
        self.smoothing_slider = pn.widgets.FloatSlider.from_param(
            self.param.smoothing, step=0.01, width=180
        )
        self.markers_text = pn.widgets.StaticText(
            label="knob changes", value="none", css_classes=["knob-markers"]
        )
        # A Bokeh figure of its own (not a HoloViews plot): a redraw then only replaces
        # its data sources' columns, which costs a fraction of HoloViews re-rendering the
        # overlay, and each chart keeps its own ranges (an empty chart never shows
        # another's).
        self._pane = pn.pane.Bokeh(
            self._new_figure(()), sizing_mode="stretch_width", css_classes=["scalar-chart"]
        )
        session.register(self)
        self.refresh(force=True)

    @property
    def figure(self) -> BokehFigure:
        """The Bokeh figure drawn now."""
        return self._pane.object

    @param.depends("run_ids", "metric", watch=True)
    def _reset(self) -> None:
        # A metric set in code shows in the picker too (its value not among the options
        # made the picker fall back to its first option and chart that instead).
        options = sorted(set(self.metric_select.options) | {self.metric})
        self._choosing = True
        try:
            self.metric_select.param.update(options=options, value=self.metric)
        finally:
            self._choosing = False
        self._series = {run_id: self._new_series(run_id) for run_id in self.run_ids}
        if self.session.refreshing or self._following:
            # Set by another view in the session's refresh, after this chart's own refresh may
            # have built a new figure. A second new figure in the same hold left Panel's
            # styling of the first one, which the browser never got, in the message that
            # replaced it ("reference p10134 isn't known"): drawn at the next refresh. A
            # chart following its runs' headline metric is in its own refresh: drawn there.
            self._redraw_due = True
            return
        self.refresh(force=True)

    def _new_series(self, run_id: str) -> _Series:
        return _Series(origin=self.session.store.get_run(run_id).created_at)

    @param.depends("smoothing", "logy", "x_axis", watch=True)
    def _redraw(self) -> None:
        if self._redraw_due:
            return  # new runs are read, and drawn with these settings, at the next refresh
        self._publish()

    def _picked(self, _: param.parameterized.Event) -> None:
        if not self._choosing:
            self.follow_headline = False  # a person chose: keep their metric

    def _follow_headline(self, logged: set[str]) -> None:
        """Chart the runs' headline metric once they log one; until then ``metric`` if
        they log it, else a stand-in (the first of the ``logged`` names)."""
        wanted = headline_metric(logged) or (self.metric if self.metric in logged else min(logged))
        if wanted != self.metric:
            self._following = True
            try:
                self.metric = wanted  # read and drawn afresh below, in this refresh
            finally:
                self._following = False

    def refresh(self, force: bool = False) -> None:
        store = self.session.store
        wants_names = self.run_ids and (self.show_controls or self.follow_headline)
        names = metric_names(store, self.run_ids) if wants_names else set()
        if self.follow_headline and names:
            self._follow_headline(names)
        force, self._redraw_due = force or self._redraw_due, False
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
            options = names | {self.metric}
            if sorted(options) != self.metric_select.options:  # no widget update when unchanged
                self.metric_select.options = sorted(options)
        if changed:
            self._stale = True
        # Data is read every tick; the plot is redrawn at most every `redraw_every` seconds.
        interval = LiveSession.redraw_interval(self.redraw_every)  # slower with many sessions
        if self._stale and (force or time.monotonic() - self._last_draw >= interval):
            self._stale = False
            self._last_draw = time.monotonic()
            # The latest five of all the runs' changes, in step order.
            markers = sorted(m for run_id in self.run_ids for m in self._series[run_id].markers)
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
        """Put the series into the figure. The data sources' columns are replaced in place;
        a new figure is built only when the set of curves or an axis' kind changes
        (BokehJS fails on a live legend whose entries change: "cannot find a view for
        Legend", and an axis' type is fixed when its figure is built)."""
        data = {
            run_id: s
            for run_id, s in self._series.items()
            if len(s.steps) or s.markers or len(s.abandoned[0])
        }
        drawn = {run_id: self._points(s) for run_id, s in data.items() if len(s.steps)}
        keys = tuple(run_id for run_id, (x, _, _) in drawn.items() if len(x))
        rebuilt = (keys, self.logy, self.x_axis) != self._plotted
        # A new figure gets its data before it joins the page. Changed once shown, its models'
        # changes would be events of their own, and if a second rebuild in the same hold (a
        # sweep's runs changing in the same tick) replaced it, the browser would get events
        # about models it never received: "reference p5088 isn't known".
        figure = self._new_figure(keys) if rebuilt else self.figure
        for run_id in keys:
            x, _, smoothed = drawn[run_id]
            line, dot = self._sources[run_id]
            line.data = {self.x_axis: x, "value": smoothed}
            dot.data = {self.x_axis: x[-1:], "value": smoothed[-1:]}
        faint = [self._points(s, abandoned=True) for s in data.values() if len(s.abandoned[0])]
        self._faint.data = {
            "xs": [x for x, _, smoothed in faint if len(x)],
            "ys": [smoothed for x, _, smoothed in faint if len(x)],
        }
        self._marker_source.data = {"x": self._marker_positions(data)}
        hidden = sum(
            len(s.steps) - len(drawn[run_id][0]) for run_id, s in data.items() if run_id in drawn
        )
        title = self.metric + (f" ({hidden} points <= 0 not on the log axis)" if hidden else "")
        figure.title.text = title if keys or hidden else f"{self.metric} (no data yet)"
        if rebuilt:
            self._pane.object = figure
        if self.session.in_notebook:
            pn.io.push_notebook(self._pane)  # a notebook sends Bokeh changes only when told

    def _new_figure(self, run_ids: tuple[str, ...]) -> BokehFigure:
        """An empty figure with a line and a latest-value dot per run, the abandoned
        stretches faint, and the knob changes as dashed vertical lines."""
        x = self.x_axis
        figure = BokehFigure(
            height=self.height,
            sizing_mode="stretch_width",
            x_axis_label=X_AXES[x],
            # The value axis is named after the metric.
            y_axis_label=self.metric,
            y_axis_type="log" if self.logy else "linear",
            tools="pan,wheel_zoom,box_zoom,reset",
            toolbar_location="right",
            title=self.metric,
        )
        # Steps as 20,000 (not 2.000e+4), seconds as 12.5.
        figure.xaxis.formatter = NumeralTickFormatter(format="0,0" if x == "step" else "0,0.[0]")
        # The toolbar's save tool downloads the chart as a PNG named after its metric.
        figure.add_tools(SaveTool(filename=self.metric.replace("/", "_")))
        self._faint = ColumnDataSource({"xs": [], "ys": []})
        self._marker_source = ColumnDataSource({"x": []})
        figure.multi_line("xs", "ys", source=self._faint, **ABANDONED_STYLE)
        self._sources = {}
        lines = []
        for run_id, label in self._run_labels(list(run_ids)).items():
            color = COLORS[len(lines) % len(COLORS)]
            line = ColumnDataSource({x: [], "value": []})
            dot = ColumnDataSource({x: [], "value": []})
            lines.append(
                figure.line(
                    x,
                    "value",
                    source=line,
                    color=color,
                    line_width=2,
                    legend_label=label,
                    name=label,
                )
            )
            # A dot at the latest value: a series of one point is seen, and the eye finds
            # where each run is now.
            figure.scatter(x, "value", source=dot, color=color, size=7)
            self._sources[run_id] = (line, dot)
        figure.vspan(
            x="x",
            source=self._marker_source,
            line_color="#d62728",
            line_dash="dashed",
            line_width=2,
        )
        hover_x = "@{step}{0,0}" if x == "step" else "@{wall}{0.0} s"
        figure.add_tools(
            HoverTool(
                renderers=lines, tooltips=[("run", "$name"), (x, hover_x), (self.metric, "@value")]
            )
        )
        if lines:
            figure.legend.location = "bottom_right"
            figure.legend.click_policy = "hide"
            # A PBT population or a large sweep: a legend of every run would cover the
            # curves; the hover names the run under the pointer instead.
            figure.legend.visible = len(lines) <= MAX_LEGEND_ENTRIES
        self._plotted = (run_ids, self.logy, x)
        return figure

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
