"""Horizon analyses: hand-solved tiny MDPs, a brute-force check over action sequences on
random MDPs, and the BRIDGE npz format."""

from __future__ import annotations

import functools
import itertools
import json

import numpy as np
import pytest

from environments import gridworld
from workbench.horizon import load_mdp
from workbench.horizon.analysis import (
    analyze,
    bellman_backup,
    effective_horizon_bound,
    effective_planning_window,
    greedy_returns,
    lookahead_map,
    min_k,
    value_functions,
)
from workbench.horizon.learners import (
    TableRegressor,
    TorchRegressor,
    gorp,
    ppo_sample_complexity,
    sample_complexity,
    search_cap,
    sqirl,
)
from workbench.horizon.mdp import HorizonMDP, MDPFormatError


def chain(length: int = 4, horizon: int = 6) -> HorizonMDP:
    """Left/right on a line; reaching the right end pays 1 and ends the episode."""
    successors = np.zeros((length, 2), dtype=int)
    rewards = np.zeros((length, 2))
    for s in range(length):
        successors[s, 0] = max(s - 1, 0)
        successors[s, 1] = s + 1 if s + 1 < length else -1
    rewards[length - 1, 1] = 1.0
    return HorizonMDP(successors, np.ones((length, 2)), rewards, horizon, name="chain")


def trap() -> HorizonMDP:
    """State 0: action 0 leads to a gamble (state 1: +1 or -1), action 1 to a safe state
    (state 2: +0.1 either way). The random policy values the gamble at 0 < 0.1, so greedy
    one-step play takes the safe branch; looking two steps ahead finds the +1."""
    successors = np.array([[1, 2], [-1, -1], [-1, -1]])
    rewards = np.array([[0.0, 0.0], [1.0, -1.0], [0.1, 0.1]])
    return HorizonMDP(successors, np.ones((3, 2)), rewards, 2, name="trap")


