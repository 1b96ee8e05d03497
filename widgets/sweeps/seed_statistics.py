"""Seed statistics of runs grouped by configuration, as rliable computes them: the
interquartile mean of each configuration's runs with its 95% stratified-bootstrap interval,
the performance profiles, and the probability that the best configuration beats the next.
Recomputed from the store while the runs train, in a thread of its own: the bootstraps of a
PBT population take seconds, which on the server's loop would stall every view of the page."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, Range1d
from bokeh.palettes import Category10_10
from bokeh.plotting import figure as BokehFigure

from widgets.common.live import LiveSession
from widgets.common.plotting import MARKDOWN_CODE_CSS
from widgets.common.scalar_chart import MAX_LEGEND_ENTRIES
from workbench.runs.statistics import (
    group_labels,
    performance_profile,
    probability_of_improvement,
    score_table,
    seed_statistics,
)

PROFILE_POINTS = 60  # thresholds tau of a performance profile


@dataclass(frozen=True)
class _Computed:
    """What one background computation hands to the drawing: the groups' ``ranked`` keys,
    best first, and the figures' data."""

    job: int
    statistics: dict
    ranked: list[str]
    taus: np.ndarray
    profiles: dict
    summary: str


class SeedStatisticsView(pn.viewable.Viewer):
    """IQM with 95% CIs per configuration, performance profiles and the probability of
    improvement, over ``run_ids`` (grouped by all knobs but the seed)."""

    run_ids = param.List(default=[], item_type=str, doc="Runs, grouped by configuration.")
    metric = param.String(default="charts/episodic_return", doc="Scalar scored.")
    mode = param.Selector(default="max", objects=["max", "min"], doc="Higher or lower is better.")
    last_fraction = param.Number(
        default=0.1, bounds=(0.01, 1.0), doc="Each run's score: the mean of this last part."
    )
    reps = param.Integer(default=1000, bounds=(100, 50_000), doc="Bootstrap resamples.")
    every_s = param.Number(default=5.0, bounds=(0.5, None), doc="Seconds between recomputes.")
    width = param.Integer(default=560, bounds=(200, 2000), doc="Plot width in pixels.")

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.intervals = ColumnDataSource(
            {"label": [], "iqm": [], "low": [], "high": [], "n": [], "color": []}
        )
        self.interval_figure = BokehFigure(
            title="Interquartile mean over seeds, 95% bootstrap CI",
            y_range=FactorRange(factors=[]), x_range=Range1d(0, 1),
            frame_width=self.width - 220, frame_height=150, toolbar_location=None,
            x_axis_label=self.metric,
        )  # fmt: skip
        self.interval_figure.hbar(
            y="label", left="low", right="high", height=0.35, source=self.intervals,
            color="color", alpha=0.35,
        )  # fmt: skip
        self.interval_figure.scatter("iqm", "label", source=self.intervals, size=9, color="color")
        self.interval_figure.add_tools(
            HoverTool(tooltips=[("IQM", "@iqm{0.000}"), ("CI", "@low{0.000} .. @high{0.000}"),
                                ("runs", "@n")])
        )  # fmt: skip
        self.profiles = ColumnDataSource({"xs": [], "ys": [], "color": [], "label": []})
        self.profile_figure = BokehFigure(
            title="Performance profile: share of runs above tau",
            frame_width=self.width - 120, frame_height=150, toolbar_location=None,
            x_range=Range1d(0, 1), y_range=Range1d(0, 1.02), x_axis_label="tau",
        )  # fmt: skip
        self.profile_figure.multi_line(
            "xs", "ys", source=self.profiles, color="color", line_width=2, legend_field="label"
        )
        self.profile_figure.legend.location = "top_right"
        self.profile_figure.legend.label_text_font_size = "8pt"
        self.interval_pane = pn.pane.Bokeh(css_classes=["seed-intervals"])
        self.interval_pane.object = self.interval_figure
        self.profile_pane = pn.pane.Bokeh(css_classes=["seed-profiles"])
        self.profile_pane.object = self.profile_figure
        self.summary = pn.pane.Markdown(
            "", css_classes=["seed-summary"], width=self.width, stylesheets=[MARKDOWN_CODE_CSS]
        )
        self._last = 0.0
        self._shown: tuple = ()
        # The computing thread hands its result over under this lock; a result whose job is
        # older than ``_job`` (the runs, the metric or the mode changed meanwhile) is dropped.
        self._lock = threading.Lock()
        self._job = 0
        self._computing: threading.Thread | None = None
        self._computed: _Computed | None = None
        session.register(self)

    @param.depends("run_ids", "metric", "mode", watch=True)
    def _changed(self) -> None:
        with self._lock:
            self._job += 1
            self._shown = ()  # even from the same scores: the mode ranks them the other way
        self._last = 0.0  # recompute at the next refresh
        self.interval_figure.xaxis.axis_label = self.metric

    def refresh(self) -> None:
        """Draw a finished computation, and start the next one when it is time (one at a
        time). The scores are read and bootstrapped in the thread."""
        with self._lock:
            computed, self._computed = self._computed, None
            busy = self._computing is not None and self._computing.is_alive()
            job = self._job
        if computed is not None and computed.job == job:
            self._draw(computed)
        if busy or not self.run_ids or time.monotonic() - self._last < self.every_s:
            return
        self._last = time.monotonic()
        thread = threading.Thread(
            target=self._compute,
            args=(job, list(self.run_ids), self.metric, self.mode, self.last_fraction),
            name="seed-statistics",
            daemon=True,
        )
        with self._lock:
            self._computing = thread
        thread.start()

    def settle(self, timeout: float = 60.0) -> None:
        """Compute now, wait for it and draw it (for tests, and for a notebook that wants
        the figures before its next cell)."""
        with self._lock:
            thread = self._computing
        if thread is not None:
            thread.join(timeout)  # the one under way may have read older scores
        self._last = 0.0
        self.refresh()
        with self._lock:
            thread = self._computing
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"the seed statistics took more than {timeout:.0f} s")
        self.refresh()

    def _compute(
        self, job: int, run_ids: list[str], metric: str, mode: str, last_fraction: float
    ) -> None:
        store = self.session.store
        records = [store.get_run(run_id) for run_id in run_ids]
        scores = score_table(store, records, metric, last_fraction)
        key = tuple((group, values.tobytes()) for group, values in sorted(scores.items()))
        with self._lock:
            if key == self._shown:
                return  # the same scores: no bootstrap (seconds for many groups), nothing sent
        statistics = seed_statistics(scores, reps=self.reps, labels=group_labels(records))
        ranked = sorted(statistics, key=lambda k: statistics[k].iqm, reverse=mode == "max")
        taus, profiles = np.zeros(0), {}
        summary = f"No run has logged `{metric}` yet."
        if statistics:
            every = np.concatenate([scores[k].ravel() for k in ranked])
            low, high = float(every.min()), float(every.max())
            pad = (high - low) * 0.05 or abs(low) * 0.05 or 1.0
            taus = np.linspace(low - pad, high + pad, PROFILE_POINTS)
            profiles = performance_profile({k: scores[k] for k in ranked}, taus, reps=self.reps)
            summary = _summary(statistics, scores, ranked, mode, metric, last_fraction, self.reps)
        with self._lock:
            if job == self._job:
                self._shown = key
                self._computed = _Computed(job, statistics, ranked, taus, profiles, summary)

    def _draw(self, computed: _Computed) -> None:
        statistics, ranked = computed.statistics, computed.ranked
        self.summary.object = computed.summary
        if not statistics:
            self.intervals.data = {k: [] for k in self.intervals.data}
            self.profiles.data = {k: [] for k in self.profiles.data}
            return
        colors = {k: Category10_10[i % 10] for i, k in enumerate(ranked)}
        rows = [statistics[k] for k in ranked]
        labels = [_short(s.label, 36) for s in rows]
        lows = [s.iqm if np.isnan(s.ci_low) else s.ci_low for s in rows]
        highs = [s.iqm if np.isnan(s.ci_high) else s.ci_high for s in rows]
        self.interval_figure.y_range.factors = labels[::-1]
        self.interval_figure.frame_height = max(90, 26 * len(rows))
        self.intervals.data = {
            "label": labels, "iqm": [s.iqm for s in rows], "low": lows, "high": highs,
            "n": [s.n_runs for s in rows], "color": [colors[k] for k in ranked],
        }  # fmt: skip
        start, end = float(computed.taus[0]), float(computed.taus[-1])
        self.interval_figure.x_range.update(start=start, end=end)
        self.profile_figure.x_range.update(start=start, end=end)
        # Past ten groups (a PBT population) the legend would hide the profiles.
        self.profile_figure.legend.visible = len(ranked) <= MAX_LEGEND_ENTRIES
        self.profiles.data = {
            "xs": [computed.taus] * len(ranked),
            "ys": [computed.profiles[k][0] for k in ranked],
            "color": [colors[k] for k in ranked],
            "label": labels,
        }

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.interval_pane, self.profile_pane, self.summary)


