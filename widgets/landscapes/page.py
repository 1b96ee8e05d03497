"""The Landscapes page: a reward run's reward and values over the maze, the reward editor
with its EPIC distance, the returns (the environment's and the edited reward's) with every
edit marked, and the reward surface around the policy."""

from __future__ import annotations

import panel as pn
import param

from widgets.common.live import LiveSession
from widgets.common.run_controls import RunControls
from widgets.common.scalar_chart import ScalarChart
from widgets.common.surface_view import SurfaceView
from widgets.landscapes.reward_editor import RewardEditor
from widgets.landscapes.state_maps import LandscapeMaps

CURVES = ("eval/return", "charts/episodic_return")
CAPTION = (
    "The left map is what the agent is paid for where, under the reward in force: the "
    "expected reward of a random action at each position (dark: walls). The right one is "
    "what the agent has learned to expect there, its critic's value. A reward whose maximum "
    "sits behind a wall (minus the straight-line distance in the U-maze) traps the agent "
    "there. **eval/return** scores the agent by the environment's own reward, "
    "**charts/episodic_return** by the edited one; edits are marked on both."
)


class LandscapesView(pn.viewable.Viewer):
    """Watch what a ``reward`` run pays its agent, and edit the reward mid-run."""

    run_id = param.String(default="", doc="Run shown.")
    executor = param.Selector(
        default="thread", objects=["thread", "subprocess"], doc="Where starts run."
    )

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.controls = RunControls(session, run_id=self.run_id, executor=self.executor)
        self.maps = LandscapeMaps(session, run_id=self.run_id)
        runs = [self.run_id] if self.run_id else []
        self.curves = [
            ScalarChart(session, run_ids=runs, metric=metric, height=220, smoothing=0.0)
            for metric in CURVES
        ]
        self.editor = RewardEditor(session, run_id=self.run_id)
        self.surface = SurfaceView(session, run_id=self.run_id)

    @param.depends("run_id", watch=True)
    def _show(self) -> None:
        for view in (self.controls, self.maps, self.editor, self.surface):
            view.run_id = self.run_id
        for chart in self.curves:
            chart.run_ids = [self.run_id] if self.run_id else []

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(
            pn.Column(
                self.controls,
                self.maps,
                pn.pane.Markdown(CAPTION, max_width=760),
                pn.Row(*self.curves, sizing_mode="stretch_width"),
                self.surface,
                sizing_mode="stretch_width",
            ),
            self.editor,
            sizing_mode="stretch_width",
        )
