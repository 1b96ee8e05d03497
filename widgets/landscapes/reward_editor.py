"""Edit a live run's reward and see, before applying it, what it would pay where, and how far
it moves the task: the edited reward's map, and its EPIC distance to the reward in force
(near 0: the same task, reshaped or rescaled; near 1: another task)."""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np
import panel as pn
import param

from widgets.common.live import LiveSession
from widgets.common.threads import on_next_tick
from widgets.landscapes.heat_map import HeatMap
from workbench.landscapes.epic import epic_distance, maze_state_samples
from workbench.landscapes.rewards import RewardSpec
from workbench.landscapes.state_maps import StateGrid, reward_map, sample_actions
from workbench.runs import KnobError, Run, RunError
from workbench.runs.config import parse_knob
from workbench.trainers.reward_design import (
    REWARD_KNOBS,
    RewardConfig,
    probe_transitions,
    reward_spec,
)
from workbench.trainers.sb3 import env_kwargs

POINTS_PER_CELL = 10  # the preview map: 50 x 50 points in the 5 x 5 U-maze
EPIC_SAMPLES = 256  # (A, S') pairs behind each canonicalization expectation
EPIC_BOOTSTRAP = 50  # resamples of the transitions behind the distance's standard error
# Below SAME_TASK an edit reads as the same task (reshaped or rescaled); above OTHER_TASK
# as another task.
SAME_TASK, OTHER_TASK = 0.05, 0.25


