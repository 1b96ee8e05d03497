"""Views of skill discovery runs: trajectories coloured by skill, and the latent map."""

from __future__ import annotations

import colorsys
import functools
import threading
import time
from collections.abc import Callable

import holoviews as hv
import numpy as np
import panel as pn
import param

from widgets.live import LiveSession
from widgets.maze_plot import maze_of_run, over_maze

CATEGORICAL = hv.Cycle.default_cycles["Category20"]


def to_hex(rgb: np.ndarray) -> str:
    """``#rrggbb`` of an RGB triple in [0, 1]."""
    return "#" + "".join(f"{round(float(np.clip(c, 0, 1)) * 255):02x}" for c in rgb[:3])


def skill_colors(skills: np.ndarray, discrete: bool | None = None) -> list[str]:
    """One colour per skill: one-hot skills by a categorical palette, 2-D skills by their
    angle on a colour wheel, higher dimensions by their first three principal components.
    ``discrete``: whether the skills are one-hot (None: guessed from the values, which a
    lone continuous skill such as (1, 0) can fool). Above 20 one-hot skills the hues are
    spread around the wheel instead of the palette's."""
    skills = np.asarray(skills, dtype=np.float64)
    if discrete is None:
        discrete = bool(((skills == 0) | (skills == 1)).all() and (skills.sum(1) == 1).all())
    if discrete:
        index = skills.argmax(1)
        if skills.shape[1] <= len(CATEGORICAL):
            return [CATEGORICAL[i] for i in index]
        # More skills than the palette: hues evenly around the wheel, neighbours far apart
        # (index times a golden-ratio step), so that no two skills share a colour.
        hue = (index * 0.618034) % 1.0
        return [to_hex(np.array(colorsys.hsv_to_rgb(h, 0.85, 0.9))) for h in hue]
    if skills.shape[1] == 2:
        hue = (np.arctan2(skills[:, 1], skills[:, 0]) + np.pi) / (2 * np.pi)
        rgb = np.array([colorsys.hsv_to_rgb(h, 0.85, 0.9) for h in hue])
    else:
        centred = skills - skills.mean(0)
        _, _, basis = np.linalg.svd(centred, full_matrices=False)
        components = centred @ basis[:3].T
        span = components.max(0) - components.min(0)
        rgb = (components - components.min(0)) / np.where(span > 0, span, 1)
        rgb = np.pad(rgb, ((0, 0), (0, 3 - rgb.shape[1])), constant_values=0.5)
    return [to_hex(c) for c in rgb]


def position_colors(points: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] from 2-D positions (x to red, y to green), for the latent map."""
    low, high = points.min(0), points.max(0)
    scaled = (points - low) / np.where(high > low, high - low, 1)
    return np.stack([scaled[:, 0], scaled[:, 1], np.full(len(points), 0.55)], 1)


def to_2d(points: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Latent points as 2-D: as they are, padded, or above two dimensions projected on the
    first two principal axes of ``reference`` (default: the points themselves). Layers drawn
    together must share one reference, or they land in different coordinates."""
    if points.shape[-1] == 2:
        return points
    if points.shape[-1] == 1:
        return np.concatenate([points, np.zeros_like(points)], -1)
    fit = (points if reference is None else reference).reshape(-1, points.shape[-1])
    mean = fit.mean(0)
    _, _, basis = np.linalg.svd(fit - mean, full_matrices=False)
    return ((points - mean) @ basis[:2].T).reshape(*points.shape[:-1], 2)


def non_finite(data: dict[str, np.ndarray], names: tuple[str, ...]) -> str | None:
    """Which of the arrays ``names`` of a snapshot holds a NaN or an infinity, as a caption."""
    for name in names:
        if not np.isfinite(data[name]).all():
            return f"phi is not finite (NaN or inf in {name})"
    return None


def coloured_paths(paths: np.ndarray, colors: list[str], kdims: list[str]) -> hv.Contours:
    """Paths (n, T, 2) as one multi-line glyph, path i drawn in ``colors[i]``."""
    x, y = kdims
    lines = [{x: p[:, 0], y: p[:, 1], "color": c} for p, c in zip(paths, colors, strict=True)]
    return hv.Contours(lines, kdims, "color").opts(color="color")


def run_in_thread(status: pn.widgets.StaticText, work: Callable[[], object]) -> None:
    """Run ``work`` off the server's event loop (Panel schedules the widget changes it
    makes); its failure is shown in ``status``, not lost in a log."""

    def guarded() -> None:
        try:
            work()
        except Exception as error:
            status.value = f"failed: {type(error).__name__}: {error}"
            raise

    status.value = "working..."
    threading.Thread(target=guarded, daemon=True).start()


