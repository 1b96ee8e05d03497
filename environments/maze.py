"""ASCII maze layouts, their parsing and validation, and the geodesic distance oracle.

A layout is a block of text, one character per 1x1 cell:

    ``#`` wall    ``.`` free    ``S`` start (exactly one)    ``G`` goal (at most one)

World coordinates put the bottom-left corner of the text at (0, 0), x to the right and
y upwards, so the cell in text row ``r`` and column ``c`` covers
``[c, c + 1) x [H - 1 - r, H - r)``. Everything outside the text is wall.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import shortest_path

# The named layouts. UMaze, Medium and Large are the D4RL point-maze layouts; FourRooms is
# Sutton, Precup and Singh's four-rooms domain.
LAYOUTS: dict[str, str] = {
    "open": """
#######
#.....#
#.....#
#..S..#
#.....#
#.....#
#######
""",
    "umaze": """
#####
#G..#
###.#
#S..#
#####
""",
    "medium": """
########
#S.##..#
#..#...#
##...###
#..#...#
#.#..#.#
#...#.G#
########
""",
    "four_rooms": """
#############
#.....#.....#
#.....#.....#
#S..........#
#.....#.....#
#.....#.....#
##.####.....#
#.....###.###
#.....#.....#
#.....#.....#
#...........#
#.....#....G#
#############
""",
    "large": """
