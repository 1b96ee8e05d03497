"""Views of a HILP run: the maze through phi, learned against true distance from a clicked
point (with a zero-shot rollout to it), and reward prompting.

Clicks and prompts load the run's newest checkpoint on the CPU (asking a live run for a
fresh one first) and compute in a thread, so the server keeps answering meanwhile; the
pictures are DynamicMaps fed by Pipes, so a new answer is new data, not a new figure.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
import param
from scipy.stats import spearmanr

from widgets.live import LiveSession
from widgets.maze_plot import maze_of_run
from widgets.skill_views import (
    _SnapshotView,
    non_finite,
    position_colors,
    run_in_thread,
    to_2d,
    to_hex,
)

RESOLUTION = 4  # sub-cells per cell of the distance maps


def fresh_checkpoint(store, run_id: str, timeout: float = 10.0) -> None:
    """Ask a live run for a checkpoint and wait (up to ``timeout`` s) until it is written."""
    from workbench.runs import Run

    run = Run(store, run_id)
    if run.state in ("running", "paused"):
        run.checkpoint(wait=timeout)


class HilbertMap(_SnapshotView):
    """phi of a dense grid of free states, coloured by true position (PCA above 2-D): a
    good Hilbert representation straightens the maze."""

    snapshot_name = "hilbert"

    @staticmethod
    def problem(data: dict[str, np.ndarray]) -> str | None:
        return non_finite(data, ("phi_grid",))

    @staticmethod
    def _points(data: dict[str, np.ndarray] | None) -> hv.Points:
        grid, colors = np.zeros((0, 2)), []
        if data is not None:
            grid = to_2d(data["phi_grid"])
            colors = [to_hex(c) for c in position_colors(data["grid"])]
        return hv.Points(
            {"u": grid[:, 0], "v": grid[:, 1], "color": colors}, ["u", "v"], "color"
        ).opts(color="color", size=4, alpha=0.85)

    def _figure(self) -> hv.DynamicMap:
        return hv.DynamicMap(self._points, streams=[self._pipe]).opts(
            frame_width=self.size, frame_height=self.size, toolbar=None, framewise=True,
            title="phi(s), coloured by position",
        )  # fmt: skip


def _field_image(maze, values: np.ndarray | None) -> np.ndarray:
    """Sub-cell values (W*k, H*k) indexed [x, y] as an image array (rows from the top)."""
    if values is None:  # before the first click: the free cells at zero, walls blank
        free = np.kron(maze.free, np.ones((RESOLUTION, RESOLUTION), dtype=bool))
        values = np.where(free, 0.0, np.nan)
    return values.T[::-1]


class GoalDistance(pn.viewable.Viewer):
    """Click a point of the maze: the learned distance ``||phi(p) - phi(s)||`` to every
    state beside the true geodesic distance, their scatter with Spearman's rho, and the
    zero-shot goal-reaching rollout from the start to the clicked point."""

    run_id = param.String(default="", doc="HILP run whose representation is shown.")
    size = param.Integer(default=240, bounds=(100, 2000), doc="Plot width in pixels.")

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.status = pn.widgets.StaticText(
            name="clicked goal", value="click the maze", css_classes=["goal-status"]
        )
        self._holder = pn.Column()
        self._build()

    @param.depends("run_id", watch=True)
    def _build(self) -> None:
        self.maze = maze_of_run(self.session.store, self.run_id) if self.run_id else None
        # (learned field, true field, rollout path, goal); fields are (W*k, H*k) [x, y].
        self._fields = hv.streams.Pipe(data=(None, None, np.zeros((0, 2)), None))
        self._scatter = hv.streams.Pipe(data=(np.zeros(0), np.zeros(0)))
        if self.maze is None:
            self._holder.objects = [pn.pane.Markdown("Choose a HILP run on a maze.")]
            return
        bounds = (0, 0, self.maze.width, self.maze.height)
        height = round(self.size * self.maze.height / self.maze.width)
        style = {
            "frame_width": self.size, "frame_height": height, "xaxis": None, "yaxis": None,
            "toolbar": None,
        }  # fmt: skip

        def heat(which: int, title: str) -> hv.Overlay:
            # The image is its own DynamicMap so that a Tap stream can listen to it (a
            # stream on a DynamicMap that returns an overlay is never linked).
            image = hv.DynamicMap(
                lambda data: hv.Image(
                    _field_image(self.maze, data[which]), bounds=bounds, vdims="d"
                ),
                streams=[self._fields],
            ).opts(cmap="viridis", colorbar=True, title=title, clipping_colors={"NaN": "#444444"})
            hv.streams.Tap(source=image, x=None, y=None).add_subscriber(self._tapped)
            path = hv.DynamicMap(
                lambda data: hv.Path([data[2]], ["x", "y"]), streams=[self._fields]
            ).opts(color="white", line_width=2)
            goal = hv.DynamicMap(
                lambda data: hv.Points([] if data[3] is None else [data[3]], ["x", "y"]),
                streams=[self._fields],
            ).opts(color="red", size=10, marker="x", line_width=3)
            return (image * path * goal).opts(hv.opts.Overlay(**style))

        learned = heat(0, "learned distance ||phi(p) - phi(s)||")
        true = heat(1, "geodesic distance")
        scatter = hv.DynamicMap(
            lambda data: hv.Scatter((data[1], data[0]), "geodesic", "learned"),
            streams=[self._scatter],
        ).opts(
            size=3, alpha=0.4, frame_width=self.size, frame_height=height, toolbar=None,
            framewise=True, title="learned against geodesic",
        )  # fmt: skip
        self._holder.objects = [
            pn.Row(
                pn.pane.HoloViews(learned, css_classes=["learned-distance"]),
                pn.pane.HoloViews(true, css_classes=["true-distance"]),
            ),
            pn.pane.HoloViews(scatter, css_classes=["distance-scatter"]),
        ]

    def _tapped(self, x: float | None = None, y: float | None = None) -> None:
        if x is None or y is None or self.maze is None:
            return
        point = np.array([x, y])
        if not self.maze.is_free(point[None])[0]:
            self.status.value = f"({x:.2f}, {y:.2f}) is in a wall: click a free cell"
            return
        run_in_thread(self.status, lambda: self.show(point))

    def show(self, point: np.ndarray) -> float:
        """Distances from ``point`` and the rollout to it; returns Spearman's rho."""
        import gymnasium as gym

        from workbench.trainers.hilp import free_grid, reach_goals
        from workbench.trainers.hilp import load_agent as load_hilp

        store = self.session.store
        fresh_checkpoint(store, self.run_id)
        agent, config, step = load_hilp(store, self.run_id)
        maze, grid = self.maze, free_grid(self.maze, RESOLUTION)
        learned_flat = np.linalg.norm(agent.embed(grid) - agent.embed(point[None]), axis=1)
        oracle = maze.geodesic(RESOLUTION)
        true = oracle.distance_field(point)
        learned = np.full_like(true, np.nan)
        ix, iy = np.nonzero(oracle.free)
        learned[ix, iy] = learned_flat
        true_flat = true[ix, iy]
        rho = float(spearmanr(learned_flat, true_flat).statistic)
        steps = gym.spec(config.env_id).max_episode_steps or 200
        paths, reached = reach_goals(agent, maze, point[None], steps)
        self._fields.send((learned, true, paths[0], point))
        self._scatter.send((learned_flat, true_flat))
        verdict = "reached" if reached[0] else "not reached"
        self.status.value = (
            f"goal ({point[0]:.2f}, {point[1]:.2f}): Spearman rho {rho:.3f}; zero-shot rollout "
            f"{verdict} in {steps} steps (checkpoint at step {step})"
        )
        return rho

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.status, self._holder)


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
            name="reward", options=[*REWARDS, "a * dx + b * dy", "reach region"],
            css_classes=["prompt-reward"],
        )  # fmt: skip
        self.weight_x = pn.widgets.FloatSlider(name="a", start=-1, end=1, step=0.1, value=1.0)
        self.weight_y = pn.widgets.FloatSlider(name="b", start=-1, end=1, step=0.1, value=0.0)
        self.region = pn.widgets.TextInput(name="region centre x, y", value="1.5, 3.5")
        self.button = pn.widgets.Button(
            name="Prompt", button_type="primary", css_classes=["prompt-button"]
        )
        self.status = pn.widgets.StaticText(name="prompt", value="", css_classes=["prompt-status"])
        self._path = hv.streams.Pipe(data=np.zeros((0, 2)))
        self.button.on_click(lambda _: run_in_thread(self.status, self.prompt))
        self._holder = pn.Column()
        self._build()

    @param.depends("run_id", watch=True)
    def _build(self) -> None:
        from widgets.maze_plot import over_maze

        maze = maze_of_run(self.session.store, self.run_id) if self.run_id else None
        path = hv.DynamicMap(
            lambda data: hv.Path([data], ["x", "y"]).opts(color="#d62728", line_width=3),
            streams=[self._path],
        )
        self._holder.objects = [
            pn.pane.HoloViews(over_maze(path, maze, self.size), css_classes=["prompt-view"])
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
        return pn.Column(
            pn.Row(self.reward, self.button), pn.Row(self.weight_x, self.weight_y, self.region),
            self.status, self._holder,
        )  # fmt: skip