def slip() -> HorizonMDP:
    """Action 0 reaches the goal (+1) with probability 0.9 and slips into a dead end with
    0.1; action 1 pays 0.8 for sure. Two steps."""
    successors = np.array([[[1, 2], [3, -1]], [[-1, -1]] * 2, [[-1, -1]] * 2, [[-1, -1]] * 2])
    probabilities = np.array([[[0.9, 0.1], [1.0, 0.0]], [[1.0, 0.0]] * 2, [[1.0, 0.0]] * 2,
                              [[1.0, 0.0]] * 2])  # fmt: skip
    rewards = np.array([[0.0, 0.8], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    return HorizonMDP(successors, probabilities, rewards, 2, name="slip")


def test_chain_needs_no_lookahead():
    mdp = chain()
    values = value_functions(mdp)
    assert values.start_values(mdp)["optimal"] == pytest.approx(1.0)
    assert min_k(mdp, values).k == 1
    bound = effective_horizon_bound(mdp, values)
    assert 1 <= bound.effective_horizon <= mdp.horizon
    assert bound.terms[0].k == 1


def test_trap_needs_two_steps_and_reports_where_one_fails():
    mdp = trap()
    values = value_functions(mdp)
    # By hand: Q_rand(0) = [0 + (1 - 1) / 2, 0 + 0.1] = [0, 0.1]; Q*(0) = [1, 0.1].
    np.testing.assert_allclose(values.q_random[0, 0], [0.0, 0.1])
    np.testing.assert_allclose(values.q_optimal[0, 0], [1.0, 0.1])
    result = min_k(mdp, values)
    assert result.k == 2 and result.failures == {1: (0, 0)}
    # On rewards alone both first actions pay 0: the tie lets the safe action through.
    assert effective_planning_window(mdp, values).k == 2
    bound = effective_horizon_bound(mdp, values)
    assert bound.failures[1] == (0, 0) and bound.effective_horizon >= 2


def test_stochastic_slip_values_by_hand():
    mdp = slip()
    values = value_functions(mdp)
    np.testing.assert_allclose(values.q_optimal[0, 0], [0.9, 0.8])
    np.testing.assert_allclose(values.q_worst[0, 0], [0.9, 0.8])
    np.testing.assert_allclose(values.v_random[0, 0], 0.85)
    assert min_k(mdp, values).k == 1
    # With a 0.5 slip the safe 0.8 becomes optimal, and still one step suffices.
    slippery = slip()
    slippery.probabilities[0, 0] = [0.5, 0.5]
    assert value_functions(slippery).start_values(slippery)["optimal"] == pytest.approx(0.8)


def test_backup_of_q_random_reaches_q_optimal_after_horizon_minus_one_steps():
    mdp = random_mdp(np.random.default_rng(3), states=6, actions=3, horizon=5)
    values = value_functions(mdp)
    q = values.q_random
    for _ in range(mdp.horizon - 1):
        q = bellman_backup(mdp, q)
    np.testing.assert_allclose(q, values.q_optimal)


def random_mdp(rng: np.random.Generator, states: int, actions: int, horizon: int) -> HorizonMDP:
    successors = rng.integers(-1, states, size=(states, actions))
    successors[rng.random((states, actions)) < 0.7] = rng.integers(0, states)
    rewards = rng.choice([0.0, 0.0, 0.5, 1.0], size=(states, actions))
    return HorizonMDP(successors, np.ones((states, actions)), rewards, horizon)


def brute_force(mdp: HorizonMDP) -> tuple[int, int]:
    """min_k and the planning window straight from the definitions: values by enumerating
    every action sequence, Q_k as the best k-step sequence plus the random tail."""
    horizon, actions = mdp.horizon, mdp.num_actions
    nxt, reward = mdp.successors[..., 0], mdp.rewards

    def rollout(s: int, sequence: tuple[int, ...]) -> tuple[float, int]:
        total = 0.0
        for a in sequence:
            if s < 0:
                break
            total, s = total + reward[s, a], nxt[s, a]
        return total, s

    def random_value(s: int, steps: int) -> float:
        if s < 0 or steps == 0:
            return 0.0
        sequences = list(itertools.product(range(actions), repeat=steps))
        return float(np.mean([rollout(s, seq)[0] for seq in sequences]))

    def best_value(s: int, steps: int) -> float:
        if s < 0 or steps == 0:
            return 0.0
        return max(rollout(s, seq)[0] for seq in itertools.product(range(actions), repeat=steps))

    def q_k(t: int, s: int, a: int, k: int, start_with_rewards: bool) -> float:
        left = horizon - t
        depth = min(k, left)
        best = -np.inf
        for tail in itertools.product(range(actions), repeat=depth - 1):
            total, end = rollout(s, (a, *tail))
            # B^(k-1) R sums k rewards and stops; B^(k-1) Q random adds the random tail.
            tail_value = 0.0 if start_with_rewards else random_value(end, left - depth)
            best = max(best, total + tail_value)
        return best

    def solvable(k: int, start_with_rewards: bool) -> bool:
        frontier = {0}
        for t in range(horizon):
            following = set()
            for s in frontier:
                qs = [q_k(t, s, a, k, start_with_rewards) for a in range(actions)]
                optimal = [
                    reward[s, a] + best_value(nxt[s, a], horizon - t - 1) for a in range(actions)
                ]
                for a in range(actions):
                    if qs[a] >= max(qs):
                        if optimal[a] < max(optimal) - 1e-4:
                            return False
                        if nxt[s, a] >= 0:
                            following.add(int(nxt[s, a]))
            frontier = following
        return True

    least = [next(k for k in range(1, horizon + 1) if solvable(k, flag)) for flag in (False, True)]
    return least[0], least[1]


@pytest.mark.parametrize("seed", range(12))
def test_min_k_and_window_agree_with_brute_force_and_the_bound_is_never_below_min_k(seed):
    rng = np.random.default_rng(seed)
    # Two actions and rewards in halves keep every value a dyadic fraction: exact in
    # floating point, so greedy ties are the same ties in both computations.
    mdp = random_mdp(
        rng, states=int(rng.integers(2, 6)), actions=2, horizon=int(rng.integers(2, 6))
    )
    values = value_functions(mdp)
    expected_min_k, expected_window = brute_force(mdp)
    assert min_k(mdp, values).k == expected_min_k
    assert effective_planning_window(mdp, values).k == expected_window
    assert effective_horizon_bound(mdp, values).effective_horizon >= expected_min_k


def test_lookahead_map_agrees_with_min_k_at_the_start():
    mdp = trap()
    least = lookahead_map(mdp)
    assert least[0] == 2 and least[1] == 1 and least[2] == 1


def test_gridworld_tabular_mdp_converts_with_terminal_goal():
    grid = gridworld("empty", slip=0.1, horizon=20)
    mdp = HorizonMDP.from_tabular(grid)
    values = value_functions(mdp)
    # Reaching the goal ends the episode, so no return exceeds the goal's reward scale.
    summary = analyze(mdp).summary()
    assert summary["optimal_return"] >= summary["random_return"] >= summary["worst_return"]
    assert values.q_optimal.shape == (20, grid.num_states, grid.num_actions)
    # Slippery: the bound is undefined, and min_k's greedy policy is optimal.
    assert summary["effective_horizon"] is None and "deterministic" in summary["bound_note"]
    # J_k: acting greedily on Q_k is optimal from min_k on; J_1 is greedy on Q random.
    greedy = greedy_returns(mdp, values, max_k=summary["min_k"] + 1)
    assert greedy[-1] == pytest.approx(greedy[-2]) == pytest.approx(summary["optimal_return"])
    assert summary["random_return"] <= greedy[0] <= summary["optimal_return"] + 1e-9
    deterministic = analyze(HorizonMDP.from_tabular(gridworld("empty", horizon=20))).summary()
    assert deterministic["min_k"] <= deterministic["effective_horizon"] <= 20


def test_a_slippery_step_yields_the_reward_of_the_cell_entered_not_its_expectation():
    grid = gridworld("cliff", slip=0.5, horizon=10)
    mdp = HorizonMDP.from_tabular(grid)
    # Beside the lava: moving right slips into the lava (-1, end) or along the row.
    start = grid.state_of((1, 1))
    rng = np.random.default_rng(0)
    states, actions = np.full(4000, start), np.full(4000, 0)  # up, slipping left/right
    following, rewards = mdp.sample(states, actions, rng)
    assert set(np.unique(rewards)) <= {0.0, -1.0} and (rewards == -1.0).any()
    assert np.all(following[rewards == -1.0] == -1)
    assert rewards.mean() == pytest.approx(mdp.rewards[start, 0], abs=0.03)


def test_bridge_npz_round_trip_keeps_the_horizon(tmp_path):
    mdp = random_mdp(np.random.default_rng(0), states=7, actions=3, horizon=10)
    path = tmp_path / "mdp.npz"
    mdp.save_bridge(path)
    loaded = HorizonMDP.load_bridge(path)
    assert loaded.horizon == 10
    np.testing.assert_array_equal(loaded.successors, mdp.successors)
    np.testing.assert_array_equal(loaded.rewards, mdp.rewards)
    assert analyze(loaded).summary()["min_k"] == analyze(mdp).summary()["min_k"]
    assert HorizonMDP.load_bridge(path, horizon=4).horizon == 4
    # Built for T = 10, the file is exact up to 10 only.
    with pytest.raises(MDPFormatError, match="exact only up to it"):
        HorizonMDP.load_bridge(path, horizon=11)


def test_an_npz_without_a_horizon_is_refused_until_one_is_given(tmp_path, capsys):
    from workbench.cli import main

    path = tmp_path / "freeway_10_fs30.npz"
    np.savez(path, transitions=chain().successors[..., 0], rewards=chain().rewards)
    with pytest.raises(MDPFormatError, match="stores no horizon"):
        load_mdp(str(path))
    assert main(["horizon", str(path)]) == 2
    assert "--horizon" in capsys.readouterr().err
    assert load_mdp(str(path), horizon=10).horizon == 10
    assert main(["horizon", str(path), "--horizon", "10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["horizon"] == 10


def test_bad_bridge_files_say_what_is_wrong(tmp_path):
    np.savez(tmp_path / "no_rewards.npz", transitions=np.zeros((2, 2), dtype=int))
    with pytest.raises(MDPFormatError, match="missing array"):
        HorizonMDP.load_bridge(tmp_path / "no_rewards.npz")
    np.savez(tmp_path / "bad.npz", transitions=np.full((2, 2), 5), rewards=np.zeros((2, 2)))
    with pytest.raises(MDPFormatError, match="successors must be state indices"):
        HorizonMDP.load_bridge(tmp_path / "bad.npz", horizon=5)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(MDPFormatError, match="not a readable npz"):
        HorizonMDP.load_bridge(tmp_path / "junk.npz", horizon=5)


def test_cli_prints_the_figures_as_a_table_and_as_json(capsys, tmp_path):
    from workbench.cli import main

    assert main(["horizon", "workbench/GridWorld-Cliff-v0", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    expected = analyze(load_mdp("workbench/GridWorld-Cliff-v0")).summary()
    assert figures["min_k"] == expected["min_k"] and figures["epw"] == expected["epw"]
    assert figures["effective_horizon"] == pytest.approx(expected["effective_horizon"])

    path = tmp_path / "chain.npz"
    chain().save_bridge(path)
    assert main(["horizon", str(path)]) == 0
    table = capsys.readouterr().out
    assert "4 states, 2 actions, horizon 6, deterministic" in table and "min_k 1" in table
    learners = ["--learners", "--max-samples", "20000", "--json"]
    assert main(["horizon", str(path), *learners]) == 0
    measured = json.loads(capsys.readouterr().out)["measured_sample_complexity"]
    assert set(measured) == {"GORP", "SQIRL", "PPO"}
    assert all(0 < steps < float("inf") for steps in measured.values())

    assert main(["horizon", "CartPole-v1"]) == 2
    assert "not a BRIDGE .npz file" in capsys.readouterr().err
    assert main(["horizon", "workbench/GridWorld-Cliff-v0", "--horizon", "0"]) == 2


def test_sticky_actions_keep_values_at_zero_and_match_a_simulation():
    mdp = random_mdp(np.random.default_rng(5), states=5, actions=2, horizon=4)
    plain = value_functions(mdp).start_values(mdp)
    unsticky = mdp.with_sticky_actions(0.0)
    for name, value in value_functions(unsticky).start_values(unsticky).items():
        assert value == pytest.approx(plain[name])
    # The random policy under sticky actions, simulated on the original MDP.
    sticky = mdp.with_sticky_actions(0.25)
    exact = value_functions(sticky).start_values(sticky)["random"]
    rng = np.random.default_rng(0)
    returns = []
    for _ in range(20_000):
        s, previous, total = 0, None, 0.0
        for _ in range(mdp.horizon):
            a = int(rng.integers(2))
            if previous is not None and rng.random() < 0.25:
                a = previous
            total += mdp.rewards[s, a]
            s, previous = int(mdp.successors[s, a, 0]), a
            if s < 0:
                break
        returns.append(total)
    error = np.std(returns) / np.sqrt(len(returns))
    assert abs(np.mean(returns) - exact) < 4 * error + 1e-9


def test_gorp_needs_the_lookahead_min_k_says():
    assert gorp(chain(), k=1, episodes=8, seed=0).optimal
    # In the trap the random policy values the gamble at 0 < 0.1: one step of lookahead
    # over Monte Carlo estimates takes the safe branch however many samples it gets.
    assert not gorp(trap(), k=1, episodes=200, seed=0).optimal
    assert gorp(trap(), k=2, episodes=4, seed=0).optimal


@pytest.mark.parametrize("regressor", ["table", "torch"])
def test_sqirl_with_either_regressor_solves_the_trap_with_two_steps_not_one(regressor):
    if regressor == "torch":  # fewer epochs than the default keep the test quick
        regressor = functools.partial(TorchRegressor, epochs=100)
    assert not sqirl(trap(), k=1, episodes=200, regressor=regressor, seed=0).optimal
    assert sqirl(trap(), k=2, episodes=200, regressor=regressor, seed=0).optimal


def lock(length: int = 8, actions: int = 4) -> HorizonMDP:
    """A combination lock: at state i one action (never action 0) pays 1 and moves on,
    every other one ends the episode. Random play from the start opens it with
    probability A^-length, yet greedy one-step play on Q random is optimal."""
    successors = np.full((length, actions), -1)
    rewards = np.zeros((length, actions))
    for s in range(length):
        right = 1 + s % (actions - 1)
        successors[s, right] = s + 1 if s + 1 < length else -1
        rewards[s, right] = 1.0
    return HorizonMDP(successors, np.ones((length, actions)), rewards, length, name="lock")


class RecordingTable(TableRegressor):
    """The table regressor, recording the time steps of every fit's data and the table
    it ended with."""

    fits: list[tuple[np.ndarray, np.ndarray]] = []

    def fit(self, steps, states, actions, targets) -> None:
        super().fit(steps, states, actions, targets)
        RecordingTable.fits.append((np.asarray(steps).copy(), self.table.copy()))


def test_sqirl_fits_q_i_on_data_from_step_i_on_and_freezes_it():
    mdp, k = lock(), 2
    RecordingTable.fits = []
    result = sqirl(mdp, k=k, episodes=12, regressor=RecordingTable, seed=1,
                   stop_when_optimal=False)  # fmt: skip
    fits = RecordingTable.fits
    assert len(fits) == k * mdp.horizon and len(result.frozen_q) == mdp.horizon
    for i in range(mdp.horizon):
        steps, table = fits[k * i + k - 1]  # the last head of step i
        # Step i's data: transitions at t >= i only, and some at t = i.
        assert all(fit_steps.min() >= i for fit_steps, _ in fits[k * i : k * i + k])
        assert (steps == i).any()
        # Q_i is that fit's table at t = i, unchanged by every later step's fits.
        np.testing.assert_array_equal(result.frozen_q[i], table[i])
    assert result.optimal


def test_sqirl_opens_a_lock_random_play_almost_never_opens():
    mdp = lock()
    assert min_k(mdp).k == 1
    # Random play opens the lock once in 4^8 = 65,536 episodes, of more than one step
    # each: fitting once on random episodes from the start needs far more than this.
    random_play = mdp.num_actions**mdp.horizon
    measured = sample_complexity(sqirl, mdp, runs=5, max_samples=50_000, k=1)
    assert measured < random_play / 20


def test_gorp_with_k_below_min_k_fails_and_sample_complexity_is_finite_when_k_suffices():
    samples = sample_complexity(gorp, chain(), runs=3, k=1)
    assert 0 < samples < 10_000
    # A gamble where one action in four pays +1 and three pay -1: its random value -0.5
    # loses to a safe 0.1, and ever more samples only make that clearer to k = 1.
    successors = np.array([[1, 2, 2, 2], [-1] * 4, [-1] * 4])
    rewards = np.array([[0.0] * 4, [1.0, -1.0, -1.0, -1.0], [0.1] * 4])
    gamble = HorizonMDP(successors, np.ones((3, 4)), rewards, 2)
    assert min_k(gamble).k == 2
    one_step = [gorp(gamble, k=1, episodes=64, seed=seed).optimal for seed in range(20)]
    assert sum(one_step) <= 2  # only luck picks the gamble
    assert all(gorp(gamble, k=2, episodes=1, seed=seed).optimal for seed in range(20))
    assert sample_complexity(gorp, gamble, runs=5, max_samples=20_000, k=2) < 1_000
    assert sample_complexity(sqirl, chain(), runs=3, max_samples=20_000, k=1) < 10_000


def test_the_search_is_capped_at_n_over_t_squared_a_to_the_k_episodes():
    mdp = chain()  # T = 6, A = 2
    assert search_cap(gorp, mdp, 72_000, k=2) == 72_000 // (36 * 4) == 500
    assert search_cap(sqirl, mdp, 72_000) == 2_000
    # Below one episode per action sequence nothing is tried: infinite.
    assert sample_complexity(gorp, mdp, runs=3, max_samples=100, k=2) == float("inf")


def test_gorp_on_a_sticky_mdp_sees_the_rewards_of_executed_actions():
    # One state, action 1 pays 1 and action 0 nothing: a sticky step that repeats the
    # other action pays its reward (0 or 1), never the expectation (0.25 or 0.75).
    one = HorizonMDP(np.zeros((1, 2), dtype=int), np.ones((1, 2)), [[0.0, 1.0]], 3)
    sticky = one.with_sticky_actions(0.25)
    assert set(np.unique(sticky.rewards)) > {0.0, 1.0}  # expectations 0.25, 0.75 exist
    for seed in range(10):
        result = gorp(sticky, k=1, episodes=1, seed=seed)
        # Two episodes per iteration: their summed returns are whole numbers.
        sums = 2 * np.array(result.mean_returns)
        np.testing.assert_allclose(sums, np.round(sums), atol=1e-9)
    states = np.full(2000, 0)  # state (s = 0, previous action 0), choosing 1
    _, rewards = sticky.sample(states, np.ones(2000, dtype=int), np.random.default_rng(0))
    assert set(np.unique(rewards)) == {0.0, 1.0}
    assert rewards.mean() == pytest.approx(0.75, abs=0.03)


def test_no_bound_is_reported_for_a_sticky_mdp(capsys, tmp_path):
    from workbench.cli import main

    mdp = random_mdp(np.random.default_rng(2), states=5, actions=2, horizon=5)
    sticky = mdp.with_sticky_actions(0.25)
    analysis = analyze(sticky)
    assert analysis.bound is None and analysis.predicted_sample_complexity is None
    summary = analysis.summary()
    assert summary["effective_horizon"] is None and summary["bound_terms"] == []
    assert "deterministic MDPs only" in summary["bound_note"]
    assert len(summary["greedy_returns"]) == 5 and summary["min_k"] >= 1
    with pytest.raises(ValueError, match="deterministic"):
        effective_horizon_bound(sticky)
    # Sticky with probability 0 is deterministic again, and has its bound.
    assert analyze(mdp.with_sticky_actions(0.0)).bound is not None
    assert main(["horizon", "workbench/GridWorld-Cliff-v0", "--sticky", "0.25"]) == 0
    text = capsys.readouterr().out
    assert "min_k" in text and "greedy returns" in text
    assert "effective horizon bound" not in text and "deterministic MDPs only" in text
    assert main(["horizon", "workbench/GridWorld-Cliff-v0", "--sticky", "0.25", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["effective_horizon"] is None and figures["predicted_sample_complexity"] is None


def test_ppo_sample_complexity_on_the_chain_is_measured_in_environment_steps():
    steps = ppo_sample_complexity(chain(6, 10), max_steps=20_000, eval_every=256)
    assert 0 < steps <= 20_000 and steps % 256 == 0


def test_discount_sweep_runs_one_live_sb3_run_per_gamma_and_tabulates_their_returns(
    tmp_path, capsys
):
    from workbench.cli import main
    from workbench.runs import RunStore

    home = str(tmp_path / "home")
    knobs = ["env_id=workbench/Plane-v0", "total_timesteps=1024", "eval_every=512",
             "n_envs=1", "checkpoint_every=0"]  # fmt: skip
    argv = ["--home", home, "sweep-discount", "--gammas", "0.5", "0.99"]
    assert main(argv + [item for knob in knobs for item in ("--set", knob)]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = {float(line.split()[0]): line.split() for line in lines[2:]}
    assert set(table) == {0.5, 0.99}
    assert all(int(row[1]) >= 1024 and np.isfinite(float(row[2])) for row in table.values())
    runs = RunStore(home).list_runs()
    assert sorted(run.config["gamma"] for run in runs) == [0.5, 0.99]
    assert all(run.state == "finished" for run in runs)
    assert main(["--home", home, "sweep-discount", "--gammas", "1.5"]) == 2
