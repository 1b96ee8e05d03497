"""EPIC distance: invariances (shaping, scale, shift), discrimination, and its errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import environments  # noqa: F401  (registers the workbench/ envs)
from environments.point import make_maze_vector_env
from workbench.landscapes.epic import (
    EpicResult,
    canonicalize,
    epic_distance,
    maze_state_samples,
    sample_transitions,
)

GAMMA = 0.99
GOAL = np.array([1.5, 3.5])  # the U-maze's G cell
OTHER_GOAL = np.array([3.5, 1.5])  # the far end of its lower corridor


def goal_distance(goal: np.ndarray):
    """Dense reward: minus the distance of the state reached to ``goal``."""

    def reward(obs, actions, next_obs):
        return -np.linalg.norm(next_obs[:, :2] - goal, axis=1)

    return reward


def potential(obs: np.ndarray) -> np.ndarray:
    return np.sin(2.0 * obs[:, 0]) + 0.3 * obs[:, 1] ** 2


def shaped(reward):
    def shaped_reward(obs, actions, next_obs):
        return reward(obs, actions, next_obs) + GAMMA * potential(next_obs) - potential(obs)

    return shaped_reward


@pytest.fixture(scope="module")
def umaze_samples():
    env = gym.make("workbench/PointMaze-UMaze-v0")
    samples = sample_transitions(env, 600, seed=3, n_samples=128)
    # D_S uniform over the maze's free space, paired with actions from the action space.
    states = maze_state_samples(env, 128, np.random.default_rng(4))
    env.close()
    return samples.transitions, states, samples.action_samples


def epic(reward_a, reward_b, samples, **kwargs) -> EpicResult:
    transitions, states, actions = samples
    return epic_distance(reward_a, reward_b, transitions, states, actions, GAMMA, **kwargs)


def test_samples_have_matching_shapes(umaze_samples):
    (obs, actions, next_obs), states, action_samples = umaze_samples
    assert obs.shape == next_obs.shape == (600, 2) and actions.shape == (600, 2)
    assert states.shape == (128, 2) and action_samples.shape == (128, 2)
    maze = gym.make("workbench/PointMaze-UMaze-v0").unwrapped.task.maze
    assert maze.is_free(states).all()
    assert np.abs(action_samples).max() <= 0.2 + 1e-6


def test_potential_shaping_scale_and_shift_give_zero(umaze_samples):
    reward = goal_distance(GOAL)
    assert epic(reward, shaped(reward), umaze_samples).distance < 0.02
    assert epic(reward, lambda *t: 3.0 * reward(*t), umaze_samples).distance < 0.02
    assert epic(reward, lambda *t: 0.5 * reward(*t) + 7.0, umaze_samples).distance < 0.02
    # Shaping cancels exactly, not only in expectation: the same pairs serve every state
    # (up to float32 rounding of the potential, computed from float32 observations).
    transitions, states, actions = umaze_samples
    plain = canonicalize(reward, transitions, states, actions, GAMMA)
    np.testing.assert_allclose(
        canonicalize(shaped(reward), transitions, states, actions, GAMMA), plain, atol=1e-6
    )


def test_identical_reward_is_at_distance_zero(umaze_samples):
    reward = goal_distance(GOAL)
    result = epic(reward, reward, umaze_samples)
    assert result.distance == pytest.approx(0.0, abs=1e-6)
    assert result.pearson == pytest.approx(1.0)
    assert result.n_transitions == 600 and result.n_samples == 128


def test_another_goal_is_far_symmetric_and_bounded(umaze_samples):
    a, b = goal_distance(GOAL), goal_distance(OTHER_GOAL)
    forward, backward = epic(a, b, umaze_samples), epic(b, a, umaze_samples)
    assert forward.distance > 0.3
    assert forward.distance == pytest.approx(backward.distance, abs=1e-12)
    assert 0.0 <= forward.distance <= 1.0
    low, high = forward.interval
    assert 0.0 <= low <= forward.distance <= high <= 1.0 and forward.standard_error > 0
    opposite = epic(a, lambda *t: -a(*t), umaze_samples)
    assert opposite.distance == pytest.approx(1.0, abs=1e-6)


def test_same_seed_gives_the_same_value():
    def run(seed: int) -> EpicResult:
        env = gym.make("workbench/PointMaze-UMaze-v0")
        samples = sample_transitions(env, 300, seed=seed, n_samples=64)
        states = maze_state_samples(env, 64, seed)
        env.close()
        return epic_distance(
            goal_distance(GOAL),
            goal_distance(OTHER_GOAL),
            samples.transitions,
            states,
            samples.action_samples,
            GAMMA,
            seed=seed,
        )

    assert run(5) == run(5)
    assert run(5).distance != run(6).distance


@pytest.mark.parametrize("autoreset_mode", ["NextStep", "SameStep"])
def test_vector_env_transitions_skip_the_autoreset_steps(autoreset_mode):
    # Short episodes, so that many end and start over within the sample.
    env = make_maze_vector_env(num_envs=4, max_episode_steps=5, autoreset_mode=autoreset_mode)
    samples = sample_transitions(env, 200, seed=0)
    env.close()
    start = np.array([1.5, 1.5], dtype=np.float32)
    # Every real step moves by at most 0.2 per axis; an autoreset "step" jumps to the start.
    step = np.abs(samples.next_obs - samples.obs).max(axis=1)
    assert samples.obs.shape == (200, 2) and (step <= 0.2 + 1e-5).all()
    assert (samples.obs == start).all(axis=1).sum() > 10  # episodes did start over


def test_errors_are_named(umaze_samples):
    (obs, actions, next_obs), states, action_samples = umaze_samples
    reward = goal_distance(GOAL)
    with pytest.raises(ValueError, match="gamma must be in"):
        epic_distance(reward, reward, (obs, actions, next_obs), states, action_samples, 1.5)
    with pytest.raises(ValueError, match="next_obs has shape"):
        epic_distance(reward, reward, (obs, actions, next_obs[:-1]), states, action_samples, 0.9)
    with pytest.raises(ValueError, match="actions has shape"):
        epic_distance(reward, reward, (obs, actions[:-1], next_obs), states, action_samples, 0.9)
    with pytest.raises(ValueError, match="state_samples has shape"):
        epic_distance(reward, reward, (obs, actions, next_obs), states[:, :1], action_samples, 0.9)
    with pytest.raises(ValueError, match="same length"):
        epic_distance(reward, reward, (obs, actions, next_obs), states[:5], action_samples, 0.9)
    constant = lambda o, a, n: np.full(len(o), 2.0)  # noqa: E731
    with pytest.raises(ValueError, match=r"^reward_b is constant"):
        epic_distance(reward, constant, (obs, actions, next_obs), states, action_samples, 0.9)
    # Potential shaping alone canonicalizes to zero: as constant as a constant.
    only_shaping = lambda o, a, n: GAMMA * potential(n) - potential(o)  # noqa: E731
    with pytest.raises(ValueError, match=r"^reward_a is constant"):
        epic_distance(only_shaping, reward, (obs, actions, next_obs), states, action_samples, GAMMA)
    with pytest.raises(ValueError, match="reward_a returned shape"):
        epic_distance(
            lambda o, a, n: np.zeros((len(o), 2)),
            reward,
            (obs, actions, next_obs),
            states,
            action_samples,
            0.9,
        )
    with pytest.raises(ValueError, match="env must be a point maze"):
        maze_state_samples(gym.make("Pendulum-v1"), 4)
