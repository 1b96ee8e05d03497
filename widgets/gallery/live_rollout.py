"""A live view of points wandering through a maze: the smallest streamed plot.

It exercises the whole live path of the workbench (periodic callback -> bounded HoloViews
``Buffer`` -> browser) with no training behind it: a few walkers take momentum-smoothed
random actions in a vectorized point maze, and their recent trails are drawn over the maze.
"""

from __future__ import annotations

import gymnasium as gym
import holoviews as hv
import holoviews.plotting.bokeh  # registers the bokeh backend, used by name below
import numpy as np
import pandas as pd
import panel as pn
import param

from environments import ENVIRONMENTS
from environments.rendering import draw_cells
from widgets.common.live import quiet_periodic_callback
from widgets.common.plotting import figure_pane

MAZE_IDS = [info.id for info in ENVIRONMENTS if "PointMaze" in info.id]


class LiveRollout(pn.viewable.Viewer):
    """Random walkers in a point maze, streamed into a bounded buffer and drawn live."""

    env_id = param.Selector(
        default="workbench/PointMaze-FourRooms-v0", objects=MAZE_IDS, doc="Maze."
    )
    num_walkers = param.Integer(default=8, bounds=(1, 256), doc="Walkers stepped together.")
    momentum = param.Number(default=0.9, bounds=(0.0, 0.999), doc="Action smoothing per step.")
    period_ms = param.Integer(default=100, bounds=(20, 5000), doc="Milliseconds between draws.")
    steps_per_draw = param.Integer(default=4, bounds=(1, 1000), doc="Env steps per draw.")
    trail_length = param.Integer(default=300, bounds=(10, 100_000), doc="Points kept per walker.")
    max_steps = param.Integer(default=100_000, bounds=(1, None), doc="Stop after this many steps.")
    seed = param.Integer(default=0, doc="Seed of the environment and of the actions.")
    steps = param.Integer(default=0, doc="Environment steps taken so far (read-only).")
    autostart = param.Boolean(default=True, doc="Start walking when first shown.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._env = gym.make_vec(self.env_id, num_envs=self.num_walkers)
        self._env.reset(seed=self.seed)
        self._rng = np.random.default_rng(self.seed)
        self._actions = np.zeros((self.num_walkers, 2))
        self._max_action = float(self._env.single_action_space.high[0])
        self.buffer = hv.streams.Buffer(
            pd.DataFrame({"x": [], "y": [], "walker": []}),
            length=self.trail_length * self.num_walkers,
            index=False,
        )
        self._callback: pn.io.PeriodicCallback | None = None
        # A widget, not a Markdown pane: in a notebook Panel re-sends a pane's stylesheets
        # from its CDN on every update, which fails offline; a widget's value does not.
        self._counter = pn.widgets.StaticText(
            label="steps", value="0", css_classes=["rollout-steps"]
        )
        self.toggle = pn.widgets.Toggle(label="Walk", value=False, css_classes=["rollout-toggle"])
        self.toggle.param.watch(lambda e: self.start() if e.new else self.stop(), "value")

    def step(self, n: int = 1) -> None:
        """Take ``n`` steps and stream the visited positions."""
        rows = []
        for _ in range(n):
            noise = self._rng.uniform(-1, 1, size=self._actions.shape) * self._max_action
            self._actions = self.momentum * self._actions + (1 - self.momentum) * noise
            self._actions = np.clip(self._actions, -self._max_action, self._max_action)
            obs, *_ = self._env.step(self._actions)
            rows.append(obs[:, :2])
        positions = np.concatenate(rows)
        walkers = np.tile(np.arange(self.num_walkers), n)
        self.steps += n * self.num_walkers
        with pn.io.hold():
            self.buffer.send(
                pd.DataFrame({"x": positions[:, 0], "y": positions[:, 1], "walker": walkers})
            )
            self._counter.value = str(self.steps)

    def _tick(self) -> None:
        self.step(self.steps_per_draw)
        if self.steps >= self.max_steps:
            self.stop()

    def start(self) -> None:
        """Start drawing (done when first shown if ``autostart``)."""
        if self._callback is None or not self._callback.running:
            self._callback = quiet_periodic_callback(self._tick, self.period_ms)
        self.toggle.value = True

    def stop(self) -> None:
        if self._callback is not None:
            self._callback.stop()
        self.toggle.value = False

    @property
    def running(self) -> bool:
        return self._callback is not None and self._callback.running

    def _plot(self) -> hv.Overlay:
        maze = self._env.unwrapped.task.maze
        # backend="bokeh" names the backend per call, leaving the user's default alone.
        picture = hv.RGB(draw_cells(maze.free, 16), bounds=(0, 0, maze.width, maze.height)).opts(
            xaxis=None,
            yaxis=None,
            frame_width=360,
            frame_height=round(360 * maze.height / maze.width),
            toolbar=None,
            backend="bokeh",
        )
        trails = hv.DynamicMap(
            lambda data: hv.Points(data, ["x", "y"], ["walker"]), streams=[self.buffer]
        ).opts(color="walker", cmap="Category10", size=3, show_legend=False, backend="bokeh")
        return picture * trails

    def __panel__(self) -> pn.viewable.Viewable:
        if self.autostart:
            pn.state.onload(self.start)  # not before a browser shows it (see LiveSession)
        return pn.Column(
            self.toggle,
            self._counter,
            figure_pane(self._plot(), backend="bokeh", css_classes=["rollout-plot"]),
        )