############
#S...#.....#
#.##.#.#.#.#
#......#...#
#.####.###.#
#..#.#.....#
##.#.#.#.###
#..#...#..G#
############
""",
}

_CHARS = {"#": "wall", ".": "free", "S": "start", "G": "goal"}


class LayoutError(ValueError):
    """A maze or gridworld layout that cannot be used, with the reason."""


@dataclass(frozen=True)
class MazeLayout:
    """A parsed, validated maze.

    ``free[ix, iy]`` is True where the cell with lower-left corner (ix, iy) is free.
    """

    name: str
    text: str
    free: np.ndarray = field(repr=False)
    start: tuple[float, float]
    goal: tuple[float, float] | None

    @property
    def width(self) -> int:
        return self.free.shape[0]

    @property
    def height(self) -> int:
        return self.free.shape[1]

    @property
    def free_cell_centers(self) -> np.ndarray:
        """Centres of all free cells, shape (n, 2), ordered by x then y."""
        ix, iy = np.nonzero(self.free)
        return np.stack([ix + 0.5, iy + 0.5], axis=1)

    def is_free(self, points: np.ndarray) -> np.ndarray:
        """Whether each point of ``points`` (..., 2) lies in a free cell."""
        points = np.asarray(points, dtype=np.float64)
        cells = np.floor(points).astype(np.int64)
        ix, iy = cells[..., 0], cells[..., 1]
        inside = (ix >= 0) & (ix < self.width) & (iy >= 0) & (iy < self.height)
        result = np.zeros(points.shape[:-1], dtype=bool)
        result[inside] = self.free[ix[inside], iy[inside]]
        return result

    def geodesic(self, resolution: int = 4, metric: str = "chebyshev") -> GeodesicOracle:
        """The shortest-path distance oracle of this maze (see :class:`GeodesicOracle`)."""
        return GeodesicOracle(self, resolution=resolution, metric=metric)


def read_ascii_grid(text: str, name: str, chars: dict[str, str]) -> np.ndarray:
    """Character grid (text rows, columns) of a layout, checked for emptiness, ragged rows,
    unknown characters and exactly one start ``S``; raises :class:`LayoutError`."""
    rows = [row for row in text.strip("\n").split("\n") if row.strip()]
    if not rows:
        raise LayoutError(f"layout {name!r} is empty")
    if len({len(row) for row in rows}) > 1:
        lengths = [len(row) for row in rows]
        raise LayoutError(f"layout {name!r} has ragged rows: row lengths {lengths}")
    for r, row in enumerate(rows):
        for c, char in enumerate(row):
            if char not in chars:
                raise LayoutError(
                    f"layout {name!r} has unknown character {char!r} at row {r}, column {c}; "
                    f"allowed: {', '.join(f'{k!r} ({v})' for k, v in chars.items())}"
                )
    grid = np.array([list(row) for row in rows])
    starts = int((grid == "S").sum())
    if starts == 0:
        raise LayoutError(f"layout {name!r} has no start: mark one cell with 'S'")
    if starts > 1:
        raise LayoutError(f"layout {name!r} has {starts} starts; mark exactly one 'S'")
    return grid


def to_world(grid: np.ndarray) -> np.ndarray:
    """Text-ordered array (rows, columns) -> world-ordered array [ix, iy] with y upwards."""
    return grid[::-1].T.copy()


def check_reachable(
    name: str, world: np.ndarray, passable: np.ndarray, targets: np.ndarray, what: str
) -> None:
    """Raise :class:`LayoutError` when a ``targets`` cell cannot be reached from ``S``
    through ``passable`` cells (world-ordered boolean arrays)."""
    start = tuple(int(v) for v in np.argwhere(world == "S")[0])
    cut_off = np.argwhere(targets & ~_reachable_cells(passable, start))
    if len(cut_off):
        height = world.shape[1]
        where = ", ".join(f"(row {height - 1 - iy}, column {ix})" for ix, iy in cut_off[:5])
        raise LayoutError(
            f"layout {name!r}: {len(cut_off)} {what} cannot be reached from the start: {where}"
        )


def parse_layout(text: str, name: str = "custom") -> MazeLayout:
    """Parse and validate an ASCII maze layout (characters in the module docstring).

    Raises :class:`LayoutError` naming the problem: ragged rows, unknown characters, no
    start or several, several goals, or free cells (the goal among them) that cannot be
    reached from the start.
    """
    grid = read_ascii_grid(text, name, _CHARS)
    if (grid == "G").sum() > 1:
        raise LayoutError(f"layout {name!r} has {(grid == 'G').sum()} goals; mark at most one 'G'")
    world = to_world(grid)
    free = world != "#"
    check_reachable(name, world, free, world == "G", "goal cell(s)")
    check_reachable(name, world, free, free, "free cell(s)")

    def center(char: str) -> tuple[float, float] | None:
        cells = np.argwhere(world == char)
        return (float(cells[0][0]) + 0.5, float(cells[0][1]) + 0.5) if len(cells) else None

    start = center("S")
    assert start is not None
    return MazeLayout(
        name=name,
        text="\n".join("".join(row) for row in grid),
        free=free,
        start=start,
        goal=center("G"),
    )


def get_layout(name: str) -> MazeLayout:
    """One of the named :data:`LAYOUTS`; an unknown name raises :class:`LayoutError`."""
    if name not in LAYOUTS:
        raise LayoutError(f"unknown maze layout {name!r}; known layouts: {', '.join(LAYOUTS)}")
    return parse_layout(LAYOUTS[name], name=name)


def _reachable_cells(free: np.ndarray, start: tuple[int, int]) -> np.ndarray:
    """Cells reachable from ``start`` through 4-connected free cells."""
    seen = np.zeros_like(free)
    seen[start] = True
    queue = deque([start])
    while queue:
        x, y = queue.popleft()
        for nx, ny in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
            inside = 0 <= nx < free.shape[0] and 0 <= ny < free.shape[1]
            if inside and free[nx, ny] and not seen[nx, ny]:
                seen[nx, ny] = True
                queue.append((nx, ny))
    return seen


class GeodesicOracle:
    """Shortest-path distances between free points of a maze, exact on a lattice.

    Each cell is split into ``resolution`` x ``resolution`` sub-cells; a point stands for
    the sub-cell that contains it. Paths move between the 8 neighbouring sub-cells and never
    cut a wall corner (a diagonal move needs both orthogonal neighbours free), as the point
    agent cannot either.

    ``metric="chebyshev"`` (default) weighs every move ``1 / resolution``: the L-infinity
    path length, the metric of the action box, so ``distance / max_action`` is the least
    number of steps. ``metric="euclidean"`` weighs diagonal moves by sqrt(2) (octile
    distance). Between sub-cell centres the result is exact for this lattice; for other
    points it is within ``1 / resolution`` of the sub-cell-centre distance.
    """

    def __init__(
        self,
        maze: MazeLayout,
        resolution: int = 4,
        metric: Literal["chebyshev", "euclidean"] = "chebyshev",
    ) -> None:
        if not isinstance(resolution, int | np.integer) or resolution < 1:
            raise ValueError(f"resolution must be a positive integer, got {resolution!r}")
        if metric not in ("chebyshev", "euclidean"):
            raise ValueError(f"metric must be 'chebyshev' or 'euclidean', got {metric!r}")
        self.maze = maze
        self.resolution = int(resolution)
        self.metric = metric
        k = self.resolution
        self.free = np.kron(maze.free, np.ones((k, k), dtype=bool))
        self.node_of = np.full(self.free.shape, -1, dtype=np.int64)
        self.node_of[self.free] = np.arange(int(self.free.sum()))
        self.graph = self._build_graph()
        self._rows: dict[int, np.ndarray] = {}

    @property
    def num_nodes(self) -> int:
        return int(self.free.sum())

    def _build_graph(self) -> coo_matrix:
        free, node_of = self.free, self.node_of
        width, height = free.shape
        diagonal_cost = 1.0 if self.metric == "chebyshev" else float(np.sqrt(2.0))
        sources, targets, weights = [], [], []
        for dx, dy in ((1, 0), (0, 1), (1, 1), (1, -1)):
            # Pairs (x, y) -> (x + dx, y + dy) with both ends inside the grid.
            xs = slice(0, width - dx)
            xt = slice(dx, width)
            ys = slice(max(0, -dy), height - max(0, dy))
            yt = slice(max(0, dy), height - max(0, -dy))
            ok = free[xs, ys] & free[xt, yt]
            if dx and dy:  # no corner cutting: both orthogonal neighbours must be free
                ok &= free[xt, ys] & free[xs, yt]
            sources.append(node_of[xs, ys][ok])
            targets.append(node_of[xt, yt][ok])
            cost = diagonal_cost if dx and dy else 1.0
            weights.append(np.full(int(ok.sum()), cost / self.resolution))
        s, t, w = (np.concatenate(a) for a in (sources, targets, weights))
        n = self.num_nodes
        return coo_matrix(
            (np.concatenate([w, w]), (np.concatenate([s, t]), np.concatenate([t, s]))),
            shape=(n, n),
        ).tocsr()

    def nodes(self, points: np.ndarray) -> np.ndarray:
        """Lattice node of each point (..., 2); a point in a wall raises ValueError."""
        points = np.asarray(points, dtype=np.float64)
        if points.shape[-1] != 2:
            raise ValueError(f"points must have a last axis of size 2, got shape {points.shape}")
        free = self.maze.is_free(points)
        if not free.all():
            bad = points[~free][0]
            raise ValueError(f"point ({bad[0]:.3f}, {bad[1]:.3f}) is not in a free cell")
        sub = np.floor(points * self.resolution).astype(np.int64)
        return self.node_of[sub[..., 0], sub[..., 1]]

    def _distances_from(self, sources: np.ndarray) -> None:
        missing = [int(s) for s in np.unique(sources) if int(s) not in self._rows]
        if missing:
            rows = shortest_path(self.graph, directed=False, indices=missing)
            for s, row in zip(missing, np.atleast_2d(rows), strict=True):
                self._rows[s] = row

    def distance(self, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Geodesic distance between points ``p`` and ``q``, broadcast over leading axes."""
        src, dst = np.broadcast_arrays(self.nodes(p), self.nodes(q))
        self._distances_from(src)
        flat_src, flat_dst = src.ravel(), dst.ravel()
        out = np.array(
            [self._rows[int(s)][int(d)] for s, d in zip(flat_src, flat_dst, strict=True)]
        )
        return out.reshape(src.shape)

    def distance_field(self, point: np.ndarray) -> np.ndarray:
        """Distance from ``point`` to every sub-cell, shape (W*k, H*k), NaN in walls.

        Index ``[i, j]`` is the sub-cell whose centre is ``((i + .5) / k, (j + .5) / k)``.
        """
        source = int(self.nodes(np.asarray(point)[None])[0])
        self._distances_from(np.array([source]))
        field_ = np.full(self.free.shape, np.nan)
        field_[self.free] = self._rows[source]
        return field_


