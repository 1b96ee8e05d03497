"""Sample-based learners whose sample complexity the effective horizon predicts: GORP and
SQIRL (Laidlaw, Russell and Dragan), run on a :class:`HorizonMDP` as a simulator.

Both explore with the uniformly random policy only; the number of environment steps
they need before they act optimally is what the effective horizon bounds. Episodes are
simulated in parallel (all episodes of an iteration advance one step per array operation).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Protocol

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from workbench.horizon.analysis import REWARD_PRECISION, value_functions
from workbench.horizon.mdp import HorizonMDP


def sample_successors(mdp: HorizonMDP, states: np.ndarray, actions: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """One sampled next state per (state, action) pair (-1 where the episode ends)."""
    if mdp.deterministic:
        return mdp.successors[states, actions, 0]
    cumulative = mdp.probabilities[states, actions].cumsum(-1)
    slot = (rng.random(len(states))[:, None] >= cumulative).sum(-1)
    slot = np.minimum(slot, cumulative.shape[-1] - 1)
    return mdp.successors[states, actions, slot]


def start_states(mdp: HorizonMDP, count: int, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(mdp.num_states, size=count, p=mdp.start)


def open_loop_return(mdp: HorizonMDP, actions: np.ndarray) -> float:
    """Exact expected return of playing ``actions[t]`` at step t whatever happens."""
    values = np.zeros(mdp.num_states)
    for t in reversed(range(mdp.horizon)):
        q = mdp.rewards + mdp.expected_next(values)
        values = q[:, actions[t]]
    return float(mdp.start @ values)


def policy_return(mdp: HorizonMDP, policy: np.ndarray) -> float:
    """Exact expected return of a deterministic time-indexed policy (T, S) of actions."""
    values = np.zeros(mdp.num_states)
    for t in reversed(range(mdp.horizon)):
        q = mdp.rewards + mdp.expected_next(values)
        values = np.take_along_axis(q, policy[t][:, None], -1)[:, 0]
    return float(mdp.start @ values)


@dataclass
class LearnerResult:
    """One run of a learner.

    Attributes:
        final_return: the exact expected return of the policy it ends with.
        samples: environment steps it took.
        optimal: whether that return is optimal (within the analyses' precision).
    """

    final_return: float
    samples: int
    optimal: bool


def gorp(mdp: HorizonMDP, k: int = 1, episodes: int = 1, seed: int = 0) -> LearnerResult:
    """Greedy Over Random Policy, the authors' "mean" variant.

    Fix actions one time step at a time: at step i, for every action sequence of length
    k, run ``episodes`` episodes that replay the actions fixed so far, then the sequence,
    then act at random; take the first action of the sequence with the best mean return.
    """
    rng = np.random.default_rng(seed)
    actions_count = mdp.num_actions
    sequences = np.array(list(itertools.product(range(actions_count), repeat=k)))
    fixed = np.zeros(mdp.horizon, dtype=np.int64)
    samples = 0
    for step in range(mdp.horizon):
        count = len(sequences) * episodes
        sequence_of = np.repeat(np.arange(len(sequences)), episodes)
        states = start_states(mdp, count, rng)
        alive = np.ones(count, dtype=bool)
        returns = np.zeros(count)
        for t in range(mdp.horizon):
            if not alive.any():
                break
            if t < step:
                actions = np.full(count, fixed[t])
            elif t < step + k:
                actions = sequences[sequence_of, t - step]
            else:
                actions = rng.integers(actions_count, size=count)
            returns += np.where(alive, mdp.rewards[states, actions], 0.0)
            samples += int(alive.sum())
            following = sample_successors(mdp, states, actions, rng)
            alive &= following >= 0
            states = np.where(alive, following, 0)
        means = returns.reshape(len(sequences), episodes).mean(1)
        fixed[step] = sequences[int(means.argmax()), 0]
    final = open_loop_return(mdp, fixed)
    best = value_functions(mdp).start_values(mdp)["optimal"]
    return LearnerResult(final, samples, final >= best - REWARD_PRECISION)


class Regressor(Protocol):
    """What SQIRL fits at each step of fitted-Q iteration: Q(t, s, ·) from samples."""

    def fit(self, steps: np.ndarray, states: np.ndarray, actions: np.ndarray,
            targets: np.ndarray) -> None: ...  # fmt: skip

    def predict(self, steps: np.ndarray, states: np.ndarray) -> np.ndarray:
        """Q values of every action, shape (len(states), A)."""
        ...


class TableRegressor:
    """The exact-table regressor: the mean target of each (t, s, a) seen; 0 elsewhere."""

    def __init__(self, mdp: HorizonMDP) -> None:
        self.shape = (mdp.horizon, mdp.num_states, mdp.num_actions)
        self.table = np.zeros(self.shape)

    def fit(self, steps, states, actions, targets) -> None:
        index = np.ravel_multi_index((steps, states, actions), self.shape)
        sums = np.bincount(index, targets, minlength=self.table.size)
        counts = np.bincount(index, minlength=self.table.size)
        self.table = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        self.table = self.table.reshape(self.shape)

    def predict(self, steps, states) -> np.ndarray:
        return self.table[steps, states]


class TorchRegressor:
    """A small torch MLP on (one-hot state, t / T): SQIRL with a function approximator.

    Args:
        hidden: units per hidden layer; epochs: passes over the data per fit;
        learning_rate: Adam's step size; seed: initialisation.
    """

    def __init__(self, mdp: HorizonMDP, hidden: int = 64, epochs: int = 200,
                 learning_rate: float = 1e-2, seed: int = 0) -> None:  # fmt: skip
        import torch

        self.torch, self.mdp, self.epochs = torch, mdp, epochs
        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(mdp.num_states + 1, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, mdp.num_actions),
        )  # fmt: skip
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=learning_rate)

    def _features(self, steps: np.ndarray, states: np.ndarray):
        torch = self.torch
        features = torch.zeros(len(states), self.mdp.num_states + 1)
        features[torch.arange(len(states)), torch.as_tensor(states)] = 1.0
        features[:, -1] = torch.as_tensor(steps / self.mdp.horizon, dtype=torch.float32)
        return features

    def fit(self, steps, states, actions, targets) -> None:
        torch = self.torch
        features = self._features(steps, states)
        chosen = torch.as_tensor(actions)
        goal = torch.as_tensor(targets, dtype=torch.float32)
        for _ in range(self.epochs):
            predicted = self.net(features).gather(1, chosen[:, None])[:, 0]
            loss = torch.nn.functional.mse_loss(predicted, goal)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()

    def predict(self, steps, states) -> np.ndarray:
        with self.torch.no_grad():
            return self.net(self._features(steps, states)).numpy().astype(np.float64)


def random_episodes(mdp: HorizonMDP, episodes: int, rng: np.random.Generator) -> dict:
    """Transitions of ``episodes`` random-policy episodes, with each step's return-to-go."""
    states = start_states(mdp, episodes, rng)
    alive = np.ones(episodes, dtype=bool)
    keys = ("episode", "t", "s", "a", "r", "next")
    columns: dict[str, list[np.ndarray]] = {key: [] for key in keys}
    for t in range(mdp.horizon):
        index = np.flatnonzero(alive)
        if len(index) == 0:
            break
        actions = rng.integers(mdp.num_actions, size=len(index))
        following = sample_successors(mdp, states[index], actions, rng)
        step = (index, np.full(len(index), t), states[index], actions,
                mdp.rewards[states[index], actions], following)  # fmt: skip
        for key, value in zip(keys, step, strict=True):
            columns[key].append(value)
        alive[index] = following >= 0
        states[index] = np.maximum(following, 0)
    return {key: np.concatenate(value) for key, value in columns.items()}


def fitted_q_targets(mdp: HorizonMDP, data: dict, next_values: np.ndarray) -> np.ndarray:
    """Fitted-Q targets r + max_a' Q(t + 1, s', a'), with nothing after the episode."""
    ends = (data["next"] < 0) | (data["t"] + 1 >= mdp.horizon)
    return data["r"] + np.where(ends, 0.0, next_values)


def sqirl(mdp: HorizonMDP, k: int = 1, episodes: int = 64, regressor: str = "table",
          seed: int = 0) -> LearnerResult:  # fmt: skip
    """Shallow Q-iteration via reinforcement learning, as summarised in HORIZON.md: collect
    ``episodes`` random-policy episodes, regress Q random on Monte Carlo returns, run k - 1
    steps of fitted-Q iteration on the same data, and act greedily on the result."""
    rng = np.random.default_rng(seed)
    data = random_episodes(mdp, episodes, rng)
    make = {"table": TableRegressor, "torch": TorchRegressor}
    if regressor not in make:
        raise ValueError(f"regressor must be one of {sorted(make)}, got {regressor!r}")
    # Q random: regress the Monte Carlo return-to-go of each step.
    targets = monte_carlo_returns(mdp, data)
    for iteration in range(k):
        model = make[regressor](mdp)
        model.fit(data["t"], data["s"], data["a"], targets)
        if iteration == k - 1:
            break
        nxt = np.maximum(data["next"], 0)
        next_steps = np.minimum(data["t"] + 1, mdp.horizon - 1)
        targets = fitted_q_targets(mdp, data, model.predict(next_steps, nxt).max(-1))
    steps = np.repeat(np.arange(mdp.horizon), mdp.num_states)
    states = np.tile(np.arange(mdp.num_states), mdp.horizon)
    policy = model.predict(steps, states).argmax(-1).reshape(mdp.horizon, mdp.num_states)
    final = policy_return(mdp, policy)
    best = value_functions(mdp).start_values(mdp)["optimal"]
    return LearnerResult(final, len(data["t"]), final >= best - REWARD_PRECISION)


def monte_carlo_returns(mdp: HorizonMDP, data: dict) -> np.ndarray:
    """The return-to-go of every stored step, summed backwards through each episode."""
    returns = np.zeros(len(data["t"]))
    following = np.zeros(int(data["episode"].max()) + 1)
    for t in reversed(range(mdp.horizon)):
        rows = np.flatnonzero(data["t"] == t)
        episodes = data["episode"][rows]
        returns[rows] = data["r"][rows] + following[episodes]
        following[episodes] = returns[rows]
    return returns


def sample_complexity(learner, mdp: HorizonMDP, runs: int = 5, max_samples: float = 1e6,
                      seed: int = 0, **options) -> float:  # fmt: skip
    """Median environment steps a learner needs to act optimally: the smallest number of
    episodes (per iteration for GORP, in all for SQIRL), found by doubling then bisection,
    at which most of ``runs`` seeded runs end optimal. ``inf`` past ``max_samples``."""

    def attempt(episodes: int) -> float:
        results = [
            learner(mdp, episodes=episodes, seed=seed + run, **options) for run in range(runs)
        ]
        samples = sorted(r.samples if r.optimal else math.inf for r in results)
        return samples[runs // 2]

    low, high = 0, 1
    while (measured := attempt(high)) == math.inf:
        low, high = high, high * 2
        if learner is gorp and high * mdp.horizon**2 > max_samples:
            return math.inf
        if learner is not gorp and high * mdp.horizon > max_samples:
            return math.inf
    while high - low > 1:
        middle = (low + high) // 2
        middle_measured = attempt(middle)
        if middle_measured == math.inf:
            low = middle
        else:
            high, measured = middle, middle_measured
    return measured


class HorizonEnv(gym.Env[int, int]):
    """A gymnasium environment over a :class:`HorizonMDP` (observation: the state index;
    an episode ends at a terminal transition, or is truncated after T steps), so deep RL
    learners run on exactly the MDP the analyses read."""

    def __init__(self, mdp: HorizonMDP) -> None:
        self.mdp = mdp
        self.observation_space = spaces.Discrete(mdp.num_states)
        self.action_space = spaces.Discrete(mdp.num_actions)
        self.state, self.elapsed = 0, 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[int, dict]:
        super().reset(seed=seed)
        self.state = int(self.np_random.choice(self.mdp.num_states, p=self.mdp.start))
        self.elapsed = 0
        return self.state, {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict]:
        action = int(action)
        reward = float(self.mdp.rewards[self.state, action])
        following = int(
            sample_successors(self.mdp, np.array([self.state]), np.array([action]), self.np_random)[
                0
            ]
        )
        self.elapsed += 1
        self.state = max(following, 0)
        return self.state, reward, following < 0, self.elapsed >= self.mdp.horizon, {}


def ppo_sample_complexity(mdp: HorizonMDP, max_steps: int = 200_000, eval_every: int = 2_048,
                          seed: int = 0, **ppo_options) -> float:  # fmt: skip
    """Environment steps until stable-baselines3's PPO acts optimally: every ``eval_every``
    steps its most likely action in each state forms a policy whose exact return is
    compared with the optimum. ``inf`` if that never happens within ``max_steps``."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    best = value_functions(mdp).start_values(mdp)["optimal"]
    every_state = np.arange(mdp.num_states)

    class OptimalityCheck(BaseCallback):
        solved_at: float = math.inf

        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every:
                return True
            actions, _ = self.model.predict(every_state, deterministic=True)
            policy = np.broadcast_to(actions, (mdp.horizon, mdp.num_states))
            if policy_return(mdp, np.ascontiguousarray(policy)) >= best - REWARD_PRECISION:
                self.solved_at = self.num_timesteps
                return False
            return True

    check = OptimalityCheck()
    options = {"n_steps": 256, "batch_size": 64, "verbose": 0, "seed": seed} | ppo_options
    env = HorizonEnv(mdp)
    env.reset(seed=seed)
    PPO("MlpPolicy", env, device="cpu", **options).learn(max_steps, callback=check)
    return check.solved_at


def measured_sample_complexities(
    mdp: HorizonMDP, k: int = 1, runs: int = 5, ppo_steps: int = 100_000, seed: int = 0
) -> dict[str, float]:
    """Environment steps GORP, SQIRL (table regressor) and PPO each needed to act
    optimally, to set beside the effective horizon's prediction."""
    return {
        "GORP": sample_complexity(gorp, mdp, runs=runs, seed=seed, k=k),
        "SQIRL": sample_complexity(sqirl, mdp, runs=runs, seed=seed, k=k),
        "PPO": ppo_sample_complexity(mdp, max_steps=ppo_steps, seed=seed),
    }
