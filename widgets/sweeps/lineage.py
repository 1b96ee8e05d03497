"""The lineage of a population: one lane per trial, one bar per run along the steps it
trained, and an arrow for each PBT exploit from the donor run at the cloned checkpoint's
step to the trial's new run, with the explored knob values as its tooltip."""

from __future__ import annotations

import json

import panel as pn
import param
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, Range1d
from bokeh.plotting import figure as BokehFigure

from widgets.common.live import LiveSession

STATE_COLORS = {
    "running": "#1f77b4",
    "paused": "#ff7f0e",
    "finished": "#2ca02c",
    "stopped": "#7f7f7f",
    "failed": "#d62728",
    "created": "#bbbbbb",
}


class LineageView(pn.viewable.Viewer):
    """Who was cloned from whom, at which step: the population's tree over time."""

    sweep_id = param.String(default="", doc="Sweep shown.")
    width = param.Integer(default=1100, bounds=(200, 3000), doc="Plot width in pixels.")

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.bars = ColumnDataSource(
            {"lane": [], "start": [], "end": [], "color": [], "run": [], "state": [], "knobs": []}
        )
        self.exploits = ColumnDataSource(
            {"x0": [], "y0": [], "x1": [], "y1": [], "child": [], "changes": []}
        )
        figure = BokehFigure(
            title="Lineage: a bar per run over the steps it trained; arrows: PBT exploits "
            "(the trial continues from the donor's checkpoint, with explored knobs)",
            y_range=FactorRange(factors=[]), x_range=Range1d(0, 1),
            frame_width=self.width - 120, frame_height=160, toolbar_location=None,
            x_axis_label="step",
        )  # fmt: skip
        bars = figure.hbar(
            y="lane", left="start", right="end", height=0.5, color="color", source=self.bars,
        )  # fmt: skip
        figure.segment("x0", "y0", "x1", "y1", source=self.exploits, color="#d62728", line_width=2)
        figure.scatter(
            "x1", "y1", source=self.exploits, marker="triangle", size=10, color="#d62728"
        )
        figure.add_tools(
            HoverTool(renderers=[bars], tooltips=[("run", "@run"), ("state", "@state"),
                                                  ("knobs", "@knobs")])
        )  # fmt: skip
        self.figure = figure
        self.pane = pn.pane.Bokeh(css_classes=["lineage"])
        self.pane.object = figure
        self._shown: tuple = ()
        session.register(self)

    def refresh(self) -> None:
        if not self.sweep_id:
            return
        store = self.session.store
        runs = store.list_runs(self.sweep_id)
        # The fork's parent and step too: a run may be read before they are recorded, and
        # then its step and state never change again (an exploit was left undrawn).
        key = tuple((r.id, r.step, r.state, r.parent_id, r.fork_step) for r in runs)
        if key == self._shown:
            return
        self._shown = key
        lanes = sorted({(r.trial or r.id) for r in runs})
        lane_of = {r.id: (r.trial or r.id).rsplit("_", 1)[-1] for r in runs}
        start_of = {r.id: r.fork_step or 0 for r in runs}
        # Each run's knob events, read once: the explores of forks and the knobs searched.
        knob_changes = {
            r.id: [event[3].get("changes", {}) for event in store.events(r.id, "knob")]
            for r in runs
        }
        searched = {knob for events in knob_changes.values() for c in events for knob in c}
        x0, y0, x1, y1, child, changes = [], [], [], [], [], []
        for record in runs:
            if record.parent_id in lane_of and record.fork_step is not None:
                x0.append(record.fork_step)
                y0.append(lane_of[record.parent_id])
                x1.append(record.fork_step)
                y1.append(lane_of[record.id])
                child.append(record.id)
                explored = knob_changes[record.id]
                changes.append(json.dumps(explored[0] if explored else {}))
        self.figure.y_range.factors = [lane.rsplit("_", 1)[-1] for lane in lanes][::-1]
        self.figure.frame_height = max(100, 34 * len(lanes))
        self.figure.x_range.update(start=0, end=max([r.step for r in runs] + [1]) * 1.02)
        self.bars.data = {
            "lane": [lane_of[r.id] for r in runs],
            "start": [start_of[r.id] for r in runs],
            "end": [max(r.step, start_of[r.id]) for r in runs],
            "color": [STATE_COLORS.get(r.state, "#999") for r in runs],
            "run": [r.id for r in runs],
            "state": [r.state for r in runs],
            "knobs": [
                ", ".join(f"{k}={r.config.get(k):.3g}" if isinstance(r.config.get(k), float)
                          else f"{k}={r.config.get(k)}" for k in sorted(searched))
                for r in runs
            ],
        }  # fmt: skip
        self.exploits.data = {
            "x0": x0, "y0": y0, "x1": x1, "y1": y1, "child": child, "changes": changes,
        }  # fmt: skip

    @property
    def exploit_count(self) -> int:
        return len(self.exploits.data["child"])

    def __panel__(self) -> pn.viewable.Viewable:
        return self.pane
