"""One run, whole: controls, live chart, objective panel and rollout view. The same
component is the dashboard's Live page and the quickstart notebook's view."""

from __future__ import annotations

import panel as pn
import param

from widgets.common.live import LiveSession
from widgets.common.objective_panel import ObjectivePanel
from widgets.common.run_controls import RunControls
from widgets.common.scalar_chart import ScalarChart
from widgets.runs.rollout_view import RolloutView
from workbench.runs import Run


class RunView(pn.viewable.Viewer):
    """Watch and steer a run; forks made here are overlaid on its chart."""

    run_id = param.String(default="", doc="Run shown.")
    executor = param.Selector(
        default="thread", objects=["thread", "subprocess"], doc="Where starts and forks run."
    )
    metric = param.String(default="charts/episodic_return", doc="Scalar charted first.")

    def __init__(
        self, run: Run | str | None = None, session: LiveSession | None = None, **params
    ) -> None:
        if isinstance(run, Run):
            params.setdefault("run_id", run.id)
            session = session or LiveSession(run.store)
        elif isinstance(run, str):
            params.setdefault("run_id", run)
        super().__init__(**params)
        self.session = session or LiveSession()
        self.controls = RunControls(self.session, run_id=self.run_id, executor=self.executor)
        # A metric asked for is kept; the default follows what the run logs (a HILP run
        # logs no episode return).
        self.chart = ScalarChart(
            self.session, run_ids=[self.run_id] if self.run_id else [], metric=self.metric,
            follow_headline="metric" not in params,
        )  # fmt: skip
        self.objective = ObjectivePanel(
            self.session, on_fork=self._forked, run_id=self.run_id, executor=self.executor
        )
        self.rollout = RolloutView(self.session, run_id=self.run_id)

    @param.depends("run_id", watch=True)
    def _show(self) -> None:
        self.controls.run_id = self.objective.run_id = self.rollout.run_id = self.run_id
        self.chart.follow_headline = True  # another run may log other metrics
        self.chart.run_ids = [self.run_id]

    def _forked(self, child_id: str) -> None:
        self.chart.run_ids = [*self.chart.run_ids, child_id]

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(
            pn.Column(self.controls, self.chart, self.rollout, sizing_mode="stretch_width"),
            self.objective,
            sizing_mode="stretch_width",
        )
