"""The skill picker: choose one skill and watch its rollout from the run's latest weights."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
import param

from widgets.common.live import LiveSession
from widgets.common.maze_plot import maze_of_run, over_maze
from widgets.common.plotting import figure_pane
from widgets.common.threads import run_in_thread
from widgets.skills.trajectories import skill_colors


class SkillPicker(pn.viewable.Viewer):
    """Choose a skill (an angle for 2-D skills, an index for one-hot ones and, above two
    dimensions, the index of one of the run's evaluation skills) and watch its deterministic
    rollout from the run's latest weights, in the colour it has in the trajectories view.

    A live run is asked for a fresh checkpoint first; the rollout runs here, in the
    server, on the CPU, never in the trainer's process.
    """

    run_id = param.String(default="", doc="Run whose policy is rolled out.")
    size = param.Integer(default=280, bounds=(100, 2000), doc="Plot width in pixels.")

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.angle = pn.widgets.FloatSlider(
            label="skill angle (degrees)",
            start=-180,
            end=180,
            step=5,
            value=0,
            css_classes=["skill-angle"],
        )
        self.index = pn.widgets.IntInput(
            label="skill index", value=0, start=0, css_classes=["skill-index"]
        )
        self.button = pn.widgets.Button(
            label="Roll out this skill", color="primary", css_classes=["skill-rollout"]
        )
        self.status = pn.widgets.StaticText(
            label="picked skill", value="", css_classes=["picker-status"]
        )
        self._pane = figure_pane(
            hv.Points([]).opts(frame_width=self.size, frame_height=self.size, toolbar=None),
            css_classes=["picker-view"],
        )
        # Waiting for a fresh checkpoint and rolling out take seconds: off the event loop.
        self.button.on_click(lambda _: run_in_thread(self.status, self.roll_out))

    def skill(self, config, evaluated: np.ndarray | None = None) -> tuple[np.ndarray, str, str]:
        """The chosen skill, its colour in the trajectories view and its name: a 2-D skill
        by angle; one-hot skill ``index``; above two dimensions the ``index``-th of the
        skills ``evaluated`` in the trajectories view (default: the run's evaluation
        skills)."""
        if config.skill_type == "continuous" and config.skill_dim == 2:
            angle = np.deg2rad(self.angle.value)
            z = np.array([np.cos(angle), np.sin(angle)], dtype=np.float32)
            return z, skill_colors(z[None], discrete=False)[0], f"angle {self.angle.value:g}"
        if config.skill_type == "discrete":
            skills = np.eye(config.skill_dim, dtype=np.float32)  # every skill, not only 48
        elif evaluated is not None:
            skills = evaluated
        else:
            from workbench.trainers.metra import run_evaluation_skills

            skills = run_evaluation_skills(config)
        i = self.index.value % len(skills)
        colors = skill_colors(skills, discrete=config.skill_type == "discrete")
        return skills[i], colors[i], f"skill {i} of {len(skills)}"

    def roll_out(self) -> None:
        from workbench.runs import Run
        from workbench.trainers.metra import load_agent, rollout

        store = self.session.store
        try:
            run = Run(store, self.run_id)
            if run.state in ("running", "paused"):
                run.checkpoint(wait=10)
            agent, config, step = load_agent(store, self.run_id)
        except (KeyError, RuntimeError) as error:
            self.status.value = f"no policy to roll out: {error}"
            return
        try:  # the skills on screen: older runs drew new ones at every evaluation
            evaluated = store.load_snapshot(self.run_id, "trajectories")["skills"]
        except KeyError:
            evaluated = None
        z, color, name = self.skill(config, evaluated)
        path = rollout(agent, config.env_id, z)
        layers = hv.Path([path], ["x", "y"]).opts(color=color, line_width=3) * hv.Points(
            path[-1:], ["x", "y"]
        ).opts(color=color, size=9)
        self._pane.object = over_maze(
            layers, maze_of_run(self.session.store, self.run_id), self.size
        )
        self.status.value = (
            f"{name}: z = {np.round(z, 2).tolist()} from the checkpoint at step {step}: "
            f"{len(path) - 1} steps"
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(pn.Row(self.angle, self.index), self.button, self.status, self._pane)
