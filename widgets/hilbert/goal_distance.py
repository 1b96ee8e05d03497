"""Learned against true distance from a clicked point of the maze, with the zero-shot
rollout of a HILP run's policy to it.

A click loads the run's newest checkpoint on the CPU (asking a live run for a fresh one
first) and computes in a thread, so the server keeps answering meanwhile; the pictures are
DynamicMaps fed by Pipes, so a new answer is new data, not a new figure.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
import param
from scipy.stats import spearmanr

from widgets.common.live import LiveSession
from widgets.common.maze_plot import maze_of_run
from widgets.common.plotting import figure_pane
from widgets.common.threads import run_in_thread

RESOLUTION = 4  # sub-cells per cell of the distance maps


def fresh_checkpoint(store, run_id: str, timeout: float = 10.0) -> None:
    """Ask a live run for a checkpoint and wait (up to ``timeout`` s) until it is written."""
    from workbench.runs import Run

    run = Run(store, run_id)
    if run.state in ("running", "paused"):
        run.checkpoint(wait=timeout)


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
            label="clicked goal", value="click the maze", css_classes=["goal-status"]
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
        # One row that wraps: three across where the page is wide enough (the scatter sat
        # alone under the maps at 1500 px), the scatter under them at 1280. A pn.FlexBox
        # drew these HoloViews panes blank.
        self._holder.objects = [
            pn.Row(
                figure_pane(learned, css_classes=["learned-distance"]),
                figure_pane(true, css_classes=["true-distance"]),
                figure_pane(scatter, css_classes=["distance-scatter"]),
                styles={"flex-wrap": "wrap"},
            )
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