def _summary(
    statistics: dict,
    scores: dict,
    ranked: list[str],
    mode: str,
    metric: str,
    last_fraction: float,
    reps: int,
) -> str:
    """The best configuration, and the probability that it beats the runner-up."""
    best = statistics[ranked[0]]
    seeds = "1 seed" if best.n_runs == 1 else f"{best.n_runs} seeds"
    lines = [
        f"**Best:** {best.label}: IQM {best.iqm:.4g} over {seeds}"
        + ("" if np.isnan(best.ci_low) else f" [{best.ci_low:.4g}, {best.ci_high:.4g}]")
    ]
    if len(ranked) > 1:
        first, second = ranked[0], ranked[1]
        runner_up = f"(runner-up: {statistics[second].label})"
        if min(statistics[first].n_runs, statistics[second].n_runs) < 2:
            # One run against one is a coin toss of 0, 1/2 or 1, not a probability.
            lines.append(
                "**P(best beats the runner-up)** needs at least two seeds of each " + runner_up
            )
        else:
            # rliable's P(X > Y) reads "X is better" for higher scores.
            sign = -1 if mode == "min" else 1
            pair = {first: sign * scores[first], second: sign * scores[second]}
            point, low, high = probability_of_improvement(pair, (first, second), reps=reps)
            interval = "" if np.isnan(low) else f" [{low:.2f}, {high:.2f}]"
            lines.append(f"**P(best beats the runner-up)** = {point:.2f}{interval} {runner_up}")
    lines.append(
        f"Score of a run: the mean of the last {last_fraction:.0%} of its "
        f"`{metric}` values. Groups of one run have no interval."
    )
    return "\n\n".join(lines)


def _short(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"
