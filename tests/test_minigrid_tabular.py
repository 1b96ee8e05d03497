"""MiniGrid tabularized as BRIDGE does it, checked against the real environment: the
optimal return is achievable there, the random policy's return matches a Monte Carlo
estimate along trajectories that the tabular MDP follows step by step, consolidation keeps
every value, and the on-disk cache round-trips."""

from __future__ import annotations

import copy
import math

import gymnasium as gym
import numpy as np
import pytest

from workbench.horizon import minigrid
from workbench.horizon.mdp import HorizonMDP
from workbench.horizon.minigrid import (
    binarize,
    cache_path,
    consolidation_classes,
    kept_actions,
    make_minigrid,
    tabularize,
    tabularize_cached,
)

ENV_IDS = ("MiniGrid-Empty-5x5-v0", "MiniGrid-DoorKey-5x5-v0")
HORIZON = 100  # BRIDGE's T for MiniGrid, on both sides of every comparison
EPISODES = 2000  # Monte Carlo episodes of the random policy
STANDARD_ERRORS = 4  # the Monte Carlo tolerance, in standard errors of the mean


@pytest.fixture(scope="module")
def raw() -> dict[str, HorizonMDP]:
    return {env_id: tabularize(env_id, HORIZON, consolidate=False) for env_id in ENV_IDS}


@pytest.fixture(scope="module")
def consolidated() -> dict[str, HorizonMDP]:
    return {env_id: tabularize(env_id, HORIZON) for env_id in ENV_IDS}


def start_values(mdp: HorizonMDP, horizon: int) -> tuple[float, float]:
    """(optimal, uniformly random) expected return from state 0 over ``horizon`` steps,
    by backward induction."""
    optimal = np.zeros(mdp.num_states)
    random = np.zeros(mdp.num_states)
    for _ in range(horizon):
        optimal = (mdp.rewards + mdp.expected_next(optimal)).max(1)
        random = (mdp.rewards + mdp.expected_next(random)).mean(1)
    return float(optimal[0]), float(random[0])


def real_step(env, action: int) -> tuple[float, bool]:
    """One step of the unwrapped env as BRIDGE takes it: step counter reset first,
    binarized reward. Returns (reward, terminated)."""
    env.step_count = 0
    _, reward, terminated, truncated, _ = env.step(action)
    assert not truncated
    return binarize(float(reward)), terminated


def real_shortest_rewarding_path(env_id: str, horizon: int) -> list[int] | None:
    """Breadth-first search in the real environment (copies made with ``copy.deepcopy``,
    states told apart by ``Grid.encode``: independent of the module's machinery) for the
    shortest action sequence that earns a reward within ``horizon`` steps."""
    start = make_minigrid(env_id).unwrapped

    def key(env) -> tuple:
        carrying = None if env.carrying is None else env.carrying.encode()
        position = tuple(map(int, env.agent_pos))
        return position, int(env.agent_dir), carrying, env.grid.encode().tobytes()

    frontier, seen = [(start, [])], {key(start)}
    for _ in range(horizon):
        next_frontier = []
        for env, path in frontier:
            for action in range(kept_actions(env_id)):
                child = copy.deepcopy(env)
                reward, terminated = real_step(child, action)
                if reward > 0:
                    return [*path, action]
                if not terminated and key(child) not in seen:
                    seen.add(key(child))
                    next_frontier.append((child, [*path, action]))
        frontier = next_frontier
    return None


