"""Point environments: gymnasium conformance, dynamics, walls, vectorization, errors."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import SyncVectorEnv
from hypothesis import given, settings
from hypothesis import strategies as st

import environments
from environments import ENVIRONMENTS, LAYOUTS, LayoutError, PointMazeEnv
from environments.point import WALL_MARGIN, make_maze_vector_env


@pytest.mark.parametrize("env_id", [info.id for info in ENVIRONMENTS])
def test_every_registered_environment_passes_gymnasium_env_checker(env_id):
    with warnings.catch_warnings():
        # The plane is unbounded by design; the checker warns about infinite bounds.
        warnings.filterwarnings("ignore", message=".*infinity.*")
        check_env(gym.make(env_id, render_mode="rgb_array").unwrapped, skip_render_check=False)


@pytest.mark.parametrize("reward_mode", ["goal", "dense", "geodesic"])
def test_maze_reward_modes_pass_env_checker(reward_mode):
    env = gym.make(
        "workbench/PointMaze-FourRooms-v0", reward_mode=reward_mode, render_mode="rgb_array"
    )
    check_env(env.unwrapped, skip_render_check=False)


def test_plane_moves_by_the_action_and_rewards_dx_for_200_steps():
    env = gym.make("workbench/Plane-v0")
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, [0.0, 0.0])
    obs, reward, terminated, truncated, _ = env.step(np.array([0.1, -0.05], dtype=np.float32))
    np.testing.assert_allclose(obs, [0.1, -0.05], rtol=1e-6)
    assert reward == pytest.approx(0.1)
    steps = 1
    while not (terminated or truncated):
        obs, reward, terminated, truncated, _ = env.step(np.array([0.2, 0.2], dtype=np.float32))
        steps += 1
    assert (steps, terminated, truncated) == (200, False, True)
    np.testing.assert_allclose(obs, [0.1 + 199 * 0.2, -0.05 + 199 * 0.2], rtol=1e-5)


def test_goal_mode_appends_goal_rewards_success_and_terminates():
    env = PointMazeEnv("umaze", reward_mode="goal")
    obs, _ = env.reset(seed=0, options={"start": (1.5, 3.1)})
    np.testing.assert_allclose(obs, [1.5, 3.1, 1.5, 3.5])
    obs, reward, terminated, _, info = env.step(np.array([0.0, 0.2]))
    assert (reward, terminated, info["is_success"]) == (1.0, True, True)


def test_dense_mode_rewards_minus_distance_without_terminating():
    env = PointMazeEnv("open", reward_mode="dense", goal=(5.5, 3.5))
    env.reset(seed=0)
    _, reward, terminated, _, _ = env.step(np.array([0.2, 0.0]))
    assert reward == pytest.approx(-(5.5 - 3.7))
    assert not terminated


def _random_actions(rng, n, max_action=0.2):
    # Mostly extreme actions, to press against walls as hard as the box allows.
    actions = rng.choice([-max_action, 0.0, max_action], size=(n, 2))
    smooth = rng.uniform(-max_action, max_action, size=(n, 2))
    return np.where(rng.random((n, 1)) < 0.3, smooth, actions).astype(np.float32)


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("workbench/Plane-v0", {}),
        ("workbench/PointMaze-UMaze-v0", {"reward_mode": "goal", "goal": (2.5, 3.5)}),
        ("workbench/PointMaze-Open-v0", {"reward_mode": "goal"}),
        ("workbench/PointMaze-Large-v0", {"reward_mode": "dense"}),
        ("workbench/PointMaze-Open-v0", {"reward_mode": "geodesic"}),
        ("workbench/PointMaze-FourRooms-v0", {}),
    ],
)
def test_vector_env_equals_sync_vector_env_of_single_envs_step_for_step(env_id, kwargs):
    num_envs, seed = 6, 3
    ours = gym.make_vec(env_id, num_envs=num_envs, **kwargs)
    reference = SyncVectorEnv([lambda: gym.make(env_id, **kwargs) for _ in range(num_envs)])
    obs, _ = ours.reset(seed=seed)
    ref_obs, _ = reference.reset(seed=seed)
    np.testing.assert_array_equal(obs, ref_obs)
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(ours.unwrapped.max_episode_steps * 2 + 50):
        actions = _random_actions(rng, num_envs)
        got = ours.step(actions)
        want = reference.step(actions)
        for a, b in zip(got[:4], want[:4], strict=True):
            np.testing.assert_array_equal(a, b)
        if "is_success" in want[4]:
            np.testing.assert_array_equal(got[4]["is_success"], want[4]["is_success"])
            np.testing.assert_array_equal(got[4]["_is_success"], want[4]["_is_success"])
        ends += int((got[2] | got[3]).sum())
    assert ends >= 2 * num_envs  # every copy went through auto-reset at least twice


def test_same_step_autoreset_returns_start_and_reports_final_observation():
    env = make_maze_vector_env(2, "umaze", max_episode_steps=3, autoreset_mode="SameStep")
    env.reset(seed=0)
    for _ in range(2):
        env.step(np.full((2, 2), 0.2))
    obs, _, _, truncated, infos = env.step(np.full((2, 2), 0.2))
    assert truncated.all()
    np.testing.assert_allclose(obs, [[1.5, 1.5]] * 2)
    np.testing.assert_allclose(infos["final_obs"], [[2.1, 2 - WALL_MARGIN]] * 2, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(layout=st.sampled_from(sorted(LAYOUTS)), seed=st.integers(0, 2**31 - 1))
def test_walls_are_never_entered_or_crossed(layout, seed):
    rng = np.random.default_rng(seed)
    env = make_maze_vector_env(32, layout, max_episode_steps=10_000)
    env.reset(seed=seed)
    maze = env.task.maze
    centers = maze.free_cell_centers
    env.positions = centers[rng.integers(len(centers), size=32)] + rng.uniform(-0.49, 0.49, (32, 2))
    for _ in range(150):
        before = env.positions.copy()
        obs, *_ = env.step(_random_actions(rng, 32))
        after = env.positions
        assert (np.abs(after - before) <= 0.2 + 1e-6).all()  # float32 0.2 is 0.2000000029
        # The move is x first, then y: both legs must stay in free cells.
        assert maze.is_free(np.stack([after[:, 0], before[:, 1]], axis=1)).all()
        assert maze.is_free(after).all()
        assert maze.is_free(obs.astype(np.float64)).all()


def test_point_pushed_into_a_wall_stops_at_the_wall():
    env = PointMazeEnv("umaze")
    env.reset(options={"start": (1.5, 1.5)})
    for _ in range(20):
        obs, *_ = env.step(np.array([-0.2, -0.2]))
    np.testing.assert_allclose(obs, [1 + WALL_MARGIN, 1 + WALL_MARGIN], atol=1e-6)
    for _ in range(20):
        obs, *_ = env.step(np.array([0.0, 0.2]))  # the inner wall is above row y = 1
    assert obs[1] == pytest.approx(2 - WALL_MARGIN, abs=1e-6)


@pytest.mark.parametrize("action", [[0.3, 0.0], [0.0, -0.21], [np.nan, 0.0]])
def test_action_outside_the_box_raises_a_clear_error(action):
    env = PointMazeEnv("umaze")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"outside the action box \[-0.2, 0.2\]\^2"):
        env.step(np.array(action))
    vector = make_maze_vector_env(3, "umaze")
    vector.reset(seed=0)
    actions = np.zeros((3, 2))
    actions[1] = action
    with pytest.raises(ValueError, match=r"\(copy 1\) is outside the action box"):
        vector.step(actions)


def test_goal_or_start_inside_a_wall_raises_a_clear_error():
    with pytest.raises(LayoutError, match=r"goal \(0.5, 0.5\) is inside a wall of maze 'umaze'"):
        PointMazeEnv("umaze", reward_mode="goal", goal=(0.5, 0.5))
    env = PointMazeEnv("umaze", reward_mode="goal")
    with pytest.raises(LayoutError, match=r"start \(2.5, 2.5\) is inside a wall"):
        env.reset(options={"start": (2.5, 2.5)})
    with pytest.raises(LayoutError, match="unknown maze layout 'nope'"):
        gym.make("workbench/PointMaze-Open-v0", layout="nope")
    with pytest.raises(ValueError, match="reward_mode must be one of"):
        PointMazeEnv("umaze", reward_mode="sparse")


def test_custom_ascii_layout_builds_a_maze():
    env = PointMazeEnv("#####\n#S.G#\n#####", reward_mode="goal")
    obs, _ = env.reset(seed=0)
    np.testing.assert_allclose(obs, [1.5, 1.5, 3.5, 1.5])


def test_render_draws_maze_agent_and_goal_without_a_display():
    env = PointMazeEnv("umaze", reward_mode="goal", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (5 * 32, 5 * 32, 3) and frame.dtype == np.uint8
    red = (frame == environments.rendering.AGENT).all(axis=-1)
    green = (frame == environments.rendering.GOAL).all(axis=-1)
    rows, cols = np.nonzero(red)
    # The agent sits at (1.5, 1.5): column 1.5 cells from the left, 3.5 cells from the top.
    assert abs(cols.mean() - 1.5 * 32) < 2 and abs(rows.mean() - 3.5 * 32) < 2
    rows, cols = np.nonzero(green)
    assert abs(cols.mean() - 1.5 * 32) < 2 and abs(rows.mean() - 1.5 * 32) < 2
    plane = gym.make("workbench/Plane-v0", render_mode="rgb_array")
    plane.reset(seed=0)
    assert plane.render().shape[2] == 3
