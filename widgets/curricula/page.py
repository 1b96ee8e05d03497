"""A curriculum run, whole: controls, the task space as the teacher sees it, the student's
progress on the test set, the teacher's rule as maths with the run's knob values, and the
objective panel (the random-task ratio and the other teacher knobs are hot)."""

from __future__ import annotations

import panel as pn
import param

from widgets.common.formula import Formula
from widgets.common.live import LiveSession
from widgets.common.objective_panel import ObjectivePanel
from widgets.common.run_controls import RunControls
from widgets.common.scalar_chart import ScalarChart
from widgets.curricula.task_space import TaskSpaceView

# ALP-GMM's rule (Portelas et al. 2019), as the teachers in workbench/curricula/ run it.
CURRICULUM_RULE = r"""\begin{aligned}
&\text{ALP}(\tau) = |\,r(\tau) - r(\tau_{\text{nearest earlier}})\,|\\
&\text{every } \knob{fit_rate} \text{ tasks: a GMM of } (\tau, \text{ALP})\\
&\quad \text{on the latest } \knob{fit_rate},\ k \in 2..10 \text{ by AIC}\\
&\tau \sim \text{uniform w.p. } \knob{random_task_ratio},\ \text{else}\\
&\quad i \text{ w.p.} \propto \text{ALP of } \mu_i,\ \ \tau \sim \mathcal{N}(\mu_i, \Sigma_i)\\[3pt]
&\text{now: test goals reached } \metric{eval/test_success}
\end{aligned}"""
CURRICULUM_CAPTION = (
    "Absolute learning progress: how much the student's result on a task changed since a "
    "nearby task was last tried. The teacher samples where it is high: neither what is "
    "mastered nor what is still out of reach. RIAC splits the space into boxes by the same "
    "measure; random samples uniformly."
)
CURVES = ("eval/test_success", "curriculum/recent_success", "curriculum/sampling_entropy")


class CurriculaView(pn.viewable.Viewer):
    """Watch a teacher choose a student's tasks, and change its knobs mid-run."""

    run_id = param.String(default="", doc="Run shown.")
    executor = param.Selector(
        default="thread", objects=["thread", "subprocess"], doc="Where starts and forks run."
    )

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.controls = RunControls(session, run_id=self.run_id, executor=self.executor)
        self.task_space = TaskSpaceView(session, run_id=self.run_id)
        runs = [self.run_id] if self.run_id else []
        self.curves = {
            metric: ScalarChart(session, run_ids=runs, metric=metric, height=200, smoothing=0.0)
            for metric in CURVES
        }
        self.formula = Formula(
            session, template=CURRICULUM_RULE, run_id=self.run_id,
            title="Teacher: absolute learning progress", caption=CURRICULUM_CAPTION,
        )  # fmt: skip
        self.objective = ObjectivePanel(session, run_id=self.run_id, executor=self.executor)

    @param.depends("run_id", watch=True)
    def _show(self) -> None:
        for view in (self.controls, self.task_space, self.formula, self.objective):
            view.run_id = self.run_id
        for chart in self.curves.values():
            chart.run_ids = [self.run_id]

    def __panel__(self) -> pn.viewable.Viewable:
        intro = pn.pane.Markdown(
            "Dots: the latest tasks the teacher chose (goals in the maze), coloured by "
            "learning progress; ellipses: its Gaussian mixture (2 sigma), or boxes: RIAC's "
            "regions, coloured the same way; squares: the test goals, **green** where the "
            "student reaches them, red where not."
        )
        return pn.Row(
            pn.Column(
                self.controls,
                pn.Row(
                    pn.Column(self.task_space, intro, width=520),
                    pn.Column(*self.curves.values(), sizing_mode="stretch_width"),
                    sizing_mode="stretch_width",
                ),
                sizing_mode="stretch_width",
            ),
            pn.Column(self.formula, self.objective, width=340),
            sizing_mode="stretch_width",
        )
