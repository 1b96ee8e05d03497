"""The wall-gap environment: a point crosses a wall through a gap (the task) to a goal."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import environments  # noqa: F401  (registers workbench/WallGap-v0)
from environments.wall_gap import GOAL_POINT, WALL_X, geodesic_distance, move
from workbench.curricula.wall_gaps import WallGaps


def walk(env: gym.Env, action: tuple[float, float], steps: int) -> np.ndarray:
    for _ in range(steps):
        obs, *_ = env.step(np.array(action, dtype=np.float32))
    return obs


def test_passes_the_env_checker_and_observes_the_gap():
    env = gym.make("workbench/WallGap-v0", render_mode="rgb_array")
    check_env(env.unwrapped)
    obs, _ = env.reset(seed=0, options={"gap": (0.5, 0.6)})
    np.testing.assert_allclose(obs, [1.0, 2.0, 0.5, 0.6])
    assert env.render().shape == (128, 192, 3)


def test_the_wall_stops_the_point_outside_the_gap_and_lets_it_through_inside():
    env = gym.make("workbench/WallGap-v0")
    env.reset(seed=0, options={"gap": (0.5, 0.6)})  # open for 0.2 <= y <= 0.8
    obs = walk(env, (0.2, 0.0), 20)
    assert obs[0] < WALL_X and obs[0] == pytest.approx(WALL_X, abs=1e-3)  # stuck at y = 2
    walk(env, (0.0, -0.2), 8)  # down the wall to y = 0.4, inside the gap
    obs = walk(env, (0.2, 0.0), 5)
    assert obs[0] > WALL_X
    # A closed gap (width 0) lets nothing through.
    env.reset(seed=0, options={"gap": (2.0, 0.0)})
    assert walk(env, (0.2, 0.0), 20)[0] < WALL_X
    # A move that crosses the wall's line diagonally is judged where it meets the line.
    new = move(np.array([[2.9, 1.0]]), np.array([[0.2, 0.2]]), np.array([[1.05, 0.12]]))
    assert new[0, 0] == pytest.approx(3.1)


def test_rewards_and_success():
    env = gym.make("workbench/WallGap-v0", reward_mode="goal")
    env.reset(seed=0, options={"gap": (2.0, 1.5)})  # wide open in the middle
    for _ in range(20):
        _, reward, terminated, _, info = env.step(np.array([0.2, 0.0], dtype=np.float32))
        if terminated:
            break
    assert terminated and reward == 1.0 and info["is_success"]
    dense = gym.make("workbench/WallGap-v0", reward_mode="dense")
    dense.reset(seed=0)
    _, reward, *_ = dense.step(np.zeros(2, dtype=np.float32))
    assert reward == pytest.approx(-4.0)


def test_geodesic_distance_goes_through_the_gap():
    gaps = np.array([[0.5, 0.6], [0.5, 0.6], [1.0, 0.6]])
    points = np.array([[1.0, 2.0], [4.0, 2.0], [1.0, 0.0]])
    # From (1, 2) the path bends at the gap's top end (3, 0.8); on the goal's side it is
    # the straight line; from (1, 0) the straight line meets the wall inside the gap.
    bend = 2 * np.hypot(2.0, 1.2)
    np.testing.assert_allclose(geodesic_distance(points, gaps), [bend, 1.0, np.hypot(4, 2)])
    assert (geodesic_distance(points, gaps) >= np.linalg.norm(points - GOAL_POINT, axis=1)).all()


def test_a_gap_outside_the_task_space_is_named():
    env = gym.make("workbench/WallGap-v0")
    with pytest.raises(ValueError, match=r"gap \[2.0, 3.0\] is outside the task space"):
        env.reset(options={"gap": (2.0, 3.0)})
    with pytest.raises(ValueError, match="two finite numbers"):
        env.reset(options={"gap": (1.0,)})


def test_the_family_spans_the_gaps_and_plays_a_task_as_its_gap():
    family = WallGaps()
    tests = family.test_tasks(36)
    assert tests.shape == (36, 2)
    np.testing.assert_allclose(tests.min(axis=0), family.box.low)
    np.testing.assert_allclose(tests.max(axis=0), family.box.high)
    np.testing.assert_allclose(family.options_of(np.array([1.0, 0.4]))["gap"], [1.0, 0.4])
