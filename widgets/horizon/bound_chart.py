"""The Horizon page's bound chart: H_k = k + log_A(m) per lookahead k, the failed k, T and
min_k; for a stochastic MDP, where the bound is undefined, a message instead."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
import param

from widgets.common.plotting import figure_pane
from workbench.horizon import BOUND_UNDEFINED, HorizonAnalysis


def bound_entries(analysis: HorizonAnalysis) -> list[dict[str, object]]:
    """One row per k the bound tried, in order of k: ``failed`` k with the (t, s) where a
    suboptimal action tied the best, the others with H_k, m, gap, var and the (t, s)
    attaining m. None for a stochastic MDP, which has no bound."""
    rows: dict[int, dict[str, object]] = {}
    if analysis.bound is None:
        return []
    for term in analysis.bound.terms:
        rows[term.k] = {
            "k": term.k, "failed": False, "H_k": term.horizon_k, "m": term.m,
            "gap": term.gap, "var": term.var, "t": term.t, "s": term.s,
        }  # fmt: skip
    for k, (t, s) in analysis.bound.failures.items():
        rows[k] = {
            "k": k, "failed": True, "H_k": np.nan, "m": np.nan, "gap": 0.0, "var": np.nan,
            "t": t, "s": s,
        }  # fmt: skip
    return [rows[k] for k in sorted(rows)]


_BOUND_VDIMS = ["H_k", "m", "gap", "var", "t", "s"]


def _bound_overlay(data: dict[str, object] | None) -> hv.Overlay:
    entries = [] if data is None else data["entries"]
    horizon = 1.0 if data is None else float(data["horizon"])
    chosen_k = 1.0 if data is None else float(data["min_k"])
    worked = [e for e in entries if not e["failed"]]
    failed = [e for e in entries if e["failed"]]

    def columns(rows: list[dict[str, object]], height: float | None = None) -> dict:
        table = {"k": [r["k"] for r in rows]}
        for name in _BOUND_VDIMS:
            table[name] = [
                height if name == "H_k" and height is not None else r[name] for r in rows
            ]
        return table

    # Ranges per frame: k from 1 to the last k tried, H_k from 0 to T.
    last_k = max([e["k"] for e in entries] + [chosen_k, 1])
    spikes = (
        hv.Spikes(columns(worked), "k", _BOUND_VDIMS)
        .redim.range(k=(0.5, last_k + 0.5), H_k=(0, horizon * 1.05))
        .opts(color="#1f77b4", line_width=10, alpha=0.5, framewise=True)
    )
    points = hv.Points(columns(worked), ["k", "H_k"], _BOUND_VDIMS[1:]).opts(
        color="#1f77b4", size=8, tools=["hover"], framewise=True
    )
    # A failed k has no H_k: it is marked at T, the bound's fallback.
    fails = hv.Points(columns(failed, horizon), ["k", "H_k"], _BOUND_VDIMS[1:]).opts(
        color="#d62728", marker="x", size=12, line_width=3, tools=["hover"], framewise=True
    )
    top = hv.HLine(horizon).opts(color="#555555", line_dash="dashed", line_width=1)
    least = hv.VLine(chosen_k).opts(color="#2ca02c", line_dash="dotted", line_width=2)
    return spikes * points * fails * top * least


class BoundChart(pn.viewable.Viewer):
    """The effective-horizon bound per k: H_k = k + log_A(m) of each k that worked (bars,
    hover: m, gap, var and the (t, s) attaining m), each failed k as a red cross at T
    (hover: the (t, s) where a suboptimal action tied), the horizon T dashed and min_k
    dotted. A stochastic MDP gets the chart emptied and a message saying why: the bound
    is defined for deterministic MDPs only."""

    width = param.Integer(default=420, bounds=(100, 2000), doc="Plot width in pixels.")
    height = param.Integer(default=260, bounds=(100, 2000), doc="Plot height in pixels.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.entries: list[dict[str, object]] = []
        self._pipe = hv.streams.Pipe(data=None)
        figure = hv.DynamicMap(_bound_overlay, streams=[self._pipe]).opts(
            hv.opts.Overlay(
                frame_width=self.width, frame_height=self.height, framewise=True, toolbar=None,
                title="bound per k: H_k = k + log_A(m)", xlabel="lookahead k", ylabel="H_k",
            )
        )  # fmt: skip
        self._chart = figure_pane(figure, css_classes=["bound-chart"])
        self.message = pn.pane.Markdown("", visible=False, css_classes=["bound-message"])
        self._pane = pn.Column(self._chart, self.message)

    def show(self, analysis: HorizonAnalysis) -> None:
        """Draw the bound of ``analysis`` (none for a stochastic MDP: a message)."""
        self.entries = bound_entries(analysis)
        self._pipe.send(
            {"entries": self.entries, "horizon": analysis.horizon, "min_k": analysis.min_k.k}
        )
        undefined = analysis.bound is None
        self.message.param.update(
            object=f"**No bound**: {BOUND_UNDEFINED}." if undefined else "", visible=undefined
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return self._pane
