"""The point mazes' geodesic reward: minus the distance to the goal through the maze, with
no local optimum but the goal (unlike minus the straight-line distance)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import environments  # noqa: F401  (registers the ids)
from environments.maze import GoalDistanceField, get_layout, parse_layout
from environments.point import PointMazeEnv, maze_task

# The 4 neighbouring cells of a cell.
NEIGHBOURS = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]])
# 16 unit directions.
DIRECTIONS = np.array(
    [[np.cos(a), np.sin(a)] for a in np.linspace(0, 2 * np.pi, 16, endpoint=False)]
)


def rewards_at(task, points: np.ndarray) -> np.ndarray:
    """The task's reward for arriving at each point (the reward depends on the arrival)."""
    goals = np.tile(task.sample_goal(np.random.default_rng(0)), (len(points), 1))
    return task.reward(points, points, goals)[0]


def cells_without_a_better_neighbour(reward_mode: str) -> list[tuple[int, int]]:
    """Free cells of the U-maze, the goal's excepted, whose 4 neighbouring free cells all
    pay at most what the cell pays (at cell centres): local optima of the reward."""
    task = maze_task("umaze", reward_mode)
    maze = task.maze
    goal_cell = tuple(np.floor(maze.goal).astype(int))
    stuck = []
    for cell in np.argwhere(maze.free):
        if tuple(cell) == goal_cell:
            continue
        neighbours = cell + NEIGHBOURS
        neighbours = neighbours[maze.is_free(neighbours + 0.5)]
        here = rewards_at(task, cell[None] + 0.5)[0]
        around = rewards_at(task, neighbours + 0.5)
        if not np.any(around > here):
            stuck.append(tuple(int(v) for v in cell))
    return stuck


def test_geodesic_reward_has_no_local_optimum_between_umaze_cells_but_straight_line_has():
    assert cells_without_a_better_neighbour("geodesic") == []
    # Minus the straight-line distance: from the start cell, every free neighbour is
    # farther from the goal as the crow flies (the goal is behind the inner wall).
    assert (1, 1) in cells_without_a_better_neighbour("dense")


def points_without_a_step_that_pays(layout: str, reward_mode: str) -> np.ndarray:
    """Free points outside the goal's radius from which no move in the action box (16
    directions, each at lengths 0.2, 0.05 and 0.01, through the real wall dynamics)
    raises the reward strictly: local optima. The points: in each free cell its centre and
    a grid of spacing 0.1, and each of them pushed against the walls it can reach in one
    step (where traps are).

    The grid leaves out points exactly on a cell boundary: a point pressed into a wall's
    corner exactly at the height of the wall's edge (a set of no area) is counted in the
    wall's row by the dynamics and must step away before it can slide past the corner.
    """
    task = maze_task(layout, reward_mode)
    maze = task.maze
    offsets = np.append(np.arange(-0.45, 0.5, 0.1), 0.0)
    in_cell = np.stack(np.meshgrid(offsets, offsets, indexing="ij"), -1).reshape(-1, 2)
    grid = (maze.free_cell_centers[:, None] + in_cell).reshape(-1, 2)
    pushes = task.max_action * np.vstack([np.eye(2), -np.eye(2)])
    points = np.vstack([grid, *(task.move(grid, np.tile(a, (len(grid), 1))) for a in pushes)])
    goal = np.array(maze.goal)
    points = points[np.linalg.norm(points - goal, axis=1) > task.goal_radius]
    here = rewards_at(task, points)
    best = np.full(len(points), -np.inf)
    for length in (task.max_action, 0.05, 0.01):
        for direction in DIRECTIONS * length:
            actions = np.clip(direction, -task.max_action, task.max_action)
            arrived = task.move(points, np.tile(actions, (len(points), 1)))
            best = np.maximum(best, rewards_at(task, arrived))
    return points[best <= here]


@pytest.mark.parametrize("layout", ["umaze", "medium", "large"])
def test_from_every_point_some_step_raises_the_geodesic_reward(layout):
    assert len(points_without_a_step_that_pays(layout, "geodesic")) == 0


def test_under_the_umaze_inner_wall_no_step_raises_the_straight_line_reward():
    stuck = points_without_a_step_that_pays("umaze", "dense")
    # The trap: pressed against the inner wall (y = 2) right under the goal.
    assert len(stuck) > 0
    np.testing.assert_allclose(stuck, np.tile([1.5, 2.0], (len(stuck), 1)), atol=0.01)


