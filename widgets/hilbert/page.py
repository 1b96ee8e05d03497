"""A HILP run, whole: controls, the maze through phi, distance and goal reaching by click,
reward prompting, the learning curves, the value's objective as maths with the run's
current knob values, and the objective panel."""

from __future__ import annotations

import panel as pn
import param

from widgets.common.formula import Formula
from widgets.common.live import LiveSession
from widgets.common.objective_panel import ObjectivePanel
from widgets.common.run_controls import RunControls
from widgets.common.scalar_chart import ScalarChart
from widgets.common.surface_view import SurfaceView
from widgets.hilbert.goal_distance import GoalDistance
from widgets.hilbert.hilbert_map import HilbertMap
from widgets.hilbert.reward_prompt import RewardPrompt

# The Hilbert value as the trainer learns it (workbench/agents/hilp.py), in LaTeX; the
# expectile is written kappa here, so that tau stays the target networks' rate (its knob).
HILBERT_OBJECTIVE = r"""\begin{aligned}
&V(s, g) = -\|\phi(s) - \phi(g)\|\\
&\min_\phi\ \mathbb{E}\big[w\,\big(r + \gamma\, m\, \bar V(s', g) - V(s, g)\big)^2\big]\\
&w = \kappa \text{ if } A \ge 0, \text{ else } 1 - \kappa\\
&A = r + \gamma\, m\, \bar V(s', g) - \bar V(s, g)\\
&r = -m,\ \ m = \mathbf{1}[s \ne g]\\[3pt]
&\kappa = \knob{expectile},\ \gamma = \knob{gamma},\ \tau = \knob{tau}\\
&g \sim \text{own future w.p. } \knob{trajectory_goals}\\
&\text{goal prompt: } z = \frac{\phi(g) - \phi(s)}{\|\phi(g) - \phi(s)\|}\\
&\text{now: } \mathbb{E}[V] = \metric{hilp/value},\ \rho = \metric{eval/spearman}
\end{aligned}"""
HILBERT_CAPTION = (
    "A goal-conditioned value whose distance in Z counts steps, fitted by expectile "
    "regression; V-bar is the target networks' (two of each), updated at rate tau. The skill policy, trained offline with IQL, is "
    "rewarded by (phi(s') - phi(s)) . z. Blue: this run's current values."
)


class HilbertView(pn.viewable.Viewer):
    """Watch a HILP run learn, check its distances, and prompt it with goals and rewards."""

    run_id = param.String(default="", doc="Run shown.")
    executor = param.Selector(
        default="thread", objects=["thread", "subprocess"], doc="Where starts and forks run."
    )

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.controls = RunControls(session, run_id=self.run_id, executor=self.executor)
        self.map = HilbertMap(session, run_id=self.run_id)
        self.distance = GoalDistance(session, run_id=self.run_id)
        self.prompt = RewardPrompt(session, run_id=self.run_id)
        runs = [self.run_id] if self.run_id else []
        self.curves = {
            metric: ScalarChart(session, run_ids=runs, metric=metric, height=200, smoothing=0.0)
            for metric in ("eval/spearman", "eval/goal_success", "hilp/value")
        }
        self.formula = Formula(
            session, template=HILBERT_OBJECTIVE, run_id=self.run_id,
            title="Objective: HILP's Hilbert value", caption=HILBERT_CAPTION,
        )  # fmt: skip
        self.objective = ObjectivePanel(session, run_id=self.run_id, executor=self.executor)
        self.surface = SurfaceView(session, run_id=self.run_id, collapsed=True)

    @param.depends("run_id", watch=True)
    def _show(self) -> None:
        views = (self.controls, self.map, self.distance, self.prompt, self.formula, self.objective)
        for view in (*views, self.surface):
            view.run_id = self.run_id
        for chart in self.curves.values():
            chart.run_ids = [self.run_id]

    def __panel__(self) -> pn.viewable.Viewable:
        intro = pn.pane.Markdown(
            "**Click the maze** (either heat map): the learned distance from that point to "
            "every state, the true geodesic distance, and the zero-shot rollout from the "
            "start to it (white). **Prompt** a reward below: its least-squares skill is "
            "rolled out from the start."
        )
        return pn.Row(
            pn.Column(
                self.controls,
                pn.Row(self.map, pn.Column(*self.curves.values(), sizing_mode="stretch_width")),
                intro,
                self.distance,
                pn.pane.Markdown("**Reward prompting**"),
                self.prompt,
                self.surface,
                sizing_mode="stretch_width",
            ),
            # The maths beside the pictures, above the knobs it names.
            pn.Column(self.formula, self.objective, width=340),
            sizing_mode="stretch_width",
        )