class GoalDistanceField:
    """Continuous shortest-path distance from any free point of a maze to one goal point.

    Why: minus the straight-line distance to the goal, as a dense reward, has local optima
    behind walls (in the U-maze the best spot within reach of the start is pressed against
    the inner wall under the goal, and PPO settles there). The distance through the maze
    has no local optimum but the goal: from every other point, moving along its shortest
    path shortens it at once.

    How: each cell is split into ``resolution`` x ``resolution`` sub-cells; Dijkstra runs
    once over the corners of the free sub-cells, along their sides (length ``1 / k``) and
    diagonals (``sqrt(2) / k``), so a path never leaves free space or squeezes between two
    wall cells that touch only at a corner (the agent cannot pass there either). A point's
    distance is the bilinear interpolation of the corner distances of its sub-cell: a
    continuous function, so that every step toward the goal pays, not only the steps that
    cross into another sub-cell. Paths on this lattice are at most about 8% longer than
    the true Euclidean shortest path (octile directions), and within the goal's own
    sub-cell the distance is that of its nearest corner rather than exactly 0 (which is
    exact when the goal is a lattice corner, as cell centres are for even ``resolution``).
    Paths may run along a wall's face; the point agent, whose moves go along x then y,
    pressed into a wall's corner exactly at the height of the wall's edge must step away
    before it slides past (a two-step detour from a set of no area).
    """

    def __init__(self, maze: MazeLayout, goal: np.ndarray, resolution: int = 4) -> None:
        if not isinstance(resolution, int | np.integer) or resolution < 1:
            raise ValueError(f"resolution must be a positive integer, got {resolution!r}")
        goal = np.asarray(goal, dtype=np.float64)
        if goal.shape != (2,) or not maze.is_free(goal):
            raise ValueError(f"goal {goal.tolist()} is not a free point of maze {maze.name!r}")
        self.maze = maze
        self.goal = goal
        self.resolution = k = int(resolution)
        self.free = np.kron(maze.free, np.ones((k, k), dtype=bool))
        self.corner_nodes = self._corner_nodes()
        self.corner_distance = self._corner_distances()

    def _corner_nodes(self) -> np.ndarray:
        """Graph node of each free sub-cell's corners, shape (W*k, H*k, 4), -1 in walls.

        Corners in the order lower-left, lower-right, upper-left, upper-right. Sub-cells
        that share a side share those corners' nodes; a corner where two free sub-cells
        meet only diagonally (between two walls) gets a node for each.
        """
        free = self.free
        padded = np.pad(free, 1)
        # Around lattice vertex (i, j): the sub-cells below-left, below-right, above-left
        # and above-right of it.
        bl, br = padded[:-1, :-1], padded[1:, :-1]
        al, ar = padded[:-1, 1:], padded[1:, 1:]
        touched = bl | br | al | ar
        pinch_rising = bl & ar & ~br & ~al  # the above-right sub-cell gets its own node
        pinch_falling = br & al & ~bl & ~ar  # the above-left sub-cell gets its own node
        base = np.full(touched.shape, -1, dtype=np.int64)
        base[touched] = np.arange(int(touched.sum()))
        extra = np.full(touched.shape, -1, dtype=np.int64)
        pinched = pinch_rising | pinch_falling
        extra[pinched] = int(touched.sum()) + np.arange(int(pinched.sum()))
        width, height = free.shape
        lower_left = np.where(pinch_rising, extra, base)[:width, :height]
        lower_right = np.where(pinch_falling, extra, base)[1:, :height]
        corners = np.stack([lower_left, lower_right, base[:width, 1:], base[1:, 1:]], axis=-1)
        return np.where(free[..., None], corners, -1)

    def _corner_distances(self) -> np.ndarray:
        """Distance to the goal from each free sub-cell's corners, (W*k, H*k, 4), NaN in walls."""
        corners = self.corner_nodes[self.free]  # (n, 4)
        side, diagonal = 1.0 / self.resolution, np.sqrt(2.0) / self.resolution
        pairs = np.concatenate(
            [corners[:, [0, 1]], corners[:, [2, 3]], corners[:, [0, 2]], corners[:, [1, 3]]]
        )
        # Neighbouring sub-cells list a shared side twice; a sparse matrix would add the
        # two weights, so each side is kept once.
        sides = np.unique(np.sort(pairs, axis=1), axis=0)
        diagonals = np.concatenate([corners[:, [0, 3]], corners[:, [1, 2]]])
        edges = np.concatenate([sides, diagonals])
        weights = np.concatenate([np.full(len(sides), side), np.full(len(diagonals), diagonal)])
        n = int(corners.max()) + 1
        graph = coo_matrix((weights, (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
        # The goal's sub-cell is free and convex: the straight line from the goal to each of
        # its corners is a path, so the distance is the best corner plus that line.
        sub = tuple(np.floor(self.goal * self.resolution).astype(np.int64))
        goal_corners = self.corner_nodes[sub]
        offsets = np.linalg.norm(
            _CORNER_OFFSETS + np.array(sub) - self.goal * self.resolution, axis=1
        )
        rows = shortest_path(graph, directed=False, indices=goal_corners)
        node_distance = np.min(rows + offsets[:, None] / self.resolution, axis=0)
        result = np.full(self.corner_nodes.shape, np.nan)
        result[self.free] = node_distance[corners]
        return result

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Distance to the goal of each point (..., 2); a point in a wall raises ValueError."""
        # Called at every environment step: few array operations, and the wall check reads
        # the NaN that wall sub-cells hold instead of a separate lookup.
        points = np.asarray(points, dtype=np.float64)
        k = self.resolution
        scaled = points * k
        # The sub-cell of a point lies in the point's cell; the minimum only guards float
        # rounding at a cell's upper edge (a product by k that rounds up to an integer).
        sub = np.minimum(np.floor(scaled), np.floor(points) * k + (k - 1)).astype(np.int64)
        inside = (sub >= 0).all(axis=-1) & (sub < self.free.shape).all(axis=-1)
        corner = self.corner_distance[
            np.where(inside, sub[..., 0], 0), np.where(inside, sub[..., 1], 0)
        ]
        u, v = scaled[..., 0] - sub[..., 0], scaled[..., 1] - sub[..., 1]
        lower = corner[..., 0] + u * (corner[..., 1] - corner[..., 0])
        upper = corner[..., 2] + u * (corner[..., 3] - corner[..., 2])
        distance = lower + v * (upper - lower)
        walled = ~inside | np.isnan(distance)
        if walled.any():
            bad = points[walled][0]
            raise ValueError(f"point ({bad[0]:.3f}, {bad[1]:.3f}) is not in a free cell")
        return distance


# Corners of a unit sub-cell, in GoalDistanceField's corner order.
_CORNER_OFFSETS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
