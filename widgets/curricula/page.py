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
from widgets.curricula.level_buffer import LevelBufferView
from widgets.curricula.task_space import TaskSpaceView

# ALP-GMM's rule (Portelas et al. 2019), as the teachers in workbench/curricula/ run it.
CURRICULUM_RULE = r"""\begin{aligned}
&\text{ALP}(\tau) = |\,r(\tau) - r(\tau_{\text{nearest earlier}})\,|\\
&\text{every } \knob{fit_rate} \text{ tasks: a GMM of } (\tau, \text{ALP})\\
&\quad \text{on the latest } \knob{fit_rate},\ k \in 2..10 \text{ by AIC}\\
&\tau \sim \text{uniform w.p. } \knob{random_task_ratio},\ \text{else}\\
&\quad i \text{ w.p.} \propto \text{ALP of } \mu_i,\ \ \tau \sim \mathcal{N}(\mu_i, \Sigma_i)\\[3pt]
&\text{now: test tasks mastered } \metric{eval/test_success}
\end{aligned}"""
CURRICULUM_TITLE = "Teacher: absolute learning progress"
CURRICULUM_CAPTION = (
    "Absolute learning progress: how much the student's result on a task changed since a "
    "nearby task was last tried. The teacher samples where it is high: neither what is "
    "mastered nor what is still out of reach. RIAC splits the space into boxes by the same "
    "measure; random samples uniformly."
)
# The other continuous teachers, as workbench/curricula/ runs them: (title, rule, caption).
COVAR_GMM_RULE = r"""\begin{aligned}
&\text{rows } (\tau, t, r): t = \text{position in the window of the latest } \knob{fit_rate}\\
&\text{a GMM of the rows, } k \in 2..10 \text{ by AIC}\\
&\tau \sim \text{uniform w.p. } \knob{random_task_ratio},\ \text{else}\\
&\quad i \text{ w.p.} \propto \max(0, \operatorname{cov}_i(t, r)),\ \ \tau \sim \mathcal{N}(\mu_i, \Sigma_i)\\[3pt]
&\text{now: test tasks mastered } \metric{eval/test_success}
\end{aligned}"""
RIAC_RULE = r"""\begin{aligned}
&\text{regions: split in two once a region holds 200 tasks,}\\
&\quad \text{where } n_1 n_2 |\text{ALP}_1 - \text{ALP}_2| \text{ is largest}\\
&\text{ALP(region)} = |\bar r_{\text{newer half}} - \bar r_{\text{older half}}|\\
&\tau: \text{0.7 uniform in a region} \propto \text{ALP},\ 0.2 \text{ uniform,}\\
&\quad 0.1 \text{ near the worst task of a region}\\[3pt]
&\text{now: test tasks mastered } \metric{eval/test_success}
\end{aligned}"""
RANDOM_RULE = r"""\begin{aligned}
&\tau \sim \text{uniform over the task space}\\[3pt]
&\text{now: test tasks mastered } \metric{eval/test_success}
\end{aligned}"""
CONTINUOUS_RULES = {
    "alp-gmm": (CURRICULUM_TITLE, CURRICULUM_RULE, CURRICULUM_CAPTION),
    "covar-gmm": (
        "Teacher: Covar-GMM",
        COVAR_GMM_RULE,
        "Covar-GMM fits a mixture to (task, time, reward) and samples the components whose "
        "reward grows with time: where the student is getting better.",
    ),
    "riac": (
        "Teacher: RIAC",
        RIAC_RULE,
        "RIAC splits the task space into regions where learning progress differs, and "
        "samples regions in proportion to their absolute learning progress.",
    ),
    "random": (
        "Teacher: uniform",
        RANDOM_RULE,
        "The baseline: every task equally likely, whatever the student has learned.",
    ),
}
# Prioritized Level Replay's replay distribution (Jiang et al. 2021).
LEVEL_RULE = r"""\begin{aligned}
&P(i) = (1 - \rho)\, P_S(i) + \rho\, P_C(i),\ \ \rho = \knob{staleness_coef}\\
&P_S(i) \propto h(S_i)^{1/\beta},\ h = 1/\text{rank}(S_i),\ \beta = \knob{temperature}\\
&P_C(i) \propto c - C_i \ \ \text{(episodes since level } i \text{ was drawn)}\\
&S_i: \text{ score of its last episode } (\knob{score_kind})\\[3pt]
&\text{now: held-out levels solved } \metric{eval/test_success}
\end{aligned}"""
LEVEL_CAPTION = (
    "Prioritized Level Replay keeps the levels it has seen with a score each, how much the "
    "student's value estimates were off there, and replays high scores and levels not seen "
    "for long. Robust PLR takes no gradient step on levels seen for the first time; ACCEL "
    "also edits the replayed levels."
)
GOAL_CURVES = ("eval/test_success", "curriculum/recent_success", "curriculum/sampling_entropy")
CURVES = {
    "maze-goals": GOAL_CURVES,
    "wall-gaps": GOAL_CURVES,
    "grid-levels": (
        "eval/test_success",
        "curriculum/recent_success",
        "curriculum/replay_probability",
    ),
}


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
        # 380 px: with the charts and the formula column the page fits 1280 px.
        self.task_space = TaskSpaceView(session, run_id=self.run_id, size=380)
        self.level_buffer = LevelBufferView(session, run_id=self.run_id)
        runs = [self.run_id] if self.run_id else []
        self.curves = [
            ScalarChart(session, run_ids=runs, metric=metric, height=200, smoothing=0.0)
            for metric in CURVES["maze-goals"]
        ]
        self.formula = Formula(
            session, template=CURRICULUM_RULE, run_id=self.run_id,
            title=CURRICULUM_TITLE, caption=CURRICULUM_CAPTION,
        )  # fmt: skip
        self.objective = ObjectivePanel(session, run_id=self.run_id, executor=self.executor)
        self.level_buffer_panel = pn.Column(self.level_buffer, width=460)
        self._task_space_panel = pn.Column(self.task_space, self._legend(), width=480)
        self._show()

    @param.depends("run_id", watch=True)
    def _show(self) -> None:
        """Show the run: its task space (goals) or its level buffer (levels), its curves,
        and its teacher's rule."""
        tasks, teacher = "maze-goals", "alp-gmm"
        if self.run_id:
            config = self.session.store.get_run(self.run_id).config
            tasks, teacher = config.get("tasks", tasks), config.get("teacher", teacher)
        views = (self.controls, self.task_space, self.level_buffer, self.formula, self.objective)
        for view in views:
            view.run_id = self.run_id
        for chart, metric in zip(self.curves, CURVES[tasks], strict=True):
            chart.param.update(run_ids=[self.run_id] if self.run_id else [], metric=metric)
        levels = tasks == "grid-levels"
        self._task_space_panel.visible = not levels
        self.level_buffer_panel.visible = levels
        if levels:
            title, rule, caption = "Teacher: prioritized level replay", LEVEL_RULE, LEVEL_CAPTION
        else:  # each continuous teacher's own rule
            title, rule, caption = CONTINUOUS_RULES.get(teacher, CONTINUOUS_RULES["alp-gmm"])
        self.formula.param.update(template=rule, title=title, caption=caption)

    @staticmethod
    def _legend() -> pn.pane.Markdown:
        return pn.pane.Markdown(
            "Dots: the latest tasks the teacher chose (goals in the maze; for wall gaps, "
            "the gap's centre and width), coloured by "
            "learning progress; ellipses: its Gaussian mixture (2 sigma), or boxes: RIAC's "
            "regions, coloured the same way; squares: the test tasks, **green** where the "
            "student reaches them, red where not."
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(
            pn.Column(
                self.controls,
                pn.Row(
                    self._task_space_panel,
                    self.level_buffer_panel,
                    pn.Column(*self.curves, sizing_mode="stretch_width"),
                    sizing_mode="stretch_width",
                ),
                sizing_mode="stretch_width",
            ),
            pn.Column(self.formula, self.objective, width=340),
            sizing_mode="stretch_width",
        )
