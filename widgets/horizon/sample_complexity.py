"""The effective horizon's predicted sample complexity beside GORP's, SQIRL's and PPO's
measured ones (no prediction for a stochastic MDP, where the bound is undefined)."""

from __future__ import annotations

import time

import holoviews as hv
import numpy as np
import panel as pn
import param

from widgets.common import run_in_thread
from widgets.common.plotting import figure_pane
from widgets.horizon.progress import WorkProgress
from workbench.horizon import HorizonAnalysis, HorizonMDP, NotEnoughMemory

ESTIMATES = ("predicted T^2 A^H", "GORP", "SQIRL", "PPO")


def _complexity_bars(data: dict[str, float] | None) -> hv.Bars:
    # Always the same four bars (NaN: not measured yet): new categories would make Bokeh
    # replace the axis' range while the browser still refers to the old one.
    data = data or {}
    rows = [(name, data.get(name, np.nan)) for name in ESTIMATES]
    rows = [(name, steps if np.isfinite(steps) else np.nan) for name, steps in rows]
    # A log axis needs an explicit floor (bars start at 0): one step, up to a decade above
    # the tallest bar.
    tallest = np.nanmax([steps for _, steps in rows] + [1.0])
    return hv.Bars(rows, "estimate", "environment steps").opts(
        logy=True, ylim=(1, 10 * tallest), color="estimate", cmap="Category10",
        framewise=True, tools=["hover"],
    )  # fmt: skip


class SampleComplexity(pn.viewable.Viewer):
    """The effective horizon's predicted sample complexity, T^2 A^H, beside the measured
    sample complexities of GORP, SQIRL and PPO on the same MDP (steps until each acts
    optimally; measured on request: PPO takes a while). GORP and SQIRL are medians of
    25 runs searched up to ``max_samples`` steps each, as the authors' ``run_gorp.jl``.
    A stochastic MDP has no prediction (its bound is undefined): the table says so.
    While it measures, its status line names the learner, its runs (or PPO's steps) done
    and the time left."""

    ppo_steps = param.Integer(50_000, bounds=(1_000, 10**7), doc="PPO's step budget.")
    max_samples = param.Integer(
        1_000_000, bounds=(1_000, 10**9), doc="Most environment steps of one GORP or SQIRL run."
    )

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.data: dict[str, float] | None = None
        self._pipe = hv.streams.Pipe(data=None)
        chart = hv.DynamicMap(_complexity_bars, streams=[self._pipe]).opts(
            frame_width=320, frame_height=200, toolbar=None,
            title="predicted against measured sample complexity",
        )  # fmt: skip
        self.button = pn.widgets.Button(
            label="Measure GORP, SQIRL and PPO", css_classes=["horizon-measure"]
        )
        self.status = pn.widgets.StaticText(value="", css_classes=["horizon-measure-status"])
        self.progress = WorkProgress(self.status, css_class="horizon-measure-progress")
        self.table = pn.pane.Markdown("", css_classes=["horizon-complexity"])
        self._pane = pn.Column(
            pn.Row(self.button, self.status),
            self.progress,
            pn.FlexBox(figure_pane(chart), self.table),
        )
        self._target: tuple[HorizonMDP, HorizonAnalysis] | None = None
        self.button.on_click(lambda _: self.request())

    def target(self, mdp: HorizonMDP, analysis: HorizonAnalysis) -> None:
        """The MDP the next measurement runs on; shows its prediction at once."""
        self._target = (mdp, analysis)
        self.show({"predicted T^2 A^H": analysis.predicted_sample_complexity})

    def request(self) -> None:
        if self._target is not None:
            run_in_thread(self.status, lambda: self.measure(*self._target))

    def measure(self, mdp: HorizonMDP, analysis: HorizonAnalysis) -> dict[str, float] | None:
        """Measure GORP and SQIRL with k = min_k and PPO, then draw them; None, with the
        reason in the status line, where they would not fit in memory."""
        from workbench.horizon.learners import MEASURED_LEARNERS, measured_sample_complexities

        self.progress.begin(f"measuring with k = {analysis.min_k.k}")

        def report(learner: str, done: int, total: int) -> None:
            order = f"{learner} ({MEASURED_LEARNERS.index(learner) + 1} of 3)"
            if learner == "PPO":
                self.progress.report(order, done, total, unit="steps")
            else:
                # The search's bisection may end early: its total is an upper bound.
                self.progress.report(order, done, total, kind="at most", unit="runs")

        start = time.perf_counter()
        try:
            measured = measured_sample_complexities(
                mdp, k=analysis.min_k.k, max_samples=self.max_samples,
                ppo_steps=self.ppo_steps, progress=report,
            )  # fmt: skip
        except NotEnoughMemory as error:
            self.progress.finish(f"cannot measure: {error}")
            return None
        finally:
            self.progress.stop()  # after a failure: run_in_thread writes it next
        data = {"predicted T^2 A^H": analysis.predicted_sample_complexity} | measured
        self.show(data)
        self.progress.finish(
            f"measured with k = {analysis.min_k.k} in {time.perf_counter() - start:.0f} s"
        )
        return data

    def show(self, data: dict[str, float | None]) -> None:
        """Draw ``data`` (steps per estimate; None: no prediction, a stochastic MDP)."""
        self.data = data
        self._pipe.send({name: np.nan if steps is None else steps for name, steps in data.items()})

        def cell(steps: float | None) -> str:
            if steps is None:
                return "none: the bound is defined for deterministic MDPs only"
            return f"{steps:,.0f}" if np.isfinite(steps) else "not within budget"

        rows = "\n".join(f"| {name} | {cell(steps)} |" for name, steps in data.items())
        self.table.object = "| estimate | steps |\n|---|---:|\n" + rows

    def __panel__(self) -> pn.viewable.Viewable:
        return self._pane
