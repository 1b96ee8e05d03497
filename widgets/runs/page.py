"""The Runs page: every run in a table, and the selected runs' metrics, one panel each."""

from __future__ import annotations

import io
from collections.abc import Callable

import pandas as pd
import panel as pn
import param

from widgets.common.live import LiveSession
from widgets.common.plotting import MARKDOWN_CODE_CSS
from widgets.common.scalar_chart import X_AXES, ScalarChart, headline_metric, metric_names
from widgets.runs.runs_table import RunsTable
from widgets.sweeps.seed_statistics import SeedStatisticsView

# The seed statistics' title, the same on every load (a 24 px heading with pink code on a
# first load, a small one with blue code once the tab was revisited: MARKDOWN_CODE_CSS).
SEED_TITLE_CSS = ":host h4 { font-size: 1.25rem; font-weight: 500; margin: 0.6em 0 0.2em; }"

HINT = "Select runs in the table (the boxes on the left) to draw their metrics here."


class RunsPage(pn.viewable.Viewer):
    """The table of runs above one chart per chosen metric, overlaying the selected rows.

    The metric picker offers what the selected runs log (read from the store, so it grows
    as they train); the smoothing, the log scale and the x-axis apply to every panel. The
    data drawn downloads as one CSV; each chart's toolbar saves it as a PNG.
    """

    metrics = param.List(default=[], item_type=str, doc="Metrics drawn, one panel each.")
    smoothing = param.Number(default=0.6, bounds=(0.0, 0.99), doc="EMA smoothing weight.")
    logy = param.Boolean(default=False, doc="Log-scale value axes.")
    x_axis = param.Selector(
        default="step",
        objects=list(X_AXES),
        doc="Horizontal axis: training step or wall-clock seconds since each run was created.",
    )
    max_panels = param.Integer(
        default=4,
        bounds=(1, 12),
        doc="At most this many metric panels: each reads the store at every session tick.",
    )
    refresh_every = param.Integer(
        default=4, bounds=(1, None), doc="Session ticks between re-reads of the metric names."
    )

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.table = RunsTable(session)
        # Charts are slots, made when first needed and reused: never more than
        # `max_panels` of them read the store, and an unused one reads nothing (no runs).
        self.charts: list[ScalarChart] = []
        self._chart_views: list[pn.viewable.Viewable] = []
        self.metric_choice = pn.widgets.MultiChoice.from_param(
            self.param.metrics,
            name="metrics",
            options=[],
            max_items=self.max_panels,
            placeholder="add a metric",
            width=380,
            css_classes=["runs-metrics"],
        )
        self.smoothing_slider = pn.widgets.FloatSlider.from_param(
            self.param.smoothing, step=0.01, width=180
        )
        self.logy_box = pn.widgets.Checkbox.from_param(
            self.param.logy, name="log scale", css_classes=["runs-logy"], align="end"
        )
        self.x_axis_buttons = pn.widgets.RadioButtonGroup.from_param(
            self.param.x_axis,
            options={label: key for key, label in X_AXES.items()},
            css_classes=["runs-x-axis"],
            align="end",
        )
        self.download = pn.widgets.FileDownload(
            callback=self._csv_file,
            filename="runs.csv",
            label="Download CSV",
            color="primary",
            variant="outline",
            css_classes=["runs-csv"],
            align="end",
            width=150,
        )
        self.grid = pn.GridBox(ncols=2, sizing_mode="stretch_width", css_classes=["runs-charts"])
        self.hint = pn.pane.Markdown(HINT, css_classes=["runs-hint"])
        # Runs that differ only by their seed, compared as rliable does (the first metric).
        self.seed_statistics = SeedStatisticsView(session, width=620)
        self.seed_title = pn.pane.Markdown(
            "", css_classes=["runs-seed-title"], stylesheets=[SEED_TITLE_CSS, MARKDOWN_CODE_CSS]
        )
        self.seed_panel = pn.Column(self.seed_title, self.seed_statistics, visible=False)
        self._ticks = 0
        self.table.param.watch(self._selection_changed, "selection")
        self._sync_charts()
        session.register(self)

    # ---- metrics ---------------------------------------------------------------------------

    def _selection_changed(self, _: param.parameterized.Event) -> None:
        self._update_options(selection_changed=True)
        self._sync_charts()

    def _update_options(self, selection_changed: bool = False) -> None:
        """Offer the metrics the selected runs log. A new selection keeps the chosen metrics
        it still logs, and picks a headline metric when none is left."""
        options = sorted(metric_names(self.session.store, self.table.selection))
        if options != self.metric_choice.options:  # no widget update when unchanged
            self.metric_choice.options = options
        if selection_changed:
            kept = [m for m in self.metrics if m in options]
            if not kept and options:
                kept = [headline_metric(options) or options[0]]
            if kept != self.metrics:
                self._after_options_sent(lambda: setattr(self, "metrics", kept))

    @staticmethod
    def _after_options_sent(change: Callable[[], None]) -> None:
        """``change`` in the browser's next message when there is a browser. A picker that
        gets its new options and its new choice in one message (as Panel batches what an
        event handler changes) draws the options without the choice, and the user's next
        pick then replaced the chosen metrics instead of adding to them."""
        document = pn.state.curdoc
        if document is not None and document.session_context is not None:
            document.add_next_tick_callback(change)
        else:
            change()

    @param.depends("metrics", "smoothing", "logy", "x_axis", watch=True)
    def _sync_charts(self) -> None:
        """One chart per chosen metric, all over the selected runs."""
        runs = list(self.table.selection)
        shown = self.metrics[: self.max_panels] if runs else []
        while len(self.charts) < len(shown):
            chart = ScalarChart(self.session, show_controls=False, height=300)
            self.charts.append(chart)
            self._chart_views.append(pn.panel(chart))  # built once, shown again and again
        for i, chart in enumerate(self.charts):
            chart.param.update(
                run_ids=runs if i < len(shown) else [],
                metric=shown[i] if i < len(shown) else chart.metric,
                smoothing=self.smoothing,
                logy=self.logy,
                x_axis=self.x_axis,
            )
        self.grid.ncols = 1 if len(shown) == 1 else 2
        self.grid.objects = self._chart_views[: len(shown)]
        self.hint.visible = not shown
        compared = runs if len(runs) >= 2 and shown else []
        metric = shown[0] if shown else self.seed_statistics.metric
        mode = "min" if "loss" in metric.lower() or "mse" in metric.lower() else "max"
        self.seed_statistics.param.update(run_ids=compared, metric=metric, mode=mode)
        better = "lower" if mode == "min" else "higher"
        self.seed_title.object = (
            f"#### Seed statistics of the {len(runs)} selected runs on `{metric}`\n"
            f"Grouped by every knob but the seed; {better} is better."
            if compared
            else ""
        )
        self.seed_panel.visible = bool(compared)

    @property
    def shown_charts(self) -> list[ScalarChart]:
        return [chart for chart in self.charts if chart.run_ids]

    # ---- download --------------------------------------------------------------------------

    def data_frame(self) -> pd.DataFrame:
        """The data of every panel shown: one row per point (see ScalarChart.data_frame)."""
        frames = [chart.data_frame() for chart in self.shown_charts]
        return pd.concat(frames, ignore_index=True) if frames else ScalarChart.empty_frame()

    def _csv_file(self) -> io.StringIO:
        return io.StringIO(self.data_frame().to_csv(index=False))

    # ---- live ------------------------------------------------------------------------------

    def refresh(self) -> None:
        # The selected runs log new metrics as they train (evaluations come later).
        self._ticks += 1
        if self._ticks % self.refresh_every == 0 and self.table.selection:
            self._update_options()

    def __panel__(self) -> pn.viewable.Viewable:
        controls = pn.FlexBox(
            self.metric_choice,
            self.smoothing_slider,
            self.x_axis_buttons,
            self.logy_box,
            self.download,
            align_items="end",
            sizing_mode="stretch_width",
        )
        caption = pn.pane.Markdown(
            "Each chart's toolbar saves it as a PNG (the disk icon); the CSV holds the data"
            " drawn, smoothed and raw.",
            styles={"color": "#666", "font-size": "0.9em"},
        )
        return pn.Column(
            self.table, controls, caption, self.hint, self.grid, self.seed_panel,
            sizing_mode="stretch_width",
        )  # fmt: skip
