"""A skill discovery run, whole: controls, trajectories by skill, the latent map, coverage,
phi's loss, the constraint's violation and the dual variable, and the objective panel."""

from __future__ import annotations

import panel as pn
import param

from widgets.common.live import LiveSession
from widgets.common.objective_panel import ObjectivePanel
from widgets.common.run_controls import RunControls
from widgets.common.scalar_chart import ScalarChart
from widgets.skills.picker import SkillPicker
from widgets.skills.trajectories import LatentMap, SkillTrajectories


class SkillsView(pn.viewable.Viewer):
    """Watch and steer a METRA / DIAYN / LSD run."""

    run_id = param.String(default="", doc="Run shown.")
    executor = param.Selector(
        default="thread", objects=["thread", "subprocess"], doc="Where starts and forks run."
    )

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.controls = RunControls(session, run_id=self.run_id, executor=self.executor)
        self.trajectories = SkillTrajectories(session, run_id=self.run_id)
        self.latent = LatentMap(session, run_id=self.run_id)
        self.picker = SkillPicker(session, run_id=self.run_id)
        runs = [self.run_id] if self.run_id else []

        def chart(metric: str) -> ScalarChart:
            return ScalarChart(session, run_ids=runs, metric=metric, height=220, smoothing=0.0)

        self.coverage, self.phi_loss = chart("eval/coverage"), chart("losses/phi")
        self.violation, self.dual = chart("metra/violation"), chart("metra/lambda")
        # METRA's constraint and lambda: DIAYN and LSD have neither, so the charts hide.
        self.constraint_charts = pn.Column(self.violation, self.dual, sizing_mode="stretch_width")
        self._show_constraint_charts()
        self.objective = ObjectivePanel(
            session, on_fork=self._forked, run_id=self.run_id, executor=self.executor
        )

    @param.depends("run_id", watch=True)
    def _show(self) -> None:
        for view in (self.controls, self.trajectories, self.latent, self.picker, self.objective):
            view.run_id = self.run_id
        for chart in (self.coverage, self.phi_loss, self.violation, self.dual):
            chart.run_ids = [self.run_id]
        self._show_constraint_charts()

    def _show_constraint_charts(self) -> None:
        objective = "metra"
        if self.run_id:
            objective = self.session.store.get_run(self.run_id).config.get("objective", "metra")
        self.constraint_charts.visible = objective == "metra"

    def _forked(self, child_id: str) -> None:
        self.coverage.run_ids = [*self.coverage.run_ids, child_id]

    def __panel__(self) -> pn.viewable.Viewable:
        trajectories = pn.Column(
            pn.pane.Markdown("**Skill trajectories** (colour: skill z)"), self.trajectories
        )
        latent = pn.Column(pn.pane.Markdown("**Latent map** (colour: position)"), self.latent)
        picker = pn.Column(pn.pane.Markdown("**Skill picker**"), self.picker)
        charts = pn.Column(
            self.coverage, self.phi_loss, self.constraint_charts, sizing_mode="stretch_width"
        )
        return pn.Row(
            pn.Column(
                self.controls,
                pn.Row(trajectories, latent),
                picker,
                charts,
                sizing_mode="stretch_width",
            ),
            self.objective,
            sizing_mode="stretch_width",
        )
