"""Views of skill discovery runs: trajectories coloured by skill, and the latent map."""

from __future__ import annotations

import colorsys
import functools

import holoviews as hv
import numpy as np

from widgets.common.maze_plot import maze_of_run, over_maze
from widgets.common.plotting import coloured_paths, non_finite, position_colors, to_2d, to_hex
from widgets.common.snapshot import SnapshotView

CATEGORICAL = hv.Cycle.default_cycles["Category20"]


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


class SkillTrajectories(SnapshotView):
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


class LatentMap(SnapshotView):
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
        ).opts(color="color", size=4, alpha=0.8, framewise=True)
        lines = coloured_paths(phi_paths, path_colors, ["u", "v"]).opts(
            line_width=1.5, alpha=0.8, framewise=True
        )
        return points * lines

    def _figure(self) -> hv.DynamicMap:
        layers = functools.partial(self._layers, discrete=self._discrete_skills())
        return hv.DynamicMap(layers, streams=[self._pipe]).opts(
            hv.opts.Overlay(
                frame_width=self.size,
                frame_height=self.size,
                toolbar=None,
                title="phi(s)",
                # phi moves and stretches as it learns. The ranges follow only when every
                # layer is framewise too: on the overlay alone they stayed at 0..1, blank.
                framewise=True,
            )
        )
