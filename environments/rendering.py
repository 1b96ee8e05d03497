"""RGB-array drawing of point worlds and grid worlds, with numpy only (no display)."""

from __future__ import annotations

import numpy as np

WALL = np.array([52, 58, 74], dtype=np.uint8)
FLOOR = np.array([240, 240, 235], dtype=np.uint8)
GRID_LINE = np.array([215, 215, 208], dtype=np.uint8)
AGENT = np.array([214, 39, 40], dtype=np.uint8)
GOAL = np.array([44, 160, 44], dtype=np.uint8)
TRAP = np.array([255, 127, 14], dtype=np.uint8)


def draw_cells(
    free: np.ndarray, pixels_per_cell: int, colors: dict[int, np.ndarray] | None = None
) -> np.ndarray:
    """Image of a cell grid ``free[ix, iy]`` (y upwards), top row of pixels = highest y.

    ``colors`` optionally maps flat cell index ``ix * H + iy`` to a fill colour.
    """
    height = free.shape[1]
    image = np.where(free.T[::-1, :, None], FLOOR, WALL).astype(np.uint8)
    if colors:
        for flat, color in colors.items():
            ix, iy = divmod(flat, height)
            image[height - 1 - iy, ix] = color
    image = image.repeat(pixels_per_cell, axis=0).repeat(pixels_per_cell, axis=1)
    # Thin grid lines on the floor make distances readable.
    lines = np.zeros(image.shape[:2], dtype=bool)
    lines[::pixels_per_cell, :] = True
    lines[:, ::pixels_per_cell] = True
    floor = (image == FLOOR).all(axis=-1)
    image[lines & floor] = GRID_LINE
    return image


def draw_disk(
    image: np.ndarray,
    center_xy: tuple[float, float],
    radius_px: float,
    color: np.ndarray,
    origin: tuple[float, float],
    pixels_per_unit: float,
) -> None:
    """Fill a disk at world point ``center_xy`` in place; ``origin`` is the world point at
    the image's bottom-left corner."""
    height = image.shape[0]
    px = (center_xy[0] - origin[0]) * pixels_per_unit
    py = height - (center_xy[1] - origin[1]) * pixels_per_unit
    lo_r, hi_r = int(max(0, py - radius_px - 1)), int(min(height, py + radius_px + 2))
    lo_c, hi_c = int(max(0, px - radius_px - 1)), int(min(image.shape[1], px + radius_px + 2))
    if lo_r >= hi_r or lo_c >= hi_c:
        return
    rows, cols = np.mgrid[lo_r:hi_r, lo_c:hi_c]
    inside = (rows + 0.5 - py) ** 2 + (cols + 0.5 - px) ** 2 <= radius_px**2
    image[lo_r:hi_r, lo_c:hi_c][inside] = color


def draw_open_plane(
    position: np.ndarray, pixels_per_unit: int = 24, min_half_extent: float = 4.0
) -> tuple[np.ndarray, tuple[float, float]]:
    """An empty plane centred on the origin, large enough to show ``position``.

    Returns the image and the world point at its bottom-left corner.
    """
    half = max(min_half_extent, float(np.ceil(np.abs(position).max() + 1.0)))
    cells = int(2 * half)
    image = draw_cells(np.ones((cells, cells), dtype=bool), pixels_per_unit)
    centre = cells * pixels_per_unit // 2
    image[centre, :] = WALL  # axes through the origin
    image[:, centre] = WALL
    return image, (-half, -half)
