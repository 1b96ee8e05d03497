"""A sweep's trials: one row per run (a PBT trial that exploited has a run per stretch),
with its state, progress, score and searched knobs; and the parallel-coordinates view of
the knobs against the score."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import ColorBar, ColumnDataSource, LabelSet, LinearColorMapper, Range1d
from bokeh.palettes import Viridis256
from bokeh.plotting import figure as BokehFigure

from widgets.common.live import LiveSession
from workbench.runs.store import RunRecord
from workbench.runs.sweeps import SearchParam, SweepSpec


def _number(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.4g}")


class TrialsTable(pn.viewable.Viewer):
    """The runs of one sweep, newest state first read from the store at each refresh."""

    sweep_id = param.String(default="", doc="Sweep shown.")

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(), disabled=True, show_index=False, height=230, pagination=None,
            sizing_mode="stretch_width", css_classes=["trials-table"], layout="fit_data_stretch",
        )  # fmt: skip
        self._shown: pd.DataFrame | None = None
        session.register(self)

    def frame(self) -> pd.DataFrame:
        """The table's rows: run, trial, state, step, score, searched knobs, seed, parent."""
        store = self.session.store
        if not self.sweep_id:
            return pd.DataFrame()
        sweep = store.get_sweep(self.sweep_id)
        spec = SweepSpec(**sweep.spec)
        rows = []
        for record in store.list_runs(self.sweep_id):
            latest = store.last_scalars(record.id).get(spec.metric)
            row = {
                "run": record.id,
                "trial": (record.trial or "").rsplit("_", 1)[-1],
                "state": record.state,
                "step": record.step,
                spec.metric.rsplit("/", 1)[-1]: _number(latest),
            }
            for search in spec.search_params():
                value = record.config.get(search.knob)
                row[search.knob] = _number(value) if isinstance(value, float) else value
            row["seed"] = record.config.get("seed")
            row["cloned from"] = (
                f"{record.parent_id} @ {record.fork_step}" if record.parent_id else ""
            )
            rows.append(row)
        return pd.DataFrame(rows)

    def refresh(self) -> None:
        frame = self.frame()
        if self._shown is not None and frame.equals(self._shown):
            return
        self._shown = frame
        self.table.value = frame

    def __panel__(self) -> pn.viewable.Viewable:
        return self.table


class ParallelCoordinates(pn.viewable.Viewer):
    """One vertical axis per searched knob and one for the score; each run a line through its
    values, coloured by its score. Log-uniform knobs are drawn on a log scale."""

    sweep_id = param.String(default="", doc="Sweep shown.")
    width = param.Integer(default=560, bounds=(200, 2000), doc="Plot width in pixels.")

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.colors = LinearColorMapper(palette=Viridis256, low=0, high=1)
        self.lines = ColumnDataSource({"xs": [], "ys": [], "score": [], "run": []})
        self.ticks = ColumnDataSource({"x": [], "y": [], "text": []})
        self.axes = ColumnDataSource({"x": [], "y0": [], "y1": []})
        figure = BokehFigure(
            title="Knobs against the score (one line per run)",
            frame_width=self.width - 140, frame_height=220, toolbar_location=None,
            x_range=Range1d(-0.3, 1.3), y_range=Range1d(-0.16, 1.1),
        )  # fmt: skip
        figure.segment("x", "y0", "x", "y1", source=self.axes, color="#999", line_width=1)
        figure.multi_line(
            "xs", "ys", source=self.lines, line_width=2, alpha=0.8,
            color={"field": "score", "transform": self.colors},
        )  # fmt: skip
        figure.add_layout(
            LabelSet(x="x", y="y", text="text", source=self.ticks, text_font_size="8pt",
                     text_align="center", text_baseline="middle")
        )  # fmt: skip
        figure.add_layout(ColorBar(color_mapper=self.colors, title="score", width=10), "right")
        figure.axis.visible = False
        figure.grid.visible = False
        self.figure = figure
        self.pane = pn.pane.Bokeh(css_classes=["parallel-coordinates"])
        self.pane.object = figure
        self._shown: tuple = ()
        session.register(self)

    def refresh(self) -> None:
        if not self.sweep_id:
            return
        store = self.session.store
        spec = SweepSpec(**store.get_sweep(self.sweep_id).spec)
        params = spec.search_params()
        runs = [r for r in store.list_runs(self.sweep_id) if r.step > 0]
        scores = [store.last_scalars(r.id).get(spec.metric) for r in runs]
        kept = [(r, s) for r, s in zip(runs, scores, strict=True) if s is not None]
        key = tuple((r.id, s) for r, s in kept)
        if key == self._shown:
            return
        self._shown = key
        self._draw(params, spec, kept)

    def _draw(self, params: list[SearchParam], spec: SweepSpec, kept: list) -> None:
        axes = [p.knob for p in params] + [spec.metric.rsplit("/", 1)[-1]]
        xs = np.linspace(0, 1, len(axes)) if len(axes) > 1 else np.array([0.5])
        columns = [_axis_values(p, [r for r, _ in kept]) for p in params]
        columns.append((np.array([s for _, s in kept], dtype=np.float64), False))
        scaled, tick_x, tick_y, tick_text = [], [], [], []
        for x, axis, (values, log) in zip(xs, axes, columns, strict=True):
            shown = np.log10(values) if log else values
            low, high = (float(shown.min()), float(shown.max())) if len(shown) else (0.0, 1.0)
            scaled.append((shown - low) / (high - low or 1.0))
            ends = (10**low, 10**high) if log else (low, high)
            # Each axis: its lowest value below it, its highest above, its name at the foot.
            tick_x += [x, x, x]
            tick_y += [-0.04, 1.04, -0.1]
            tick_text += [f"{ends[0]:.3g}", f"{ends[1]:.3g}", axis + (" (log)" if log else "")]
        self.axes.data = {"x": list(xs), "y0": [0.0] * len(xs), "y1": [1.0] * len(xs)}
        lines_x = [list(xs) for _ in kept]
        lines_y = [[float(column[i]) for column in scaled] for i in range(len(kept))]
        scores = [s for _, s in kept]
        if scores:
            low, high = min(scores), max(scores)
            if spec.mode == "min":  # the best line is the brightest either way
                low, high = high, low
            self.colors.update(low=low, high=high if high != low else low + 1e-9)
        self.lines.data = {
            "xs": lines_x, "ys": lines_y, "score": scores, "run": [r.id for r, _ in kept],
        }  # fmt: skip
        self.ticks.data = {"x": tick_x, "y": tick_y, "text": tick_text}

    def __panel__(self) -> pn.viewable.Viewable:
        return self.pane


def _axis_values(search: SearchParam, runs: list[RunRecord]) -> tuple[np.ndarray, bool]:
    """A knob's values over runs, as numbers for an axis (choices by their index), and
    whether the axis is logarithmic."""
    values = [r.config.get(search.knob) for r in runs]
    if search.kind in ("choice", "grid") and not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in search.values
    ):
        order = {repr(v): i for i, v in enumerate(search.values)}
        return np.array([order.get(repr(v), 0) for v in values], dtype=np.float64), False
    return np.array(values, dtype=np.float64), search.kind == "loguniform"