def tabular_shortest_rewarding_path_length(mdp: HorizonMDP) -> int:
    """The fewest actions from state 0 whose last one earns a reward, in the MDP."""
    depth, frontier, seen = 0, {0}, {0}
    while frontier:
        states = np.fromiter(frontier, dtype=np.int64)
        if (mdp.rewards[states] > 0).any():
            return depth + 1
        successors = mdp.successors[states].ravel()
        frontier = {int(s) for s in successors if s >= 0} - seen
        seen |= frontier
        depth += 1
    raise AssertionError("no reward reachable")


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_optimal_return_is_achieved_in_the_real_environment(env_id, raw, consolidated):
    mdp = raw[env_id]
    # Rewards are binarized and every rewarded transition ends the episode, so no return
    # exceeds 1.
    assert set(np.unique(mdp.rewards)) <= {0.0, 1.0}
    assert (mdp.successors[mdp.rewards > 0] == -1).all()
    assert start_values(mdp, HORIZON)[0] == 1.0
    assert start_values(consolidated[env_id], HORIZON)[0] == 1.0

    path = real_shortest_rewarding_path(env_id, HORIZON)
    assert path is not None and len(path) <= HORIZON
    assert len(path) == tabular_shortest_rewarding_path_length(mdp)

    # Replayed in a fresh env, as gymnasium.make builds it: return 1, ending at the goal.
    env = gym.make(env_id)
    env.reset(seed=0)
    total = 0.0
    for step, action in enumerate(path):
        env.unwrapped.step_count = 0
        _, reward, terminated, truncated, _ = env.step(action)
        total += binarize(float(reward))
        assert terminated == (step == len(path) - 1) and not truncated
    assert total == 1.0


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_random_policy_matches_the_real_environment(env_id, raw, consolidated):
    """Monte Carlo in the real env (kept actions, binarized rewards, step counter reset,
    horizon T). Each episode is also followed in the unconsolidated MDP, which must give
    the same reward, end at the same step and put the agent in the same cell.

    The policy never reads observations, so the env's observation is not computed (a
    step's gen_obs is pure; skipping it makes a step 30 times faster)."""
    mdp = raw[env_id]
    env = make_minigrid(env_id).unwrapped
    env.gen_obs = lambda: None
    actions = np.random.default_rng(0).integers(0, kept_actions(env_id), (EPISODES, HORIZON))
    returns = np.zeros(EPISODES)
    for episode in range(EPISODES):
        env.reset(seed=0)
        state = 0
        for t in range(HORIZON):
            action = int(actions[episode, t])
            reward, terminated = real_step(env, action)
            returns[episode] += reward
            assert reward == mdp.rewards[state, action]
            successor = mdp.successors[state, action, 0]
            if terminated:
                assert successor == -1
                break
            if t + 1 < HORIZON:
                assert successor >= 0
                assert tuple(mdp.positions[successor]) == tuple(map(int, env.agent_pos))
                state = successor

    exact = start_values(mdp, HORIZON)[1]
    assert start_values(consolidated[env_id], HORIZON)[1] == pytest.approx(exact, abs=1e-12)
    # Returns are 0 or 1: the standard error of the mean is sqrt(p (1 - p) / n) at the
    # exact p; the floor covers p near 0.
    standard_error = max(math.sqrt(exact * (1 - exact) / EPISODES), 1 / EPISODES)
    print(f"{env_id}: random-policy return {exact:.4f} exact, {returns.mean():.4f} Monte Carlo")
    assert abs(returns.mean() - exact) <= STANDARD_ERRORS * standard_error


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_consolidation_keeps_values_and_never_adds_states(env_id, raw, consolidated):
    before, after = raw[env_id], consolidated[env_id]
    assert after.num_states <= before.num_states
    for horizon in (10, HORIZON):
        assert start_values(after, horizon) == pytest.approx(start_values(before, horizon))
    assert after.positions.shape == (after.num_states, 2) and after.name == env_id


def test_empty_5x5_has_nothing_to_consolidate(raw, consolidated):
    """Empty-5x5 has 8 free cells x 4 directions = 32 states and each shows a different
    egocentric view (the walls sit elsewhere relative to the agent), so the first
    partition, by observation, already separates every state and refinement only
    splits: consolidation cannot merge anything here."""
    enumeration = minigrid.enumerate_states("MiniGrid-Empty-5x5-v0", HORIZON)
    assert len(enumeration.observations) == 32
    assert len(np.unique(enumeration.observations)) == 32
    assert raw["MiniGrid-Empty-5x5-v0"].num_states == 32
    assert consolidated["MiniGrid-Empty-5x5-v0"].num_states == 32


def test_consolidation_merges_what_no_action_sequence_tells_apart():
    # States 1 and 2 look alike and both step to 3, which ends with reward 1: merged.
    # States 4 and 5 look like 1 and 2 but lead to 6 and -1: kept apart, and so are the
    # look-alikes 3 and 6 (3 pays, 6 does not).
    successors = np.array([[1, 2], [3, 3], [3, 3], [-1, -1], [6, 6], [-1, -1], [-1, -1]])
    rewards = np.zeros((7, 2))
    rewards[3] = 1.0
    observations = np.array([0, 1, 1, 2, 1, 1, 2])
    classes = consolidation_classes(successors, rewards, observations)
    assert classes[0] == 0
    assert classes[1] == classes[2]
    assert len({classes[1], classes[4], classes[5]}) == 3
    assert classes[3] != classes[6]
    assert classes.max() + 1 == 6


def test_consolidation_preserves_every_state_value_on_random_mdps():
    rng = np.random.default_rng(0)
    for _ in range(20):
        states, actions, horizon = 40, 3, 12
        successors = rng.integers(-1, states, (states, actions))
        rewards = rng.integers(0, 2, (states, actions)).astype(float)
        observations = rng.integers(0, 3, states)
        classes = consolidation_classes(successors, rewards, observations)
        quotient_successors = np.zeros_like(successors[: classes.max() + 1])
        quotient_rewards = np.zeros((classes.max() + 1, actions))
        for state in range(states):
            quotient_successors[classes[state]] = np.where(
                successors[state] >= 0, classes[successors[state]], -1
            )
            quotient_rewards[classes[state]] = rewards[state]
        original = HorizonMDP(successors, np.ones(successors.shape), rewards, horizon)
        merged = HorizonMDP(
            quotient_successors, np.ones(quotient_successors.shape), quotient_rewards, horizon
        )
        value, merged_value = np.zeros(states), np.zeros(merged.num_states)
        for _ in range(horizon):
            value = (rewards + original.expected_next(value)).max(1)
            merged_value = (quotient_rewards + merged.expected_next(merged_value)).max(1)
            assert merged_value[classes] == pytest.approx(value)
        # Same class, same observation.
        assert all(len(set(observations[classes == c])) == 1 for c in range(classes.max() + 1))


