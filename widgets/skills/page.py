"""A skill discovery run, whole: controls, trajectories by skill, the latent map, coverage,
phi's loss, the constraint's violation and the dual variable, the objective as maths with
the run's current knob values, and the objective panel."""

from __future__ import annotations

import panel as pn
import param

from widgets.common.formula import Formula
from widgets.common.live import LiveSession
from widgets.common.objective_panel import ObjectivePanel
from widgets.common.run_controls import RunControls
from widgets.common.scalar_chart import ScalarChart
from widgets.common.surface_view import SurfaceView
from widgets.skills.picker import SkillPicker
from widgets.skills.trajectories import LatentMap, SkillTrajectories

# The objectives as the trainer computes them (workbench/agents/metra.py), in LaTeX;
# Delta phi = phi(s') - phi(s). \knob{...} and \metric{...} show the run's current values.
_SAC_LINE = (
    r"&\text{SAC: } \gamma = \knob{gamma},\ \alpha = \metric{sac/alpha},\ "
    r"\text{lr} = \knob{learning_rate}"
)
SKILL_OBJECTIVES: dict[str, str] = {
    "metra": r"""\begin{aligned}
&\max_{\pi,\,\phi}\ \mathbb{E}_{z,\,(s,s')\sim\pi_z}\big[\Delta\phi^{\top} z\big]\\
&\Delta\phi = \phi(s') - \phi(s)\\
&\text{s.t. } \knob{constraint} \le 1\\[3pt]
&p = \min\big(\varepsilon,\ 1 - \knob{constraint}\big)\\
&\mathcal{L}_\phi = -\mathbb{E}\big[\Delta\phi^{\top} z + \lambda\, p\big]\\
&\mathcal{L}_\lambda = \log\lambda \cdot \mathbb{E}[p]\\[3pt]
&\varepsilon = \knob{epsilon},\ \lambda = \metric{metra/lambda},\ D = \knob{skill_dim}\\
&r = \knob{reward_scale}\cdot\Delta\phi^{\top} z\\
"""
    + _SAC_LINE
    + r"""
\end{aligned}""",
    "lsd": r"""\begin{aligned}
&\max_{\pi,\,\phi}\ \mathbb{E}_{z,\,(s,s')\sim\pi_z}\big[\Delta\phi^{\top} z\big]\\
&\Delta\phi = \phi(s') - \phi(s)\\
&\text{s.t. } \|\Delta\phi\| \le \|s' - s\|\\
&(\phi \text{ spectrally normalised})\\[3pt]
&D = \knob{skill_dim},\ r = \knob{reward_scale}\cdot\Delta\phi^{\top} z\\
"""
    + _SAC_LINE
    + r"""
\end{aligned}""",
    "diayn": r"""\begin{aligned}
&\max_{\pi,\,q}\ \mathbb{E}_{z,\,s'\sim\pi_z}\big[\log q(z \mid s')\big]\\
&q(z \mid s') = \knob{skill_type}\\[3pt]
&D = \knob{skill_dim},\ r = \knob{reward_scale}\cdot\log q(z \mid s')\\
"""
    + _SAC_LINE
    + r"""
\end{aligned}""",
}
# Knobs that change the maths itself: the constraint's form (hot), DIAYN's discriminator.
SKILL_CHOICES: dict[str, dict[str, str]] = {
    "constraint": {
        "mean": r"\tfrac{1}{D}\|\Delta\phi\|^2",
        "sum": r"\|\Delta\phi\|^2",
    },
    "skill_type": {
        "continuous": r"\mathcal{N}\big(z;\ \phi(s'),\ \sigma(s')^2\big)",
        "discrete": r"\operatorname{softmax}\big(\phi(s')\big)_z",
    },
}
SKILL_CAPTIONS: dict[str, str] = {
    "metra": "Skills travel as far as they can along z, where one step moves phi by at "
    "most about one unit: the dual variable lambda grows while steps exceed it. "
    "Blue: this run's current values.",
    "lsd": "No dual variable: phi is kept 1-Lipschitz in the state by spectral "
    "normalisation. Blue: this run's current values.",
    "diayn": "Skills are rewarded for being recognisable from where they end up, not for "
    "travelling far. Blue: this run's current values.",
}


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
        self.formula = Formula(
            session, run_id=self.run_id, title="Objective", choices=SKILL_CHOICES
        )
        self._show_constraint_charts()
        self.objective = ObjectivePanel(
            session, on_fork=self._forked, run_id=self.run_id, executor=self.executor
        )
        self.surface = SurfaceView(session, run_id=self.run_id, collapsed=True)

    @param.depends("run_id", watch=True)
    def _show(self) -> None:
        views = (self.controls, self.trajectories, self.latent, self.picker, self.objective)
        for view in (*views, self.surface):
            view.run_id = self.run_id
        for chart in (self.coverage, self.phi_loss, self.violation, self.dual):
            chart.run_ids = [self.run_id]
        self._show_constraint_charts()

    def _show_constraint_charts(self) -> None:
        objective = "metra"
        if self.run_id:
            objective = self.session.store.get_run(self.run_id).config.get("objective", "metra")
        self.constraint_charts.visible = objective == "metra"
        # The objective is structural (a run keeps it), so its maths is chosen per run.
        self.formula.param.update(
            template=SKILL_OBJECTIVES[objective],
            caption=SKILL_CAPTIONS[objective],
            title=f"Objective: {objective.upper()}",
            run_id=self.run_id,
        )

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
                self.surface,
                sizing_mode="stretch_width",
            ),
            # The maths beside the pictures, above the knobs it names.
            pn.Column(self.formula, self.objective, width=340),
            sizing_mode="stretch_width",
        )
