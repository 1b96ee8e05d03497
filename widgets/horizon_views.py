"""Views of effective-horizon analyses (Laidlaw, Russell and Dragan): the per-k bound, where
in a grid world lookahead is needed, how the figures move with the horizon T, and a page
that loads an MDP (a grid world, a MiniGrid id or an uploaded BRIDGE ``.npz``) and shows
them all.

Each figure is a DynamicMap fed by a Pipe: a new analysis is new data, not a new figure
(the heat maps get a new figure only when the grid's shape changes). Loading and analysing
run in a thread (:func:`widgets.skill_views.run_in_thread`), so the server keeps answering;
bad input ends as a message in the page's status line.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import holoviews as hv
import numpy as np
import panel as pn
import param

from widgets.common import LiveSession, run_in_thread
from workbench.horizon import (
    HorizonAnalysis,
    HorizonMDP,
    MDPFormatError,
    ValueFunctions,
    analyze,
    load_mdp,
    lookahead_map,
    value_functions,
)
from workbench.horizon.discount_sweep import start_discount_sweep, sweep_returns
from workbench.horizon.sweeps import discount_sweep, horizon_sweep
from workbench.runs import Run
from workbench.runs.run import FINAL_STATES

GRIDWORLD_PREFIX = "workbench/GridWorld-"
MINIGRID_SOURCES = ("MiniGrid-Empty-5x5-v0", "MiniGrid-DoorKey-5x5-v0")
DEFAULT_SOURCE = "workbench/GridWorld-FourRooms-v0"
UPLOADED = "uploaded .npz"


def gridworld_sources() -> list[str]:
    """The registered ``workbench/GridWorld-*-v0`` ids."""
    from environments import ENVIRONMENTS

    return [info.id for info in ENVIRONMENTS if info.id.startswith(GRIDWORLD_PREFIX)]


# --------------------------------------------------------------------------- bound chart


def bound_entries(analysis: HorizonAnalysis) -> list[dict[str, object]]:
    """One row per k the bound tried, in order of k: ``failed`` k with the (t, s) where a
    suboptimal action tied the best, the others with H_k, m, gap, var and the (t, s)
    attaining m."""
    rows: dict[int, dict[str, object]] = {}
    for term in analysis.bound.terms:
        rows[term.k] = {
            "k": term.k, "failed": False, "H_k": term.horizon_k, "m": term.m,
            "gap": term.gap, "var": term.var, "t": term.t, "s": term.s,
        }  # fmt: skip
    for k, (t, s) in analysis.bound.failures.items():
        rows[k] = {
            "k": k, "failed": True, "H_k": np.nan, "m": np.nan, "gap": 0.0, "var": np.nan,
            "t": t, "s": s,
        }  # fmt: skip
    return [rows[k] for k in sorted(rows)]


_BOUND_VDIMS = ["H_k", "m", "gap", "var", "t", "s"]


def _bound_overlay(data: dict[str, object] | None) -> hv.Overlay:
    entries = [] if data is None else data["entries"]
    horizon = 1.0 if data is None else float(data["horizon"])
    chosen_k = 1.0 if data is None else float(data["min_k"])
    worked = [e for e in entries if not e["failed"]]
    failed = [e for e in entries if e["failed"]]

    def columns(rows: list[dict[str, object]], height: float | None = None) -> dict:
        table = {"k": [r["k"] for r in rows]}
        for name in _BOUND_VDIMS:
            table[name] = [
                height if name == "H_k" and height is not None else r[name] for r in rows
            ]
        return table

    # Ranges per frame: k from 1 to the last k tried, H_k from 0 to T.
    last_k = max([e["k"] for e in entries] + [chosen_k, 1])
    spikes = (
        hv.Spikes(columns(worked), "k", _BOUND_VDIMS)
        .redim.range(k=(0.5, last_k + 0.5), H_k=(0, horizon * 1.05))
        .opts(color="#1f77b4", line_width=10, alpha=0.5, framewise=True)
    )
    points = hv.Points(columns(worked), ["k", "H_k"], _BOUND_VDIMS[1:]).opts(
        color="#1f77b4", size=8, tools=["hover"], framewise=True
    )
    # A failed k has no H_k: it is marked at T, the bound's fallback.
    fails = hv.Points(columns(failed, horizon), ["k", "H_k"], _BOUND_VDIMS[1:]).opts(
        color="#d62728", marker="x", size=12, line_width=3, tools=["hover"], framewise=True
    )
    top = hv.HLine(horizon).opts(color="#555555", line_dash="dashed", line_width=1)
    least = hv.VLine(chosen_k).opts(color="#2ca02c", line_dash="dotted", line_width=2)
    return spikes * points * fails * top * least


class BoundChart(pn.viewable.Viewer):
    """The effective-horizon bound per k: H_k = k + log_A(m) of each k that worked (bars,
    hover: m, gap, var and the (t, s) attaining m), each failed k as a red cross at T
    (hover: the (t, s) where a suboptimal action tied), the horizon T dashed and min_k
    dotted."""

    width = param.Integer(default=420, bounds=(100, 2000), doc="Plot width in pixels.")
    height = param.Integer(default=260, bounds=(100, 2000), doc="Plot height in pixels.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.entries: list[dict[str, object]] = []
        self._pipe = hv.streams.Pipe(data=None)
        figure = hv.DynamicMap(_bound_overlay, streams=[self._pipe]).opts(
            hv.opts.Overlay(
                frame_width=self.width, frame_height=self.height, framewise=True, toolbar=None,
                title="bound per k: H_k = k + log_A(m)", xlabel="lookahead k", ylabel="H_k",
            )
        )  # fmt: skip
        self._pane = pn.pane.HoloViews(figure, linked_axes=False, css_classes=["bound-chart"])

    def show(self, analysis: HorizonAnalysis) -> None:
        """Draw the bound of ``analysis``."""
        self.entries = bound_entries(analysis)
        self._pipe.send(
            {"entries": self.entries, "horizon": analysis.horizon, "min_k": analysis.min_k.k}
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return self._pane


# --------------------------------------------------------------------------- lookahead map


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
            pn.Row(
                pn.pane.HoloViews(least, linked_axes=False, css_classes=["lookahead-map"]),
                pn.pane.HoloViews(gap, linked_axes=False, css_classes=["value-gap-map"]),
            )
        ]
        self._shape = layout.shape

    def __panel__(self) -> pn.viewable.Viewable:
        return self._holder


# --------------------------------------------------------------------------- sweep


def _axis(data: dict[str, np.ndarray]) -> tuple[np.ndarray, str]:
    """The swept values and their axis label (horizon T or discount gamma)."""
    return (data["discount"], "gamma") if "discount" in data else (data["horizon"], "T")


def _sweep_returns(data: dict[str, np.ndarray] | None) -> hv.Overlay:
    data = data or {"horizon": np.zeros(0), "optimal": np.zeros(0), "random": np.zeros(0)}
    x, label = _axis(data)
    layers = [
        hv.Curve((x, data[name]), label, "return", label=name).opts(color=color, framewise=True)
        * hv.Scatter((x, data[name]), label, "return", label=name).opts(
            color=color, size=5, framewise=True
        )
        for name, color in (("optimal", "#2ca02c"), ("random", "#ff7f0e"))
    ]
    return hv.Overlay(layers)


def _sweep_horizons(data: dict[str, np.ndarray] | None) -> hv.Overlay:
    empty = np.zeros(0)
    data = data or {"horizon": empty, "min_k": empty, "epw": empty, "effective_horizon": empty}
    x, axis = _axis(data)
    layers = [
        hv.Curve((x, data[name]), axis, "steps", label=label).opts(color=color, framewise=True)
        * hv.Scatter((x, data[name]), axis, "steps", label=label).opts(
            color=color, size=5, framewise=True
        )
        for name, label, color in (
            ("effective_horizon", "bound H", "#1f77b4"),
            ("min_k", "min_k", "#2ca02c"),
            ("epw", "epw", "#9467bd"),
        )
    ]
    return hv.Overlay(layers)


class HorizonSweep(pn.viewable.Viewer):
    """The same MDP at several horizons T, or discounts gamma: the optimal and random
    returns, and the bound on the effective horizon with min_k and the planning window."""

    axis = param.Selector(default="horizon", objects=["horizon", "discount"], doc="What varies.")

    width = param.Integer(default=360, bounds=(100, 2000), doc="Plot width in pixels.")
    height = param.Integer(default=220, bounds=(100, 2000), doc="Plot height in pixels.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.data: dict[str, np.ndarray] | None = None
        self._pipe = hv.streams.Pipe(data=None)
        style = {
            "frame_width": self.width, "frame_height": self.height, "framewise": True,
            "toolbar": None, "legend_position": "top_left",
        }  # fmt: skip
        returns = hv.DynamicMap(_sweep_returns, streams=[self._pipe]).opts(
            hv.opts.Overlay(title="returns", **style)
        )
        horizons = hv.DynamicMap(_sweep_horizons, streams=[self._pipe]).opts(
            hv.opts.Overlay(title="bound, min_k and epw", **style)
        )
        self._mdp: HorizonMDP | None = None
        choice = pn.widgets.RadioButtonGroup.from_param(
            self.param.axis, options={"against T": "horizon", "against gamma": "discount"}
        )
        self.param.watch(lambda _: self._mdp is not None and self.show(self._mdp), "axis")
        self._pane = pn.Column(
            choice,
            pn.Row(
                pn.pane.HoloViews(returns, linked_axes=False, css_classes=["sweep-returns"]),
                pn.pane.HoloViews(horizons, linked_axes=False, css_classes=["sweep-horizons"]),
            ),
        )

    def show(self, mdp: HorizonMDP, horizons: list[int] | None = None) -> dict[str, np.ndarray]:
        """Sweep ``mdp`` over ``horizons`` (default: 1 to its T, geometrically) or over
        the default discounts, as ``axis`` says, and draw."""
        self._mdp = mdp
        self.data = horizon_sweep(mdp, horizons) if self.axis == "horizon" else discount_sweep(mdp)
        self._pipe.send(self.data)
        return self.data

    def __panel__(self) -> pn.viewable.Viewable:
        return self._pane


# --------------------------------------------------------------------------- a state


def state_picture(source: str, mdp: HorizonMDP, state: int) -> np.ndarray:
    """An RGB picture of one state: a grid world draws it, a MiniGrid state is replayed
    in the real environment and rendered."""
    if not 0 <= state < mdp.num_states:
        raise ValueError(f"{mdp.name} has states 0..{mdp.num_states - 1}, not {state}")
    if source.startswith(GRIDWORLD_PREFIX):
        import gymnasium as gym

        return gym.make(source).unwrapped.mdp.render_state(state)
    if source.startswith("MiniGrid-"):
        from environments.minigrid_tabular import state_picture as minigrid_picture

        return minigrid_picture(source, state, mdp.horizon)
    raise ValueError(f"no picture of {mdp.name}'s states (only grid worlds and MiniGrid)")


def _blank_png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (1, 1), "white").save(buffer, format="PNG")
    return buffer.getvalue()


class StatePicture(pn.viewable.Viewer):
    """The picture of a chosen state (by index; the page proposes the state where the
    bound is attained)."""

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.state = pn.widgets.IntInput(name="picture of state", value=0, start=0,
                                         css_classes=["horizon-state"])  # fmt: skip
        # Never None: a pane going from no image to an image builds a new Bokeh model, and
        # the browser's events for the old one then fail. Hidden instead.
        self.image = pn.pane.PNG(_blank_png(), width=220, visible=False,
                                 css_classes=["horizon-picture"])  # fmt: skip
        self.message = pn.pane.Markdown("", css_classes=["horizon-picture-message"])
        self._target: tuple[str, HorizonMDP] | None = None
        self.state.param.watch(lambda _: self._draw(), "value")

    def target(self, source: str, mdp: HorizonMDP, state: int = 0) -> None:
        self._target = (source, mdp)
        self.state.end = mdp.num_states - 1
        if self.state.value == state:
            self._draw()
        else:
            self.state.value = state

    def _draw(self) -> None:
        if self._target is None:
            return
        source, mdp = self._target
        try:
            picture = state_picture(source, mdp, int(self.state.value))
        except ValueError as error:
            self.image.visible, self.message.object = False, str(error)
            return
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, format="PNG")
        self.image.param.update(object=buffer.getvalue(), visible=True)
        where = (
            "" if mdp.positions is None else f" at cell {tuple(mdp.positions[self.state.value])}"
        )
        self.message.object = f"state {self.state.value}{where}"

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.state, self.image, self.message)


# --------------------------------------------------------------------------- learners


ESTIMATES = ("predicted T^2 A^H", "GORP", "SQIRL", "PPO")


def _complexity_bars(data: dict[str, float] | None) -> hv.Bars:
    # Always the same four bars (NaN: not measured yet): new categories would make Bokeh
    # replace the axis' range while the browser still refers to the old one.
    data = data or {}
    rows = [(name, data.get(name, np.nan)) for name in ESTIMATES]
    rows = [(name, steps if np.isfinite(steps) else np.nan) for name, steps in rows]
    # A log axis needs an explicit floor (bars start at 0): one step, up to a decade above
    # the tallest bar.
    tallest = np.nanmax([steps for _, steps in rows] + [1.0])
    return hv.Bars(rows, "estimate", "environment steps").opts(
        logy=True, ylim=(1, 10 * tallest), color="estimate", cmap="Category10",
        framewise=True, tools=["hover"],
    )  # fmt: skip


class SampleComplexity(pn.viewable.Viewer):
    """The effective horizon's predicted sample complexity, T^2 A^H, beside the measured
    sample complexities of GORP, SQIRL and PPO on the same MDP (steps until each acts
    optimally; measured on request: PPO takes a while)."""

    ppo_steps = param.Integer(50_000, bounds=(1_000, 10**7), doc="PPO's step budget.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.data: dict[str, float] | None = None
        self._pipe = hv.streams.Pipe(data=None)
        chart = hv.DynamicMap(_complexity_bars, streams=[self._pipe]).opts(
            frame_width=320, frame_height=200, toolbar=None,
            title="predicted against measured sample complexity",
        )  # fmt: skip
        self.button = pn.widgets.Button(
            name="Measure GORP, SQIRL and PPO", css_classes=["horizon-measure"]
        )
        self.status = pn.widgets.StaticText(value="", css_classes=["horizon-measure-status"])
        self.table = pn.pane.Markdown("", css_classes=["horizon-complexity"])
        self._pane = pn.Column(
            pn.Row(self.button, self.status),
            pn.Row(pn.pane.HoloViews(chart, linked_axes=False), self.table),
        )
        self._target: tuple[HorizonMDP, HorizonAnalysis] | None = None
        self.button.on_click(lambda _: self.request())

    def target(self, mdp: HorizonMDP, analysis: HorizonAnalysis) -> None:
        """The MDP the next measurement runs on; shows its prediction at once."""
        self._target = (mdp, analysis)
        self.show({"predicted T^2 A^H": analysis.predicted_sample_complexity})

    def request(self) -> None:
        if self._target is not None:
            run_in_thread(self.status, lambda: self.measure(*self._target))

    def measure(self, mdp: HorizonMDP, analysis: HorizonAnalysis) -> dict[str, float]:
        """Measure GORP and SQIRL with k = min_k and PPO, then draw them."""
        from workbench.horizon.learners import measured_sample_complexities

        self.status.value = "measuring (GORP, SQIRL, then PPO)..."
        measured = measured_sample_complexities(mdp, k=analysis.min_k.k, ppo_steps=self.ppo_steps)
        data = {"predicted T^2 A^H": analysis.predicted_sample_complexity} | measured
        self.show(data)
        self.status.value = f"measured with k = {analysis.min_k.k}"
        return data

    def show(self, data: dict[str, float]) -> None:
        self.data = data
        self._pipe.send(data)
        rows = "\n".join(
            f"| {name} | {steps:,.0f} |"
            if np.isfinite(steps)
            else f"| {name} | not within budget |"
            for name, steps in data.items()
        )
        self.table.object = "| estimate | steps |\n|---|---:|\n" + rows

    def __panel__(self) -> pn.viewable.Viewable:
        return self._pane


# --------------------------------------------------------------------------- the page


def figures_markdown(analysis: HorizonAnalysis) -> str:
    """The figure table of one analysis, as Markdown."""
    best = analysis.bound.best
    attained = "T itself" if best is None else f"k = {best.k} at (t, s) = ({best.t}, {best.s})"
    rows = [
        ("MDP", analysis.name),
        ("states / actions", f"{analysis.states} / {analysis.actions}"),
        ("horizon T", analysis.horizon),
        ("min_k", analysis.min_k.k),
        ("epw (planning window)", analysis.epw.k),
        ("effective horizon (bound)", f"{analysis.bound.effective_horizon:.2f} ({attained})"),
        ("optimal return", f"{analysis.returns['optimal']:.4f}"),
        ("random return", f"{analysis.returns['random']:.4f}"),
        ("deterministic", "yes" if analysis.deterministic else "no"),
    ]
    return "| figure | value |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)


class HorizonView(pn.viewable.Viewer):
    """Pick an MDP (a grid world, a MiniGrid environment or an uploaded BRIDGE ``.npz``)
    and a horizon T; see its figures, the bound per k, where lookahead is needed, and how
    the figures change with T."""

    source = param.String(default=DEFAULT_SOURCE, doc="Environment id analysed.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        options = [*gridworld_sources(), *MINIGRID_SOURCES]
        self.select = pn.widgets.Select(
            name="MDP", options=options, value=self.source if self.source in options else None,
            css_classes=["horizon-source"],
        )  # fmt: skip
        self.upload = pn.widgets.FileInput(accept=".npz", css_classes=["horizon-upload"])
        self.horizon = pn.widgets.IntInput(
            name="horizon T (empty: the MDP's own)", value=None, css_classes=["horizon-T"]
        )
        self.button = pn.widgets.Button(
            name="Analyse", button_type="primary", css_classes=["horizon-analyse"]
        )
        self.status = pn.widgets.StaticText(
            name="status", value="not analysed yet", css_classes=["horizon-status"]
        )
        self.figures = pn.pane.Markdown("", css_classes=["horizon-figures"])
        self.bound = BoundChart()
        self.map = LookaheadMap()
        self.time = pn.widgets.IntSlider(name="map at time step t", start=0, end=1, value=0)
        self.time.link(self.map, value="t")
        self.sweep = HorizonSweep()
        self.complexity = SampleComplexity()
        self.picture = StatePicture()
        self.analysis: HorizonAnalysis | None = None
        self._upload: tuple[bytes, str] | None = None
        self._lock = threading.Lock()
        self._started = False
        self.select.param.watch(self._source_chosen, "value")
        self.upload.param.watch(self._uploaded, "value")
        self.horizon.param.watch(lambda _: self.request(), "value")
        self.button.on_click(lambda _: self.request())

    def start(self) -> None:
        """Analyse the chosen source the first time the page is opened (idempotent)."""
        if not self._started:
            self._started = True
            self.request()

    def _source_chosen(self, event) -> None:
        if event.new:
            self._upload = None
            self.source = event.new
            self.request()

    def _uploaded(self, event) -> None:
        if event.new is not None:
            self._upload = (event.new, self.upload.filename or "upload.npz")
            self.request()

    def request(self) -> None:
        """Analyse the current choice (the upload if one is newer than the select) in a
        thread."""
        horizon, upload, source = self.horizon.value, self._upload, self.source
        if upload is not None:
            run_in_thread(self.status, lambda: self.show_upload(*upload, horizon=horizon))
        else:
            run_in_thread(self.status, lambda: self.show(source, horizon))

    def show_upload(
        self, data: bytes, filename: str, horizon: int | None = None
    ) -> HorizonAnalysis | None:
        """Analyse uploaded BRIDGE npz bytes (saved to a temporary file for
        :func:`load_mdp`)."""
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "upload.npz"
            path.write_bytes(data)
            return self.show(str(path), horizon, label=Path(filename).name)

    def show(
        self, source: str, horizon: int | None = None, label: str | None = None
    ) -> HorizonAnalysis | None:
        """Load ``source`` with horizon T (None: its own), analyse it and draw everything;
        returns the analysis, or None with the reason in the status line."""
        label = label or source
        with self._lock:
            start = time.perf_counter()
            try:
                if horizon is not None and (int(horizon) != horizon or horizon < 1):
                    raise ValueError(f"horizon T must be a positive integer, got {horizon}")
                mdp = load_mdp(source, horizon)
            except ModuleNotFoundError as error:
                self.status.value = f"cannot load {label}: {error.msg} (is it installed?)"
                return None
            except (MDPFormatError, ValueError, OSError) as error:
                # BRIDGE errors name the (temporary) path: show the uploaded file's name.
                message = str(error).replace(source, label).removeprefix(f"{label}: ")
                self.status.value = f"cannot load {label}: {message}"
                return None
            if label != source:
                mdp.name = label
            self.status.value = f"analysing {label} ({mdp.num_states} states)..."
            values = value_functions(mdp)
            analysis = analyze(mdp, values)
            self.analysis = analysis
            self.figures.object = figures_markdown(analysis)
            self.bound.show(analysis)
            self.time.param.update(end=max(mdp.horizon - 1, 1), value=0)
            self.map.show(mdp, values)
            self.sweep.show(mdp)
            self.complexity.target(mdp, analysis)
            best = analysis.bound.best
            self.picture.target(source if label == source else "", mdp, best.s if best else 0)
            self.status.value = (
                f"{label}: {mdp.num_states} states, {mdp.num_actions} actions, "
                f"T = {mdp.horizon}; analysed in {time.perf_counter() - start:.2f} s"
            )
            return analysis

    def __panel__(self) -> pn.viewable.Viewable:
        intro = pn.pane.Markdown(
            "**min_k**: the least k such that acting greedily on k - 1 Bellman backups of the "
            "random policy's Q is optimal. **epw**: the same from the immediate reward. "
            "**Effective horizon**: the bound min(T, min_k H_k), which predicts how many "
            "samples GORP and SQIRL need. The map shows, per cell, the least k that is "
            "optimal there at time step t.",
            sizing_mode="stretch_width",
        )
        controls = pn.Row(
            self.select,
            pn.Column(pn.pane.Markdown("or upload a BRIDGE `.npz`", margin=(0, 5)), self.upload),
            self.horizon,
            self.button,
        )
        return pn.Column(
            controls,
            self.status,
            pn.Row(self.figures, self.bound, self.picture),
            intro,
            self.time,
            self.map,
            self.sweep,
            self.complexity,
            sizing_mode="stretch_width",
        )


# ------------------------------------------------------------ discount sweep of live runs


def parse_discounts(text: str) -> list[float]:
    """Discounts from a comma- or space-separated list (numbers only, nothing evaluated);
    a ValueError names the entry that is not a discount in [0, 1]."""
    discounts = []
    for entry in text.replace(",", " ").split():
        try:
            gamma = float(entry)
        except ValueError:
            raise ValueError(f"{entry!r} is not a number") from None
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"discount {entry} is outside [0, 1]")
        discounts.append(gamma)
    if not discounts:
        raise ValueError("give at least one discount, e.g. 0.9, 0.99")
    return sorted(set(discounts))


def _returns_against_discount(data: dict[str, list[float]] | None) -> hv.Overlay:
    data = data or {"gamma": [], "return": []}
    return hv.Curve(data, "gamma", "return") * hv.Scatter(data, "gamma", "return").opts(size=8)


class DiscountSweepView(pn.viewable.Viewer):
    """Return against discount for an SB3 learner on a continuous environment: one live
    ``sb3`` run per discount in the run store (each also on the Runs page), and their
    latest evaluation returns, redrawn while they train."""

    def __init__(
        self,
        session: LiveSession,
        executor: str = "subprocess",
        knobs: dict | None = None,
        **params,
    ) -> None:
        """``knobs``: further ``sb3`` knobs every run of a sweep gets (e.g. ``n_envs``)."""
        super().__init__(**params)
        from workbench.trainers.sb3 import ALGORITHMS, SB3Config  # imports SB3: only when built

        self.session, self.executor, self.knobs = session, executor, dict(knobs or {})
        self.env = pn.widgets.Select(
            name="environment", options=list(SB3Config.param.env_id.objects),
            value="workbench/Plane-v0", css_classes=["sweep-env"],
        )  # fmt: skip
        self.algorithm = pn.widgets.Select(
            name="learner", options=list(ALGORITHMS), value="PPO", width=100
        )
        self.discounts = pn.widgets.TextInput(
            name="discounts", value="0.5, 0.9, 0.99", css_classes=["sweep-discounts"]
        )
        self.steps = pn.widgets.IntInput(
            name="steps per run", value=20_000, start=1_000, end=10**7, step=1_000,
            css_classes=["sweep-steps"],
        )  # fmt: skip
        self.button = pn.widgets.Button(
            name="Start sweep", button_type="primary", css_classes=["sweep-start"]
        )
        self.status = pn.widgets.StaticText(value="", css_classes=["sweep-status"])
        self.runs: list[Run] = []
        self.data: dict[str, list[float]] | None = None
        self._watching = False  # some run of the sweep has not ended yet
        self._pipe = hv.streams.Pipe(data=None)
        chart = hv.DynamicMap(_returns_against_discount, streams=[self._pipe]).opts(
            hv.opts.Curve(framewise=True, frame_width=360, frame_height=220, toolbar=None),
            hv.opts.Overlay(title="latest evaluation return against discount"),
        )
        self._chart = pn.pane.HoloViews(chart, linked_axes=False, css_classes=["sweep-chart"])
        self.button.on_click(lambda _: self.start())
        session.register(self)

    def start(self) -> list[Run]:
        """Start one run per discount with the chosen knobs; a bad entry is named in the
        status line and starts nothing."""
        try:
            discounts = parse_discounts(self.discounts.value)
            steps = int(self.steps.value or 0)
            if steps < 1_000:
                raise ValueError(f"steps per run must be at least 1,000, got {steps}")
        except ValueError as error:
            self.status.value = f"cannot start: {error}"
            return []
        self.runs = start_discount_sweep(
            discounts, store=self.session.store, executor=self.executor,
            env_id=self.env.value, algorithm=self.algorithm.value, total_timesteps=steps,
            eval_every=max(steps // 5, 1), checkpoint_every=0, **self.knobs,
        )  # fmt: skip
        self.data, self._watching = None, True
        self.status.value = f"started {len(self.runs)} runs of {self.algorithm.value}"
        self.refresh()
        return self.runs

    def refresh(self) -> None:
        """Redraw when a run has a new evaluation (called by the session); once every run
        has ended, stop reading the store."""
        if not self._watching:
            return
        rows = sweep_returns(self.runs)
        ended = all(row["state"] in FINAL_STATES for row in rows)
        data = {
            "gamma": [row["gamma"] for row in rows if row["evaluations"]],
            "return": [row["return"] for row in rows if row["evaluations"]],
        }
        if data != self.data:
            self.data = data
            self._pipe.send(data)
        steps = ", ".join(f"gamma {row['gamma']:g}: step {row['step']:,}" for row in rows)
        self.status.value = (
            f"{self.algorithm.value} on {self.env.value}: {steps}{' (ended)' if ended else ''}"
        )
        self._watching = not ended

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown(
                "**Return against discount** for a deep RL learner on a continuous "
                "environment: one live run per discount (each also on the Runs page)."
            ),
            pn.Row(self.env, self.algorithm, self.discounts, self.steps, self.button),
            self.status,
            self._chart,
        )
