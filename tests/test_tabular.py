"""Tabular MDPs, grid worlds, value iteration and policy evaluation."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from environments import GridWorldEnv, LayoutError, TabularMDP, gridworld
from environments.tabular import TabularEnv
from workbench.dynamic_programming import policy_evaluation, random_policy, value_iteration


def two_state_mdp(horizon=None):
    """s0: stay (reward 0) or go to s1 (reward 1); s1: absorbing, reward 2 per step."""
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[0, 1, 1] = P[1, :, 1] = 1.0
    R = np.array([[0.0, 1.0], [2.0, 2.0]])
    return TabularMDP(P, R, start=np.array([1.0, 0.0]), horizon=horizon)


def test_value_iteration_matches_hand_solved_discounted_values():
    solution = value_iteration(two_state_mdp(), discount=0.9)
    # V(s1) = 2 / (1 - 0.9) = 20; Q(s0, go) = 1 + 0.9 * 20 = 19 > Q(s0, stay) = 0.9 * 19.
    np.testing.assert_allclose(solution.v, [19.0, 20.0], atol=1e-8)
    np.testing.assert_allclose(solution.q[0], [0.9 * 19.0, 19.0], atol=1e-8)
    assert solution.policy[0] == 1


def test_value_iteration_matches_hand_solved_finite_horizon_values():
    solution = value_iteration(two_state_mdp(horizon=3))
    # Backward from V_3 = 0: V_2 = (1, 2), V_1 = (3, 4), V_0 = (5, 6).
    np.testing.assert_allclose(solution.v, [[5, 6], [3, 4], [1, 2], [0, 0]])
    np.testing.assert_array_equal(solution.policy[:, 0], [1, 1, 1])
    assert solution.start_value(two_state_mdp(horizon=3)) == 5.0


def test_policy_evaluation_of_stochastic_transition_matches_hand_solution():
    # s0 --a--> s1 (p = 0.8, reward 1 on arrival) or s2 (p = 0.2, nothing); both absorbing.
    P = np.zeros((3, 1, 3))
    P[0, 0] = [0.0, 0.8, 0.2]
    P[1, 0, 1] = P[2, 0, 2] = 1.0
    R = np.array([[0.8], [0.0], [0.0]])
    mdp = TabularMDP(P, R, start=np.array([1.0, 0, 0]), horizon=5)
    solution = policy_evaluation(mdp, np.zeros(3, dtype=int))
    assert solution.v[0, 0] == pytest.approx(0.8)
    discounted = policy_evaluation(mdp, random_policy(mdp), discount=0.5)
    np.testing.assert_allclose(discounted.v, [0.8, 0.0, 0.0])


def test_evaluating_the_greedy_policy_gives_the_optimal_values():
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(6), size=(6, 3))
    R = rng.normal(size=(6, 3))
    mdp = TabularMDP(P, R, start=np.full(6, 1 / 6), horizon=7)
    optimal = value_iteration(mdp, discount=0.95)
    np.testing.assert_allclose(
        policy_evaluation(mdp, optimal.policy, discount=0.95).v, optimal.v, atol=1e-7
    )
    finite = value_iteration(mdp)
    np.testing.assert_allclose(policy_evaluation(mdp, finite.policy).v, finite.v, atol=1e-12)
    assert np.all(policy_evaluation(mdp, random_policy(mdp)).v <= finite.v + 1e-12)


def test_slippery_gridworld_rows_sum_to_one_with_the_stated_slip():
    mdp = gridworld("four_rooms", slip=0.2)
    np.testing.assert_allclose(mdp.transitions.sum(axis=2), 1.0)
    s = mdp.state_of((3, 3))  # an open cell: all four neighbours free
    up, right, left = mdp.state_of((3, 4)), mdp.state_of((4, 3)), mdp.state_of((2, 3))
    assert mdp.transitions[s, 0, up] == pytest.approx(0.8)
    assert mdp.transitions[s, 0, right] == pytest.approx(0.1)
    assert mdp.transitions[s, 0, left] == pytest.approx(0.1)


def test_deterministic_gridworld_optimal_return_counts_the_shortest_path():
    mdp = gridworld("empty", step_reward=-1.0, goal_reward=10.0)
    # From (1, 5) to (5, 1): 8 moves, the last one entering the goal.
    assert value_iteration(mdp).start_value(mdp) == pytest.approx(10.0 - 8.0)
    assert mdp.terminal.sum() == 1


def test_gridworld_env_returns_match_exact_values_in_expectation():
    mdp = gridworld("cliff", slip=0.1, horizon=30)
    optimal = value_iteration(mdp)
    env = TabularEnv(mdp)
    returns = []
    for episode in range(2000):
        state, _ = env.reset(seed=episode)
        total, done, t = 0.0, False, 0
        while not done:
            state, reward, terminated, truncated, _ = env.step(int(optimal.policy[t, state]))
            total, done, t = total + reward, terminated or truncated, t + 1
        returns.append(total)
    standard_error = np.std(returns) / np.sqrt(len(returns))
    assert abs(np.mean(returns) - optimal.start_value(mdp)) < 4 * standard_error + 1e-9


def test_registered_gridworld_is_a_gymnasium_env_over_its_mdp():
    env = gym.make("workbench/GridWorld-Cliff-v0", render_mode="rgb_array")
    state, _ = env.reset(seed=0)
    mdp = env.unwrapped.mdp
    assert mdp.cells[state].tolist() == [1, 1]
    state, reward, terminated, _, _ = env.step(1)  # right, into the lava
    assert (reward, terminated) == (-1.0, True)
    assert env.render().shape == (6 * 32, 10 * 32, 3)
    assert isinstance(env.unwrapped, GridWorldEnv)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"layout": "maze9"}, LayoutError, "unknown grid world layout 'maze9'"),
        ({"layout": "#####\n#S..#\n#####"}, LayoutError, "no goal"),
        ({"layout": "#####\n#SLG#\n#####"}, LayoutError, "goal cell.*cannot be reached"),
        ({"slip": 1.0}, ValueError, r"slip must be in \[0, 1\)"),
    ],
)
def test_bad_gridworld_settings_raise_a_clear_error(kwargs, error, message):
    with pytest.raises(error, match=message):
        gridworld(**kwargs)


def test_invalid_mdps_and_solver_arguments_are_refused():
    P = np.full((2, 1, 2), 0.6)
    with pytest.raises(ValueError, match=r"transitions\[0, 0, :\] sums to 1.2"):
        TabularMDP(P, np.zeros((2, 1)), start=np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"discount must be in \[0, 1\]"):
        value_iteration(two_state_mdp(), discount=1.5)
    with pytest.raises(ValueError, match="needs a finite horizon"):
        value_iteration(two_state_mdp())
    with pytest.raises(ValueError, match=r"actions must be in 0\.\.1"):
        policy_evaluation(two_state_mdp(3), np.array([0, 2]))
    with pytest.raises(ValueError, match="is not one of the 2 actions"):
        env = TabularEnv(two_state_mdp(3))
        env.reset(seed=0)
        env.step(5)
