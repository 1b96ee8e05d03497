"""Maze layouts: parsing, validation errors, and the geodesic distance oracle."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from environments.maze import LAYOUTS, LayoutError, get_layout, parse_layout


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_named_layouts_parse_with_start_inside_free_space(name):
    maze = get_layout(name)
    assert maze.is_free(np.array(maze.start))
    assert maze.goal is None or maze.is_free(np.array(maze.goal))
    assert maze.free.sum() >= 7


def test_layout_text_maps_to_world_with_y_up():
    maze = parse_layout("####\n#S.#\n#..#\n####")
    assert maze.start == (1.5, 2.5)
    assert maze.is_free(np.array([2.5, 1.5])) and not maze.is_free(np.array([0.5, 1.5]))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("####\n#S.#\n#..\n####", "ragged rows"),
        ("####\n#..#\n####", "no start"),
        ("#####\n#S.S#\n#####", "2 starts"),
        (
            "#####\n#S#G#\n#####",
            r"goal cell\(s\) cannot be reached from the start: \(row 1, column 3\)",
        ),
        ("#####\n#S#.#\n#####", "free cell"),
        ("#####\n#S.x#\n#####", "unknown character 'x'"),
    ],
)
def test_malformed_layouts_raise_a_clear_error(text, message):
    with pytest.raises(LayoutError, match=message):
        parse_layout(text)


def test_unknown_layout_name_lists_known_ones():
    with pytest.raises(LayoutError, match=r"unknown maze layout 'spiral'.*umaze"):
        get_layout("spiral")


def test_geodesic_matches_hand_counted_path_in_umaze():
    # #####   S at (1.5, 3.5); the path to G at (1.5, 1.5) goes right 2, down 2, left 2:
    # #G..#   6 cells. Diagonals past the inner wall's corners are not allowed.
    # ###.#
    # #S..#  (text is drawn upside down here: see LAYOUTS["umaze"])
    maze = get_layout("umaze")
    oracle = maze.geodesic(resolution=1)
    start, goal = np.array(maze.start), np.array(maze.goal)
    assert oracle.distance(start, goal) == 6.0
    assert oracle.distance(start, np.array([3.5, 2.5])) == 3.0
    assert oracle.distance(goal, goal) == 0.0


def test_geodesic_metrics_in_open_room_diagonal():
    maze = get_layout("open")
    a, b = np.array([1.5, 1.5]), np.array([5.5, 5.5])
    assert maze.geodesic(4, "chebyshev").distance(a, b) == pytest.approx(4.0)
    assert maze.geodesic(4, "euclidean").distance(a, b) == pytest.approx(4.0 * np.sqrt(2))


def _bfs_hops(free: np.ndarray, source: tuple[int, int]) -> np.ndarray:
    """Plain BFS over 8 neighbours without corner cutting: the reference."""
    hops = np.full(free.shape, np.inf)
    hops[source] = 0
    queue = deque([source])
    while queue:
        x, y = queue.popleft()
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                nx, ny = x + dx, y + dy
                if (dx, dy) == (0, 0) or not (0 <= nx < free.shape[0] and 0 <= ny < free.shape[1]):
                    continue
                if not free[nx, ny] or (dx and dy and not (free[nx, y] and free[x, ny])):
                    continue
                if hops[nx, ny] == np.inf:
                    hops[nx, ny] = hops[x, y] + 1
                    queue.append((nx, ny))
    return hops


@pytest.mark.parametrize("name", ["umaze", "four_rooms", "large"])
def test_geodesic_equals_breadth_first_search_on_the_lattice(name):
    maze = get_layout(name)
    oracle = maze.geodesic(resolution=2)
    source = np.array(maze.start) + 0.1
    sub = tuple(np.floor(source * 2).astype(int))
    expected = _bfs_hops(oracle.free, sub) / 2
    field = oracle.distance_field(source)
    np.testing.assert_array_equal(np.isnan(field), ~oracle.free)
    np.testing.assert_allclose(field[oracle.free], expected[oracle.free])


def _sample_free_points(maze, n, rng):
    points = []
    while len(points) < n:
        p = rng.uniform([0, 0], [maze.width, maze.height])
        if maze.is_free(p):
            points.append(p)
    return np.array(points)


@pytest.mark.parametrize("metric", ["chebyshev", "euclidean"])
def test_geodesic_is_a_metric_bounded_below_by_straight_line(metric):
    maze = get_layout("four_rooms")
    oracle = maze.geodesic(resolution=4, metric=metric)
    rng = np.random.default_rng(0)
    p, q, r = (_sample_free_points(maze, 200, rng) for _ in range(3))
    d_pq, d_qp = oracle.distance(p, q), oracle.distance(q, p)
    np.testing.assert_allclose(d_pq, d_qp, rtol=0, atol=1e-9)
    assert np.all(oracle.distance(p, r) <= d_pq + oracle.distance(q, r) + 1e-9)
    norm = np.inf if metric == "chebyshev" else 2
    straight = np.linalg.norm(p - q, ord=norm, axis=1)
    assert np.all(d_pq >= straight - 2 / oracle.resolution)
    # Walls make some pairs much longer than the straight line.
    assert np.any(d_pq > straight + 3)


def test_geodesic_rejects_points_in_walls_and_bad_settings():
    maze = get_layout("umaze")
    with pytest.raises(ValueError, match=r"point \(0.500, 0.500\) is not in a free cell"):
        maze.geodesic().distance(np.array([0.5, 0.5]), np.array(maze.start))
    with pytest.raises(ValueError, match="resolution"):
        maze.geodesic(resolution=0)
    with pytest.raises(ValueError, match="metric"):
        maze.geodesic(metric="manhattan")
