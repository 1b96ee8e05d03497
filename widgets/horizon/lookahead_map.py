"""The Horizon page's heat maps over a grid: the least lookahead k whose greedy actions are
optimal at each state, and the value gap V* - V random."""

from __future__ import annotations

from dataclasses import dataclass

import holoviews as hv
import numpy as np
import panel as pn
import param

from widgets.common.plotting import figure_pane
from widgets.horizon.sources import GRIDWORLD_PREFIX
from workbench.horizon import HorizonMDP, ValueFunctions, lookahead_map, value_functions


@dataclass
class GridLayout:
    """Where each state of an MDP lies on a grid: ``cells[s]`` = (x, y), ``shape`` = (W, H);
    ``y_down`` when row 0 is the top (MiniGrid), else y grows upwards (the grid worlds)."""

    cells: np.ndarray
    shape: tuple[int, int]
    y_down: bool = False


def grid_layout(mdp: HorizonMDP) -> GridLayout | None:
    """The grid of ``mdp``: its ``positions`` when it has them, the grid world's own
    ``cells`` for a ``workbench/GridWorld-*`` MDP (state s is the grid world's state s), or
    None for an MDP without positions."""
    if mdp.positions is not None:
        cells = np.asarray(mdp.positions).astype(np.int64)
        if cells.shape != (mdp.num_states, 2) or (cells < 0).any():
            return None
        width, height = (cells.max(0) + 1).tolist()
        return GridLayout(cells, (int(width), int(height)), y_down=True)
    if mdp.name.startswith(GRIDWORLD_PREFIX):
        import gymnasium as gym

        import environments  # noqa: F401  (registers the ids)

        if mdp.name not in gym.registry:
            return None
        grid = gym.make(mdp.name).unwrapped.mdp
        if grid.cells is None or len(grid.cells) != mdp.num_states:
            return None
        return GridLayout(np.asarray(grid.cells), tuple(int(n) for n in grid.free.shape))
    return None


def on_grid(layout: GridLayout, values: np.ndarray) -> np.ndarray:
    """(W, H) array indexed [x, y]: the largest value of the states in each cell, NaN where
    no state lies (walls)."""
    grid = np.full(layout.shape, np.nan)
    np.fmax.at(grid, (layout.cells[:, 0], layout.cells[:, 1]), values.astype(np.float64))
    return grid


def _image(layout: GridLayout, grid: np.ndarray, label: str) -> hv.Image:
    width, height = layout.shape
    shown = np.where(np.isfinite(grid), grid, np.nan)  # inf (no k worked) drawn as a wall
    rows = shown.T if layout.y_down else shown.T[::-1]  # image rows run from the top
    return hv.Image(rows, bounds=(0, 0, width, height), vdims=label)


class LookaheadMap(pn.viewable.Viewer):
    """Two heat maps over a grid world: the least lookahead k whose greedy actions on
    B^(k-1) Q random are optimal at (t, s) (:func:`lookahead_map`), and the value gap
    V*(t, s) - V random(t, s). Several states per cell (MiniGrid's directions, keys) show
    their maximum. MDPs without positions get a message instead."""

    t = param.Integer(default=0, bounds=(0, None), doc="Time step of the maps.")
    size = param.Integer(default=300, bounds=(100, 2000), doc="Plot width in pixels.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.mdp: HorizonMDP | None = None
        self.values: ValueFunctions | None = None
        self.layout: GridLayout | None = None
        self.least_k: np.ndarray | None = None
        self.gap: np.ndarray | None = None
        self._pipe = hv.streams.Pipe(data=None)
        self._shape: tuple[int, int] | None = None  # of the grid drawn, None: no maps
        self._holder = pn.Column(pn.pane.Markdown("No MDP analysed yet."))

    def show(self, mdp: HorizonMDP, values: ValueFunctions | None = None) -> None:
        """Draw the maps of ``mdp`` (its value functions, if already computed)."""
        layout = grid_layout(mdp)
        self.mdp, self.layout = mdp, layout
        self.values = value_functions(mdp) if values is None else values
        if self.t >= mdp.horizon:
            with param.discard_events(self):
                self.t = 0
        if layout is None:
            self.least_k = self.gap = None
            self._shape = None
            self._holder.objects = [
                pn.pane.Markdown(
                    f"**{mdp.name}** has no grid positions (a BRIDGE file, or an MDP built "
                    "by hand): no map to draw. The figures, bound and sweep above still hold.",
                    css_classes=["lookahead-message"],
                )
            ]
            return
        self._compute()
        if self._shape != layout.shape:
            self._build()  # a new grid: a new figure
        else:
            self._pipe.send(self.grids())

    def _compute(self) -> None:
        assert self.mdp is not None and self.values is not None
        self.least_k = lookahead_map(self.mdp, t=self.t, values=self.values)
        self.gap = self.values.v_optimal[self.t] - self.values.v_random[self.t]

    def grids(self) -> tuple[np.ndarray, np.ndarray]:
        """(least k, value gap) on the grid, each (W, H) indexed [x, y]; NaN at walls."""
        assert self.layout is not None and self.least_k is not None and self.gap is not None
        return on_grid(self.layout, self.least_k), on_grid(self.layout, self.gap)

    @param.depends("t", watch=True)
    def _redraw(self) -> None:
        if self.layout is None or self.mdp is None or self._shape is None:
            return
        self._compute()
        self._pipe.send(self.grids())

    def _build(self) -> None:
        layout = self.layout
        assert layout is not None
        width, height = layout.shape
        self._pipe = hv.streams.Pipe(data=self.grids())
        style = {
            "frame_width": self.size, "frame_height": round(self.size * height / width),
            "xaxis": None, "yaxis": None, "toolbar": None, "colorbar": True,
            "tools": ["hover"], "clipping_colors": {"NaN": "#444444"}, "framewise": True,
        }  # fmt: skip

        def heat(which: int, label: str, cmap: str, title: str) -> hv.DynamicMap:
            return hv.DynamicMap(
                lambda data: _image(layout, data[which], label), streams=[self._pipe]
            ).opts(cmap=cmap, title=title, **style)

        least = heat(0, "k", "viridis", "least lookahead k at time step t")
        gap = heat(1, "gap", "magma", "value gap V* - V random")
        # Unlinked axes: the last grid's ranges would otherwise carry over to a new shape.
        self._holder.objects = [
            pn.FlexBox(  # wraps on a narrow window
                figure_pane(least, css_classes=["lookahead-map"]),
                figure_pane(gap, css_classes=["value-gap-map"]),
            )
        ]
        self._shape = layout.shape

    def __panel__(self) -> pn.viewable.Viewable:
        return self._holder