def test_geodesic_distance_matches_the_hand_counted_path_in_the_umaze():
    # From S (1.5, 1.5) around the inner wall's corners (3, 2) and (3, 3) to G (1.5, 3.5),
    # on the quarter-cell lattice: 1.5 across and 0.5 up (1 + 0.5 sqrt 2), 1 up, and
    # 1.5 across and 0.5 up again.
    maze = get_layout("umaze")
    field = GoalDistanceField(maze, np.array(maze.goal))
    assert field(np.array(maze.start)) == pytest.approx(1 + 2 * (1 + 0.5 * np.sqrt(2)))
    assert field(np.array(maze.goal)) == 0.0
    env = PointMazeEnv("umaze", reward_mode="geodesic")
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(np.array([0.0, 0.2], dtype=np.float32))
    assert reward == pytest.approx(-field(np.array([1.5, 1.7])))
    assert not terminated and info == {"is_success": False}


@pytest.mark.parametrize("name", ["four_rooms", "large"])
def test_geodesic_distance_lies_between_straight_line_and_the_oracle_and_is_lipschitz(name):
    maze = get_layout(name)
    goal = np.array(maze.goal)
    field = GoalDistanceField(maze, goal)
    centers = maze.free_cell_centers
    distance = field(centers)
    straight = np.linalg.norm(centers - goal, axis=1)
    oracle = maze.geodesic(4, "euclidean").distance(centers, np.broadcast_to(goal, centers.shape))
    assert np.all(distance >= straight - 1e-9)
    # The oracle's paths join sub-cell centres and keep clear of corners: never shorter.
    assert np.all(distance <= oracle + 1e-9)
    # Continuous: one step changes it by at most sqrt(2) times the step's length.
    rng = np.random.default_rng(0)
    task = maze_task(name, "geodesic")
    starts = centers[rng.integers(len(centers), size=2000)] + rng.uniform(-0.5, 0.5, (2000, 2))
    ends = task.move(starts, rng.uniform(-0.2, 0.2, (2000, 2)))
    change = np.abs(field(ends) - field(starts))
    assert np.all(change <= np.sqrt(2) * np.linalg.norm(ends - starts, axis=1) + 1e-9)


def test_cells_that_touch_only_at_a_corner_are_not_a_shortcut():
    # Cells (1, 3) and (2, 2) touch at the point (2, 3) between two walls; the agent
    # cannot pass there, so the way from one to the other goes round: 2 cells up and
    # across, 2 down, and back.
    maze = parse_layout("######\n#S...#\n#.#..#\n##.#.#\n#....#\n######")
    field = GoalDistanceField(maze, np.array([2.5, 2.5]))
    assert field(np.array([1.5, 3.5])) > 5


def test_each_copy_of_a_vector_env_is_rewarded_toward_its_own_goal():
    # The open room has no G: every copy draws its own goal at each reset.
    env = gym.make_vec("workbench/PointMaze-Open-v0", num_envs=16, reward_mode="geodesic")
    env.reset(seed=0)
    _, rewards, _, _, _ = env.step(np.zeros((16, 2)))
    vector = env.unwrapped
    goals, positions = vector.goals, vector.positions
    assert len(np.unique(goals, axis=0)) > 1
    expected = [
        GoalDistanceField(vector.task.maze, g)(p[None])[0]
        for g, p in zip(goals, positions, strict=True)
    ]
    np.testing.assert_allclose(rewards, -np.array(expected))


def test_unknown_reward_mode_names_the_allowed_ones():
    with pytest.raises(ValueError, match="'none', 'goal', 'dense', 'geodesic', got 'shortest'"):
        PointMazeEnv("umaze", reward_mode="shortest")


def test_distance_of_a_point_in_a_wall_or_outside_the_maze_raises_a_clear_error():
    maze = get_layout("umaze")
    field = GoalDistanceField(maze, np.array(maze.goal))
    for point in ([0.5, 0.5], [1.5, 2.5], [-3.0, 1.5], [9.0, 9.0]):
        with pytest.raises(ValueError, match=r"point \(.*\) is not in a free cell"):
            field(np.array([maze.start, point]))
    with pytest.raises(ValueError, match=r"goal .* is not a free point"):
        GoalDistanceField(maze, np.array([1.5, 2.5]))
