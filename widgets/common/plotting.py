"""Small drawing helpers shared by the pages: the pane every figure goes in, colours, 2-D
projections of latent points, multi-coloured paths, and the check that a snapshot is
finite."""

from __future__ import annotations

from typing import Any

import holoviews as hv
import numpy as np
import panel as pn

# Inline code in a Markdown pane, the same on every load: Panel's markdown styles (blue) and
# the template's Bootstrap styles (pink) won by the order their stylesheets reached the pane,
# which differed between a first load and a revisited tab.
MARKDOWN_CODE_CSS = (
    ":host code { color: #0b5394; background: #f1f3f5; padding: 0 0.25em; border-radius: 3px; }"
)


def figure_pane(figure: Any, **params: Any) -> pn.pane.HoloViews:
    """A HoloViews pane whose axes are its own. Panel links the axes of all panes of a
    document whose dimensions share names: once the Skills page's large maze was drawn,
    a revisited Live page drew its U-maze (both "x", "y") in the large maze's ranges,
    shrunk into a corner of its frame."""
    return pn.pane.HoloViews(figure, linked_axes=False, **params)


def rgba_image(rgb: np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 picture (top row first) as Bokeh's packed RGBA (bottom row first),
    for ``figure.image_rgba``."""
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])[::-1]
    return np.ascontiguousarray(rgba).view(np.uint32)[..., 0]


def to_hex(rgb: np.ndarray) -> str:
    """``#rrggbb`` of an RGB triple in [0, 1]."""
    return "#" + "".join(f"{round(float(np.clip(c, 0, 1)) * 255):02x}" for c in rgb[:3])


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
