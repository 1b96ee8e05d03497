"""State maps: grids over mazes, the plane and Box slices; reward, value and phi maps."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO, SAC

import environments  # noqa: F401  (registers the workbench/ envs)
from workbench.agents.hilp import HILP
from workbench.agents.metra import SkillDiscovery
from workbench.landscapes.state_maps import (
    DEFAULT_RANGE,
    StateGrid,
    advantage_map,
    env_reward_map,
    goal_value_map,
    reward_map,
    sample_actions,
    skill_reward_map,
    value_map,
)

UMAZE = "workbench/PointMaze-UMaze-v0"
GOAL = np.array([1.5, 3.5])


def index_of(grid: StateGrid, x: float, y: float) -> tuple[int, int]:
    """(row, column) of the grid point (x, y)."""
    (j,) = np.flatnonzero(np.isclose(grid.xs, x))
    (i,) = np.flatnonzero(np.isclose(grid.ys, y))
    return int(i), int(j)


def dense_goal_reward(obs, actions, next_obs):
    return -np.linalg.norm(next_obs[:, :2] - GOAL, axis=1)


@pytest.fixture(scope="module")
def umaze():
    env = gym.make(UMAZE)
    env.reset(seed=0)
    yield env
    env.close()


def test_umaze_grid_covers_the_maze_and_masks_walls(umaze):
    grid = StateGrid.maze(umaze, points_per_cell=4)
    assert grid.shape == (20, 20) and grid.xs[0] == 0.125 and grid.ys[-1] == 4.875
    assert grid.mask.sum() == 7 * 16  # 7 free cells, 16 points each
    observations = grid.observations()
    assert observations.shape == (400, 2) and observations.dtype == np.float32
    # Row-major: row i holds y = ys[i], column j holds x = xs[j].
    np.testing.assert_allclose(observations[1 * 20 + 3], [grid.xs[3], grid.ys[1]])
    values = reward_map(grid, dense_goal_reward, actions=np.zeros(2))
    assert np.isnan(values[index_of(grid, 1.625, 2.625)])  # the wall between the corridors
    assert np.isnan(values[index_of(grid, 0.125, 0.125)])  # the outer wall
    assert np.isfinite(values[index_of(grid, 3.625, 2.625)])  # the passage on the right
    assert values[index_of(grid, 1.625, 3.625)] == pytest.approx(-np.hypot(0.125, 0.125))
    assert StateGrid.from_env(umaze, points_per_cell=4).shape == grid.shape


def test_plane_grid():
    grid = StateGrid.plane(x_range=(-2.0, 2.0), y_range=(0.0, 1.0), resolution=(5, 3))
    assert grid.shape == (3, 5) and grid.mask.all()
    np.testing.assert_allclose(grid.xs, [-2, -1, 0, 1, 2])
    values = reward_map(grid, lambda o, a, n: n[:, 0] - o[:, 0], actions=np.array([0.2, 0.0]))
    np.testing.assert_allclose(values, 0.2, atol=1e-6)  # the plane's dx, no walls
    assert StateGrid.from_env(gym.make("workbench/Plane-v0"), resolution=4).shape == (4, 4)


def test_box_slice_of_pendulum_varies_two_dims_and_fixes_the_rest():
    env = gym.make("Pendulum-v1")
    grid = StateGrid.box_slice(env, dims=(0, 2), resolution=(5, 7), seed=1)
    reset = gym.make("Pendulum-v1").reset(seed=1)[0]
    assert grid.shape == (7, 5)
    np.testing.assert_allclose(grid.xs, np.linspace(-1, 1, 5))  # cos theta's bounds
    np.testing.assert_allclose(grid.ys, np.linspace(-8, 8, 7))  # the angular velocity's
    observations = grid.observations()
    np.testing.assert_allclose(observations[:, 1], reset[1])  # sin theta, fixed at reset
    # A reward of the state alone: s' = s is exact, and the map's rows follow ys.
    values = reward_map(grid, lambda o, a, n: -(n[:, 2] ** 2))
    np.testing.assert_allclose(values, -np.tile(grid.ys[:, None] ** 2, (1, 5)), rtol=1e-6)
    # Pendulum's actions are averaged over: the control cost's mean.
    torque = reward_map(grid, lambda o, a, n: -0.001 * a[:, 0] ** 2, n_actions=4, seed=2)
    expected = -0.001 * (sample_actions(env.action_space, 4, seed=2)[:, 0] ** 2).mean()
    np.testing.assert_allclose(torque, expected)


def test_box_slice_ranges_fixed_values_and_unbounded_dims():
    grid = StateGrid.box_slice(
        "MountainCar-v0", dims=(1, 0), ranges=((-0.07, 0.07), None), resolution=3
    )
    np.testing.assert_allclose(grid.xs, [-0.07, 0.0, 0.07])  # velocity, along x
    np.testing.assert_allclose(grid.ys, [-1.2, -0.3, 0.6])  # position's bounds, along y
    np.testing.assert_allclose(grid.observations()[:, 1], np.repeat(grid.xs[None], 3, 0).ravel())
    cart = StateGrid.box_slice("CartPole-v1", dims=(1, 3), fixed=np.ones(4), resolution=2)
    np.testing.assert_allclose(cart.xs, DEFAULT_RANGE)  # velocities are unbounded
    np.testing.assert_allclose(cart.observations()[:, [0, 2]], 1.0)


def test_reward_map_is_the_expected_reward_over_the_actions(umaze):
    grid = StateGrid.maze(umaze, points_per_cell=8)
    task = umaze.unwrapped.task
    actions = np.array([[0.2, 0.0], [-0.1, 0.2], [0.05, -0.2]])
    values = reward_map(grid, dense_goal_reward, actions=actions)
    # Next to the right wall of the lower corridor, where +x is blocked, and two more.
    for x, y in ((3.9375, 1.4375), (1.0625, 1.0625), (2.5625, 3.8125)):
        position = np.tile([x, y], (3, 1))
        new_positions = task.move(position, actions)
        expected = -np.linalg.norm(new_positions - GOAL, axis=1).mean()
        assert values[index_of(grid, x, y)] == pytest.approx(expected, abs=1e-6)
    sampled = reward_map(grid, dense_goal_reward, n_actions=8, seed=4)
    by_hand = reward_map(grid, dense_goal_reward, actions=sample_actions(grid.action_space, 8, 4))
    np.testing.assert_array_equal(sampled, by_hand)


@pytest.mark.parametrize("reward_mode", ["dense", "geodesic", "goal"])
def test_env_reward_map_matches_stepping_the_env(reward_mode):
    env = gym.make(UMAZE, reward_mode=reward_mode)
    env.reset(seed=0)
    grid = StateGrid.maze(env, points_per_cell=4)
    action = np.array([0.2, -0.15], dtype=np.float32)
    values = env_reward_map(env, grid, actions=action)
    for x, y in ((3.875, 1.125), (1.375, 3.625), (3.625, 2.375), (1.125, 3.125)):
        env.reset(options={"start": (x, y)})
        _, reward, *_ = env.step(action)
        assert values[index_of(grid, x, y)] == pytest.approx(reward, abs=1e-12)
    env.close()


@pytest.fixture(scope="module")
def ppo(umaze):
    return PPO(
        "MlpPolicy", umaze, n_steps=64, batch_size=64, seed=0, device="cpu",
        policy_kwargs={"net_arch": [16]},
    )  # fmt: skip


def test_value_map_of_ppo_is_predict_values_row_by_row(umaze, ppo):
    grid = StateGrid.maze(umaze, points_per_cell=2)
    values = value_map(ppo, grid, batch_size=7)  # several batches
    free = grid.free_observations()
    with torch.no_grad():
        expected = ppo.policy.predict_values(torch.as_tensor(free))[:, 0].double().numpy()
    np.testing.assert_allclose(values[grid.mask], expected, rtol=1e-6)
    assert np.isnan(values[~grid.mask]).all()


def test_value_map_of_sac_is_min_q_at_the_deterministic_action(umaze):
    model = SAC(
        "MlpPolicy", umaze, buffer_size=100, seed=0, device="cpu", policy_kwargs={"net_arch": [8]}
    )
    grid = StateGrid.maze(umaze, points_per_cell=2)
    obs = torch.as_tensor(grid.free_observations())
    with torch.no_grad():
        actions = model.actor(obs, deterministic=True)
        q1, q2 = model.critic(obs, actions)
    np.testing.assert_allclose(
        value_map(model, grid)[grid.mask], torch.minimum(q1, q2)[:, 0].numpy(), rtol=1e-6
    )


def test_advantage_map_is_the_td_error_of_the_deterministic_action(umaze, ppo):
    grid = StateGrid.maze(umaze, points_per_cell=2)
    advantages = advantage_map(ppo, grid, reward_fn=dense_goal_reward, gamma=0.9)
    task = umaze.unwrapped.task
    for x, y in ((1.25, 1.25), (3.75, 2.25)):
        obs = np.array([[x, y]], dtype=np.float32)
        action, _ = ppo.predict(obs, deterministic=True)
        next_obs = task.move(np.array([[x, y]]), action.astype(np.float64)).astype(np.float32)
        with torch.no_grad():
            v, v_next = ppo.policy.predict_values(torch.as_tensor(np.concatenate([obs, next_obs])))
        expected = dense_goal_reward(obs, action, next_obs)[0] + 0.9 * float(v_next) - float(v)
        assert advantages[index_of(grid, x, y)] == pytest.approx(expected, abs=1e-5)


def test_goal_value_map_is_zero_at_the_goal(umaze):
    grid = StateGrid.maze(umaze, points_per_cell=4)
    goal = np.array([1.375, 3.625])
    for phi in (lambda x: x, torch.nn.Identity()):
        values = goal_value_map(phi, grid, goal)
        assert values[index_of(grid, *goal)] == 0.0
        assert values[index_of(grid, 3.625, 3.625)] == pytest.approx(-2.25)
        assert np.nanmax(values) == 0.0 and np.isnan(values[~grid.mask]).all()
    agent = HILP(2, 2, 0.2, latent_dim=3, hidden=8, layers=1, device="cpu")
    values = goal_value_map(agent, grid, goal)
    phi_goal = agent.embed(goal[None].astype(np.float32))
    expected = -np.linalg.norm(agent.embed(grid.free_observations()) - phi_goal, axis=1)
    np.testing.assert_allclose(values[grid.mask], expected, rtol=1e-5)
    # The network itself (an ensemble module) gives the same map as the agent.
    np.testing.assert_allclose(goal_value_map(agent.phi, grid, goal), values, rtol=1e-5)


def test_skill_reward_map_with_identity_phi_is_the_expected_move(umaze):
    grid = StateGrid.maze(umaze, points_per_cell=4)
    skill = np.array([0.6, 0.8])
    moves = reward_map(grid, lambda o, a, n: (n - o) @ skill, n_actions=6, seed=1)
    np.testing.assert_allclose(
        skill_reward_map(lambda x: x, grid, skill, n_actions=6, seed=1), moves, atol=1e-6
    )
    agent = SkillDiscovery(
        2, -0.2 * torch.ones(2), 0.2 * torch.ones(2), hidden=8, layers=1, device="cpu"
    )
    values = skill_reward_map(agent, grid, skill)
    assert np.isfinite(values[grid.mask]).all() and np.isnan(values[~grid.mask]).all()


def one_line_error(match: str, fn, *args, **kwargs) -> None:
    with pytest.raises(ValueError, match=match) as error:
        fn(*args, **kwargs)
    assert "\n" not in str(error.value)


def test_errors_are_one_line_and_name_the_parameter(umaze, ppo):
    pendulum = gym.make("Pendulum-v1")
    one_line_error("^dims must be", StateGrid.box_slice, pendulum, dims=(0, 0))
    one_line_error("^dims must be", StateGrid.box_slice, pendulum, dims=(0, 3))
    one_line_error(r"^ranges\[1\] must be", StateGrid.box_slice, pendulum, ranges=(None, (2, 1)))
    one_line_error(r"^ranges\[0\] must be", StateGrid.box_slice, pendulum, ranges=((0, "a"), None))
    one_line_error("^resolution must be", StateGrid.box_slice, pendulum, resolution=1)
    one_line_error("^fixed must have shape", StateGrid.box_slice, pendulum, fixed=np.zeros(2))
    one_line_error("^x_range must be", StateGrid.plane, x_range=(1.0, 1.0))
    one_line_error("^points_per_cell must be", StateGrid.maze, umaze, points_per_cell=0)
    one_line_error("^env must be a point env", StateGrid.maze, pendulum)
    one_line_error("^env must have a flat Box", StateGrid.box_slice, gym.make("FrozenLake-v1"))
    maze_grid = StateGrid.maze(umaze, points_per_cell=2)
    one_line_error(
        "^actions must have shape", reward_map, maze_grid, dense_goal_reward, np.zeros(3)
    )
    one_line_error("^goal must be", goal_value_map, lambda x: x, maze_grid, np.zeros(3))
    one_line_error("^skill has dimension", skill_reward_map, lambda x: x, maze_grid, np.ones(3))
    slice_grid = StateGrid.box_slice(pendulum)
    one_line_error("needs dynamics", skill_reward_map, lambda x: x, slice_grid, np.ones(3))
    one_line_error("^grid must be a point-world grid", advantage_map, ppo, slice_grid)