class RewardWorld:
    """What the editor needs of a run's maze, built once per run: its grid of positions, its
    goal, and transitions spread over it for EPIC."""

    def __init__(self, config: RewardConfig) -> None:
        env = gym.make(config.env_id, **env_kwargs(config))
        env.reset(seed=config.seed)
        self.grid = StateGrid.maze(env, points_per_cell=POINTS_PER_CELL)
        self.gamma = config.gamma
        # The transitions every reward of this maze is checked on (spread over the maze).
        obs, actions, next_obs, self.goal = probe_transitions(config.env_id, config.reward_mode)
        self.transitions = (obs, actions, next_obs)
        rng = np.random.default_rng(config.seed)
        self.state_samples = maze_state_samples(env, EPIC_SAMPLES, rng)
        self.action_samples = sample_actions(env.action_space, EPIC_SAMPLES, seed=config.seed + 1)
        env.close()

    def reward_fn(self, spec: RewardSpec):
        def reward(obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
            return spec.evaluate(obs, actions, next_obs, goal=self.goal)

        return reward


class RewardEditor(pn.viewable.Viewer):
    """The reward knobs of a ``reward`` run as inputs; Preview draws the edited reward's map
    and its EPIC distance to the reward in force; Apply sends the edit to the run (the agent
    is paid by it from its next step, and the charts mark the change)."""

    run_id = param.String(default="", doc="Run edited.")
    size = param.Integer(default=300, bounds=(100, 2000), doc="Width of the map in pixels.")

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.inputs = {
            knob: pn.widgets.TextInput(
                label=knob, width=150, css_classes=[f"reward-knob-{knob}"],
                description=RewardConfig.param[knob].doc,
            )
            for knob in REWARD_KNOBS
        }  # fmt: skip
        self.inputs["reward_expression"].width = 310
        self.preview_button = pn.widgets.Button(label="Preview", css_classes=["reward-preview"])
        self.apply_button = pn.widgets.Button(
            label="Apply to the run", color="primary", css_classes=["reward-apply"]
        )
        self.status = pn.pane.Markdown("", css_classes=["reward-status"], width=320)
        self.epic = pn.pane.Markdown("", css_classes=["reward-epic"], width=320)
        self.map = HeatMap(
            title="edited reward (random action)",
            value_label="reward",
            css_class="edited-reward-map",
            size=self.size,
        )
        self.preview_button.on_click(lambda _: on_next_tick(self.preview))
        self.apply_button.on_click(lambda _: on_next_tick(self.apply))
        self._world: RewardWorld | None = None
        self.timings: dict[str, float] = {}
        self._in_force: dict[str, str] = {}  # the run's reward knobs as last shown, as text
        self._load()
        session.register(self)

    @param.depends("run_id", watch=True)
    def _load(self) -> None:
        """Fill the inputs with the run's reward, and preview it."""
        self._world = None
        self.epic.object = ""
        if not self.run_id:
            self.status.object = "No reward run chosen."
            return
        config = self._run_config()
        self._in_force = {knob: str(getattr(config, knob)) for knob in self.inputs}
        for knob, widget in self.inputs.items():
            widget.value = self._in_force[knob]
        on_next_tick(self.preview)

    def refresh(self) -> None:
        """The run's reward changed elsewhere (``run.update`` in a notebook, another page):
        boxes still showing the old value show the new one; boxes the user edited keep
        their edit. Then the preview is drawn again."""
        if not self.run_id:
            return
        config = self._run_config()
        now = {knob: str(getattr(config, knob)) for knob in self.inputs}
        if now == self._in_force:
            return
        changed = [knob for knob in now if now[knob] != self._in_force.get(knob)]
        for knob in changed:
            if self.inputs[knob].value == self._in_force.get(knob):
                self.inputs[knob].value = now[knob]
        self._in_force = now
        self.preview()
        self.status.object += f" The run's reward changed: {', '.join(changed)}."

    def _run_config(self) -> RewardConfig:
        return RewardConfig.from_dict(self.session.store.get_run(self.run_id).config)

    def edited(self) -> dict[str, Any]:
        """The inputs' values, parsed and checked (a KnobError names a bad one)."""
        values = {knob: parse_knob(RewardConfig, knob, w.value) for knob, w in self.inputs.items()}
        return RewardConfig.check(values)

    def preview(self) -> None:
        """Draw the edited reward's map and its EPIC distance to the run's reward."""
        if not self.run_id:
            return
        started = time.perf_counter()
        try:
            config = self._run_config()
            edited_spec = reward_spec(config.changed(**self.edited()))
        except (KnobError, ValueError) as error:
            self.status.object = f"**Refused:** {error}"
            return
        if self._world is None:
            self._world = RewardWorld(config)
        world = self._world
        try:
            values = reward_map(world.grid, world.reward_fn(edited_spec))
        except ValueError as error:  # not finite somewhere in the maze, say
            self.status.object = f"**Refused:** {error}"
            return
        self.map.show(values, world.grid.xs, world.grid.ys)
        drawn = time.perf_counter() - started
        in_force = reward_spec(config)
        self.epic.object = self._epic_text(world, in_force, edited_spec)
        # Seconds to the new map, and to the whole preview (benchmarks/bench_landscapes.py).
        self.timings = {"map_s": drawn, "preview_s": time.perf_counter() - started}
        self.status.object = f"Preview drawn in {drawn:.2f} s."
        if self.session.in_notebook:
            pn.io.push_notebook(self.map.pane)

    @staticmethod
    def _epic_text(world: RewardWorld, in_force: RewardSpec, edited: RewardSpec) -> str:
        formulas = f"in force: `{in_force.describe()}`  \nedited: `{edited.describe()}`"
        try:
            result = epic_distance(
                world.reward_fn(in_force), world.reward_fn(edited), world.transitions,
                world.state_samples, world.action_samples, world.gamma,
                n_bootstrap=EPIC_BOOTSTRAP,
            )  # fmt: skip
        except ValueError as error:  # a constant reward has no correlation
            return f"**EPIC distance undefined**: {error}.  \n{formulas}"
        verdict = (
            "the same task (reshaped or rescaled)" if result.distance < SAME_TASK
            else "a different task" if result.distance > OTHER_TASK
            else "a somewhat different task"
        )  # fmt: skip
        return (
            f"**EPIC distance to the reward in force: {result.distance:.3f}** "
            f"(± {result.standard_error:.3f}): {verdict}.  \n{formulas}"
        )

    def apply(self) -> None:
        """Send the changed reward knobs to the run (hot: the next step pays by them)."""
        if not self.run_id:
            return
        try:
            current = self._run_config()
            changes = {k: v for k, v in self.edited().items() if v != getattr(current, k)}
            if not changes:
                self.status.object = "Nothing changed."
                return
            Run(self.session.store, self.run_id).update(**changes)
        except (KnobError, RunError, ValueError) as error:
            self.status.object = f"**Refused:** {error}"
            return
        listed = ", ".join(f"{k}={v!r}" for k, v in changes.items())
        self.status.object = f"Applied at the run's next step: {listed}."

    def __panel__(self) -> pn.viewable.Viewable:
        weights = [self.inputs[k] for k in REWARD_KNOBS if k.startswith("w_")]
        others = [self.inputs[k] for k in REWARD_KNOBS if not k.startswith("w_")]
        return pn.Column(
            pn.pane.Markdown("**Reward editor**: weights of the library terms and a formula"),
            pn.GridBox(*weights, ncols=2),
            pn.GridBox(*[w for w in others if w is not self.inputs["reward_expression"]], ncols=2),
            self.inputs["reward_expression"],
            pn.Row(self.preview_button, self.apply_button),
            self.status,
            self.map,
            self.epic,
            width=340,
        )
