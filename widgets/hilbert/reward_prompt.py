"""Reward prompting of a HILP run: a reward as a prompt, the zero-shot policy it selects,
rolled out in the maze (computed in a thread from the run's newest checkpoint)."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
import param

from widgets.common.live import LiveSession
from widgets.common.maze_plot import maze_of_run, over_maze
from widgets.common.plotting import figure_pane
from widgets.common.threads import run_in_thread
from widgets.hilbert.goal_distance import fresh_checkpoint

REWARDS = {
    "go right": lambda s, s2: s2[:, 0] - s[:, 0],
    "go left": lambda s, s2: s[:, 0] - s2[:, 0],
    "go up": lambda s, s2: s2[:, 1] - s[:, 1],
    "go down": lambda s, s2: s[:, 1] - s2[:, 1],
}


class RewardPrompt(pn.viewable.Viewer):
    """Choose a reward; the least-squares z for it prompts the skill policy zero-shot, and
    the rollout from the start is drawn. Rewards: a direction, a weighted combination
    ``a * dx + b * dy``, or reaching the region within 1 of a point."""

    run_id = param.String(default="", doc="HILP run prompted.")
    size = param.Integer(default=300, bounds=(100, 2000), doc="Plot width in pixels.")

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.reward = pn.widgets.Select(
            label="reward", options=[*REWARDS, "a * dx + b * dy", "reach region"],
            css_classes=["prompt-reward"], width=200,
        )  # fmt: skip
        # Widths that leave the controls beside the picture at 1280 px.
        self.weight_x = pn.widgets.FloatSlider(
            label="a", start=-1, end=1, step=0.1, value=1.0, width=150
        )
        self.weight_y = pn.widgets.FloatSlider(
            label="b", start=-1, end=1, step=0.1, value=0.0, width=150
        )
        self.region = pn.widgets.TextInput(label="region centre x, y", value="1.5, 3.5", width=200)
        self.button = pn.widgets.Button(
            label="Prompt", color="primary", css_classes=["prompt-button"]
        )
        self.status = pn.widgets.StaticText(label="prompt", value="", css_classes=["prompt-status"])
        self._path = hv.streams.Pipe(data=np.zeros((0, 2)))
        self.button.on_click(lambda _: run_in_thread(self.status, self.prompt))
        self._holder = pn.Column()
        self._build()

    @param.depends("run_id", watch=True)
    def _build(self) -> None:
        maze = maze_of_run(self.session.store, self.run_id) if self.run_id else None
        path = hv.DynamicMap(
            lambda data: hv.Path([data], ["x", "y"]).opts(color="#d62728", line_width=3),
            streams=[self._path],
        )
        self._holder.objects = [
            figure_pane(over_maze(path, maze, self.size), css_classes=["prompt-view"])
        ]

    def rewards(self, s: np.ndarray, s2: np.ndarray) -> np.ndarray:
        """The chosen reward of transitions s -> s2."""
        choice = self.reward.value
        if choice in REWARDS:
            return REWARDS[choice](s, s2)
        if choice == "a * dx + b * dy":
            return self.weight_x.value * (s2[:, 0] - s[:, 0]) + self.weight_y.value * (
                s2[:, 1] - s[:, 1]
            )
        parts = self.region.value.replace(",", " ").split()
        try:
            centre = np.array([float(parts[0]), float(parts[1])])
        except (IndexError, ValueError):
            raise ValueError(
                f"region centre must be two numbers 'x, y', got {self.region.value!r}"
            ) from None
        return (np.linalg.norm(s2 - centre, axis=1) < 1.0).astype(np.float32)

    def prompt(self, samples: int = 10_000) -> np.ndarray:
        """Fit z to the chosen reward over dataset transitions, roll it out, draw it."""
        import gymnasium as gym

        from environments.point import PointTask
        from workbench.datasets import load_dataset
        from workbench.trainers.hilp import dataset_name
        from workbench.trainers.hilp import load_agent as load_hilp

        store = self.session.store
        fresh_checkpoint(store, self.run_id)
        agent, config, step = load_hilp(store, self.run_id)
        data = load_dataset(dataset_name(config), home=store.home)
        index = np.random.default_rng(0).integers(len(data), size=samples)
        s, s2 = data.observations[index], data.next_observations[index]
        # Reaching a region rewards the state reached; the other prompts reward the movement.
        features = "state" if self.reward.value == "reach region" else "diff"
        z = agent.reward_skill(s, s2, self.rewards(s, s2), features)
        maze = maze_of_run(store, self.run_id)
        task = PointTask(maze)
        position = np.array([maze.start], dtype=np.float64)
        path = [position[0]]
        for _ in range(gym.spec(config.env_id).max_episode_steps or 200):
            action = agent.act(position.astype(np.float32), z[None])
            position = task.move(position, np.clip(action, -0.2, 0.2))
            path.append(position[0])
        path = np.array(path)
        self._path.send(path)
        self.status.value = (
            f"{self.reward.value}: z fitted on {samples:,} transitions (checkpoint at step {step}); "
            f"ended at ({path[-1, 0]:.2f}, {path[-1, 1]:.2f})"
        )
        return path

    def __panel__(self) -> pn.viewable.Viewable:
        # The controls beside the rollout's picture, not above it (the picture alone on its
        # row left the rest of the page's width empty).
        controls = pn.Column(
            pn.Row(self.reward, self.button), pn.Row(self.weight_x, self.weight_y), self.region,
            self.status,
        )  # fmt: skip
        return pn.Row(self._holder, controls)