class _SnapshotView(pn.viewable.Viewer):
    """Shows the latest snapshot ``snapshot_name`` of a run, redrawn as new ones arrive.

    The figure is built once per run; each new snapshot goes through a ``Pipe`` into a
    ``DynamicMap`` of a fixed set of glyphs, so the browser receives new data for existing
    glyphs, never a new figure. Snapshots arriving faster than ``min_interval`` seconds
    are skipped: the latest one is drawn at the next chance.
    """

    run_id = param.String(default="", doc="Run shown.")
    size = param.Integer(default=280, bounds=(100, 2000), doc="Plot width in pixels.")
    min_interval = param.Number(
        default=2.0, bounds=(0.0, None), doc="Seconds between two redraws, at least."
    )
    snapshot_name = ""

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self._cursor, self._drawn_at = 0, -np.inf
        self.caption = pn.widgets.StaticText(
            name=self.snapshot_name, value="none yet", css_classes=[f"{self.snapshot_name}-caption"]
        )
        self._pipe = hv.streams.Pipe(data=None)
        self._pane = pn.pane.HoloViews(self._figure(), css_classes=[f"{self.snapshot_name}-view"])
        session.register(self)

    @param.depends("run_id", watch=True)
    def _new_run(self) -> None:
        self._cursor, self._drawn_at = 0, -np.inf
        self._pipe = hv.streams.Pipe(data=None)
        self._pane.object = self._figure()
        self.caption.value = "none yet"
        self.refresh()

    def refresh(self) -> None:
        if not self.run_id or time.monotonic() - self._drawn_at < self.min_interval:
            return
        store = self.session.store
        new = store.snapshots(self.run_id, self.snapshot_name, after_rowid=self._cursor)
        if new:
            self._cursor, step = new[-1]
            self._drawn_at = time.monotonic()
            data = store.load_snapshot(self.run_id, self.snapshot_name, step)
            problem = self.problem(data)
            if problem:  # keep the last good picture, and say why it is not redrawn
                self.caption.value = f"step {step}: {problem}; not drawn"
                return
            self.caption.value = f"step {step}"
            self._pipe.send(data)

    @staticmethod
    def problem(data: dict[str, np.ndarray]) -> str | None:
        """Why this snapshot cannot be drawn, or None."""
        return None

    def _figure(self) -> hv.Overlay | hv.DynamicMap:
        """The plot of this run, fed by the pipe."""
        raise NotImplementedError

    def _discrete_skills(self) -> bool | None:
        """Whether the run's skills are one-hot (None without a run: guessed from values)."""
        if not self.run_id:
            return None
        return self.session.store.get_run(self.run_id).config.get("skill_type") == "discrete"

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.caption, self._pane)


class SkillTrajectories(_SnapshotView):
    """The latest deterministic evaluation trajectories, one colour per skill, drawn over
    the maze (or the plane)."""

    snapshot_name = "trajectories"

    @staticmethod
    def _paths(data: dict[str, np.ndarray] | None, discrete: bool | None = None) -> hv.Contours:
        # One multi-line glyph for all skills, each path carrying its colour, instead of
        # one renderer per skill.
        if data is None:  # one invisible line: the glyph exists before the first snapshot
            data = {"paths": np.full((1, 1, 2), np.nan), "skills": np.eye(2)[:1]}
        colors = skill_colors(data["skills"], discrete)
        return coloured_paths(data["paths"], colors, ["x", "y"]).opts(line_width=2)

    def _figure(self) -> hv.Overlay | hv.DynamicMap:
        paths = hv.DynamicMap(
            functools.partial(self._paths, discrete=self._discrete_skills()), streams=[self._pipe]
        )
        maze = maze_of_run(self.session.store, self.run_id) if self.run_id else None
        if maze is None:  # the plane: the axes follow the trajectories
            paths = paths.opts(framewise=True)
        return over_maze(paths, maze, self.size)


class LatentMap(_SnapshotView):
    """phi of a dense grid of states coloured by their position, with phi of the
    evaluation trajectories on top, coloured by skill as in :class:`SkillTrajectories`
    (PCA to 2-D above two dimensions)."""

    snapshot_name = "latent"

    @staticmethod
    def problem(data: dict[str, np.ndarray]) -> str | None:
        return non_finite(data, ("phi_grid", "phi_paths"))

    @staticmethod
    def _layers(data: dict[str, np.ndarray] | None, discrete: bool | None = None) -> hv.Overlay:
        grid, colors = np.zeros((0, 2)), []
        phi_paths, path_colors = np.full((1, 1, 2), np.nan), ["#333333"]
        if data is not None:
            grid = to_2d(data["phi_grid"])
            colors = [to_hex(c) for c in position_colors(data["grid"])]
            # The grid's principal axes for both layers (their own would not line up).
            phi_paths = to_2d(data["phi_paths"], reference=data["phi_grid"])
            # Snapshots written before the skills were stored draw their paths grey.
            skills = data.get("skills")
            path_colors = (
                skill_colors(skills, discrete)
                if skills is not None
                else ["#333333"] * len(phi_paths)
            )
        points = hv.Points(
            {"u": grid[:, 0], "v": grid[:, 1], "color": colors}, ["u", "v"], "color"
        ).opts(color="color", size=4, alpha=0.8)
        lines = coloured_paths(phi_paths, path_colors, ["u", "v"]).opts(line_width=1.5, alpha=0.8)
        return points * lines

    def _figure(self) -> hv.DynamicMap:
        layers = functools.partial(self._layers, discrete=self._discrete_skills())
        return hv.DynamicMap(layers, streams=[self._pipe]).opts(
            hv.opts.Overlay(
                frame_width=self.size,
                frame_height=self.size,
                toolbar=None,
                title="phi(s)",
                framewise=True,  # phi moves and stretches as it learns
            )
        )


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
            name="skill angle (degrees)",
            start=-180,
            end=180,
            step=5,
            value=0,
            css_classes=["skill-angle"],
        )
        self.index = pn.widgets.IntInput(
            name="skill index", value=0, start=0, css_classes=["skill-index"]
        )
        self.button = pn.widgets.Button(
            name="Roll out this skill", button_type="primary", css_classes=["skill-rollout"]
        )
        self.status = pn.widgets.StaticText(
            name="picked skill", value="", css_classes=["picker-status"]
        )
        self._pane = pn.pane.HoloViews(
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