def test_a_shorter_horizon_keeps_the_states_acted_in_before_it(raw):
    long = raw["MiniGrid-DoorKey-5x5-v0"]
    short = tabularize("MiniGrid-DoorKey-5x5-v0", horizon=6, consolidate=False)
    assert short.num_states < long.num_states
    for horizon in range(1, 7):
        assert start_values(short, horizon) == pytest.approx(start_values(long, horizon))


def test_key_corridor_s3r1_matches_the_published_bridge_analysis():
    """The authors' published analysis of their tabular KeyCorridorS3R1 (effective-horizon
    repository, data/mdps/MiniGrid-KeyCorridorS3R1-v0/consolidated_analyzed.json): the
    same min k, window and effective horizon, and the same sample counts m per k, which
    depend on every value function, so the two MDPs agree where it matters."""
    from workbench.horizon.analysis import analyze

    published_ms = [6667295335345, 1392035355359, 278809136916, 54268730212, 10344878490,
                    3881656204, 719169930, 131899527, 23989567, 4332647, 1555678, 277857,
                    49406, 17501, 3089, 1]  # fmt: skip
    summary = analyze(tabularize("MiniGrid-KeyCorridorS3R1-v0")).summary()
    assert (summary["min_k"], summary["epw"], summary["effective_horizon"]) == (1, 15, 16.0)
    assert [term["m"] for term in summary["bound_terms"]] == published_ms


def test_cache_round_trip_does_not_enumerate_again(tmp_path, monkeypatch):
    env_id = "MiniGrid-DoorKey-5x5-v0"
    first = tabularize_cached(env_id, cache_dir=tmp_path)
    path = cache_path(env_id, cache_dir=tmp_path)
    assert path == tmp_path / "mdps" / f"{env_id}_T100_seed0.npz" and path.is_file()

    def fail(*args, **kwargs):
        raise AssertionError("enumerated although the MDP was cached")

    monkeypatch.setattr(minigrid, "enumerate_states", fail)
    second = tabularize_cached(env_id, cache_dir=tmp_path)
    for name in ("successors", "probabilities", "rewards", "start", "positions"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    assert (second.name, second.horizon) == (env_id, 100)


def test_cache_defaults_to_the_workbench_home(tmp_path, monkeypatch):
    monkeypatch.setenv("RL_WORKBENCH_HOME", str(tmp_path))
    expected = tmp_path / "mdps" / "MiniGrid-Empty-5x5-v0_T7_seed3.npz"
    assert cache_path("MiniGrid-Empty-5x5-v0", 7, 3) == expected


@pytest.mark.parametrize(
    ("env_id", "message"),
    [
        ("MiniGrid-Nowhere-v0", "unknown environment id 'MiniGrid-Nowhere-v0'"),
        ("CartPole-v1", "'CartPole-v1' is not a MiniGrid environment"),
    ],
)
def test_bad_ids_give_one_line_errors(env_id, message):
    with pytest.raises(ValueError, match=message) as error:
        tabularize(env_id)
    assert "\n" not in str(error.value)


def test_more_states_than_the_cap_are_refused_with_a_message():
    # Empty-8x8 has 36 cells x 4 directions reachable: far more than 50 states.
    with pytest.raises(minigrid.TooManyStates, match=r"more than 50 states .* fewer than T=100"):
        minigrid.enumerate_states("MiniGrid-Empty-8x8-v0", max_states=50)
    assert len(minigrid.enumerate_states("MiniGrid-Empty-5x5-v0", max_states=50).depths) <= 50


def test_installed_ids_are_every_registered_minigrid_id():
    ids = minigrid.installed_ids()
    assert len(ids) > 50 and ids == sorted(ids)
    assert {"MiniGrid-DoorKey-16x16-v0", "MiniGrid-KeyCorridorS3R1-v0"} <= set(ids)
    assert all(env_id.startswith("MiniGrid-") for env_id in ids)


def test_every_state_can_be_replayed_and_pictured(tmp_path):
    from workbench.horizon.minigrid import replay_state, state_picture

    env_id = "MiniGrid-DoorKey-5x5-v0"
    mdp = tabularize_cached(env_id, cache_dir=tmp_path)
    for state in range(mdp.num_states):
        env = replay_state(env_id, state)
        assert tuple(env.unwrapped.agent_pos) == tuple(mdp.positions[state])
        env.close()
    picture = state_picture(env_id, mdp.num_states - 1)
    assert picture.ndim == 3 and picture.shape[2] == 3 and picture.std() > 0
    with pytest.raises(ValueError, match=r"has states 0\.\.259"):
        state_picture(env_id, 260)
