"""The Horizon page's sweeps: the same MDP at several horizons T or discounts gamma, its
returns, min_k, the planning window and (deterministic MDPs only) the bound."""

from __future__ import annotations

import threading
import time

import holoviews as hv
import numpy as np
import panel as pn
import param

from widgets.common import run_in_thread
from widgets.common.plotting import figure_pane
from widgets.horizon.progress import WorkProgress
from workbench.horizon import HorizonMDP, Progress
from workbench.horizon.sweeps import discount_sweep, horizon_sweep


def _axis(data: dict[str, np.ndarray]) -> tuple[np.ndarray, str]:
    """The swept values and their axis label (horizon T or discount gamma)."""
    return (data["discount"], "gamma") if "discount" in data else (data["horizon"], "T")


def _sweep_returns(data: dict[str, np.ndarray] | None) -> hv.Overlay:
    data = data or {"horizon": np.zeros(0), "optimal": np.zeros(0), "random": np.zeros(0)}
    x, label = _axis(data)
    layers = [
        hv.Curve((x, data[name]), label, "return", label=name).opts(color=color, framewise=True)
        * hv.Scatter((x, data[name]), label, "return", label=name).opts(
            color=color, size=5, framewise=True
        )
        for name, color in (("optimal", "#2ca02c"), ("random", "#ff7f0e"))
    ]
    return hv.Overlay(layers)


def _sweep_horizons(data: dict[str, np.ndarray] | None) -> hv.Overlay:
    empty = np.zeros(0)
    data = data or {"horizon": empty, "min_k": empty, "epw": empty, "effective_horizon": empty}
    x, axis = _axis(data)
    layers = [
        hv.Curve((x, data[name]), axis, "steps", label=label).opts(color=color, framewise=True)
        * hv.Scatter((x, data[name]), axis, "steps", label=label).opts(
            color=color, size=5, framewise=True
        )
        for name, label, color in (
            ("effective_horizon", "bound H", "#1f77b4"),
            ("min_k", "min_k", "#2ca02c"),
            ("epw", "epw", "#9467bd"),
        )
    ]
    return hv.Overlay(layers)


class HorizonSweep(pn.viewable.Viewer):
    """The same MDP at several horizons T, or discounts gamma: the optimal and random
    returns, and the bound on the effective horizon with min_k and the planning window."""

    axis = param.Selector(default="horizon", objects=["horizon", "discount"], doc="What varies.")

    width = param.Integer(default=360, bounds=(100, 2000), doc="Plot width in pixels.")
    height = param.Integer(default=220, bounds=(100, 2000), doc="Plot height in pixels.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.data: dict[str, np.ndarray] | None = None
        self._pipe = hv.streams.Pipe(data=None)
        style = {
            "frame_width": self.width, "frame_height": self.height, "framewise": True,
            "toolbar": None, "legend_position": "top_left",
        }  # fmt: skip
        returns = hv.DynamicMap(_sweep_returns, streams=[self._pipe]).opts(
            hv.opts.Overlay(title="returns", **style)
        )
        horizons = hv.DynamicMap(_sweep_horizons, streams=[self._pipe]).opts(
            hv.opts.Overlay(title="bound, min_k and epw", **style)
        )
        self._mdp: HorizonMDP | None = None
        self._lock = threading.Lock()  # one sweep at a time: the page's or the axis switch's
        choice = pn.widgets.RadioButtonGroup.from_param(
            self.param.axis, options={"against T": "horizon", "against gamma": "discount"}
        )
        self.status = pn.widgets.StaticText(value="", css_classes=["sweep-axis-status"])
        self.progress = WorkProgress(self.status, css_class="sweep-axis-progress")
        self.param.watch(self._axis_switched, "axis")
        self._pane = pn.Column(
            pn.Row(choice, self.status),
            self.progress,
            # Wraps on a narrow window instead of cutting the second chart off.
            pn.FlexBox(
                figure_pane(returns, css_classes=["sweep-returns"]),
                figure_pane(horizons, css_classes=["sweep-horizons"]),
            ),
        )

    def _axis_switched(self, _) -> None:
        # A sweep of a large MDP takes a minute: off the server's loop, with its progress.
        if self._mdp is not None:
            mdp = self._mdp
            run_in_thread(self.status, lambda: self._sweep_with_progress(mdp))

    def reporter(self, progress: WorkProgress) -> Progress:
        """A ``progress(done, total)`` for the next sweep, reporting to ``progress``."""
        against = "T" if self.axis == "horizon" else "gamma"
        # A point at a long horizon takes far longer than one at a short one (its loops
        # run over T and over k up to T): their count tells no time left. Every point of
        # a discount sweep has the MDP's own T.
        return lambda done, total: progress.report(
            f"sweep against {against}", done, total, unit="points",
            estimate=self.axis == "discount",
        )  # fmt: skip

    def _sweep_with_progress(self, mdp: HorizonMDP) -> None:
        against = "T" if self.axis == "horizon" else "gamma"
        self.progress.begin("")
        try:
            start = time.perf_counter()
            data = self.show(mdp, progress=self.reporter(self.progress))
            seconds = time.perf_counter() - start
            self.progress.finish(
                f"swept against {against}: {len(data[self.axis])} points in {seconds:.1f} s"
            )
        finally:
            self.progress.stop()  # after a failure: run_in_thread writes it next

    def show(
        self, mdp: HorizonMDP, horizons: list[int] | None = None, progress: Progress | None = None
    ) -> dict[str, np.ndarray]:
        """Sweep ``mdp`` over ``horizons`` (default: 1 to its T, geometrically) or over
        the default discounts, as ``axis`` says, and draw; ``progress`` is called with
        (points done, points)."""
        with self._lock:
            self._mdp = mdp
            if self.axis == "horizon":
                self.data = horizon_sweep(mdp, horizons, progress=progress)
            else:
                self.data = discount_sweep(mdp, progress=progress)
            self._pipe.send(self.data)
            return self.data

    def __panel__(self) -> pn.viewable.Viewable:
        return self._pane
