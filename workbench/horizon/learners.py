"""Sample-based learners whose sample complexity the effective horizon predicts: GORP and
SQIRL (Laidlaw, Russell and Dragan), and PPO for comparison, run on a :class:`HorizonMDP`
as a simulator.

GORP and SQIRL explore with the uniformly random policy only; the number of environment
steps they need before they act optimally is what the effective horizon bounds. Episodes
are simulated in parallel (all episodes of an iteration advance one step per array
operation). Every sampled step yields the reward of the transition that happened
(:meth:`HorizonMDP.sample`): with sticky actions the reward of the action executed, not
the expectation over what might have been, as in the real environment.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from workbench.horizon.analysis import REWARD_PRECISION, value_functions
from workbench.horizon.mdp import HorizonMDP
from workbench.horizon.memory import check_mdp_memory
from workbench.horizon.progress import NamedProgress, Progress

RUNS = 25
"""Seeded runs per sample-complexity estimate: the authors' ``run_gorp.jl`` default."""

MAX_SAMPLES = 5_000_000
"""N, the most environment steps one run may take: ``run_gorp.jl``'s default
``--max_sample_complexity``; the search caps episodes per action sequence at
N / (T^2 A^k)."""


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


def optimal_return(mdp: HorizonMDP) -> float:
    return value_functions(mdp).start_values(mdp)["optimal"]


@dataclass
class LearnerResult:
    """One run of a learner.

    Attributes:
        final_return: the exact expected return of the policy it ends with.
        samples: environment steps it took (for SQIRL: until its policy was optimal, if
            it ever was).
        optimal: whether that return is optimal (within the analyses' precision).
        mean_returns: per iteration, the mean return of the episodes it sampled (GORP's
            ``mean_rewards`` in the authors' code).
        frozen_q: SQIRL only: Q_i (S, A) as frozen at the end of step i, in order.
    """

    final_return: float
    samples: int
    optimal: bool
    mean_returns: list[float] = field(default_factory=list)
    frozen_q: list[np.ndarray] = field(default_factory=list, repr=False)


def gorp(mdp: HorizonMDP, k: int = 1, episodes: int = 1, seed: int = 0) -> LearnerResult:
    """Greedy Over Random Policy, the authors' "mean" variant (``run_gorp.jl``).

    Fix actions one time step at a time: at step i, for every action sequence of length
    k, run ``episodes`` episodes that replay the actions fixed so far, then the sequence,
    then act at random; take the first action of the sequence with the best mean return.
    Each episode sums the rewards of the steps that happened (:meth:`HorizonMDP.sample`).
    """
    rng = np.random.default_rng(seed)
    actions_count = mdp.num_actions
    sequences = np.array(list(itertools.product(range(actions_count), repeat=k)))
    fixed = np.zeros(mdp.horizon, dtype=np.int64)
    samples, mean_returns = 0, []
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
            following, rewards = mdp.sample(states, actions, rng)
            returns += np.where(alive, rewards, 0.0)
            samples += int(alive.sum())
            alive &= following >= 0
            states = np.where(alive, following, 0)
        means = returns.reshape(len(sequences), episodes).mean(1)
        fixed[step] = sequences[int(means.argmax()), 0]
        mean_returns.append(float(returns.mean()))
    final = open_loop_return(mdp, fixed)
    optimal = final >= optimal_return(mdp) - REWARD_PRECISION
    return LearnerResult(final, samples, optimal, mean_returns)


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
        sums = np.bincount(index, targets, minlength=self.table.size).astype(float)
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
        generator = torch.Generator().manual_seed(seed)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(mdp.num_states + 1, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, mdp.num_actions),
        )  # fmt: skip
        with torch.no_grad():  # seeded without touching torch's global generator
            for parameter in self.net.parameters():
                bound = 1.0 / math.sqrt(parameter.shape[-1])
                parameter.uniform_(-bound, bound, generator=generator)
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


REGRESSORS: dict[str, Callable[[HorizonMDP], Regressor]] = {
    "table": TableRegressor,
    "torch": TorchRegressor,
}


def rollouts(mdp: HorizonMDP, episodes: int, step: int, frozen: list[np.ndarray],
             rng: np.random.Generator) -> tuple[dict[str, np.ndarray], int]:  # fmt: skip
    """SQIRL's data for step ``step``: ``episodes`` episodes that act greedily on the
    frozen Q_t (S, A) at each t < ``step`` and uniformly at random from ``step`` on. Only
    the transitions at t >= ``step`` are kept, each with its return-to-go (discounted by
    ``mdp.discount``), the Monte Carlo target of the random continuation. Also returns
    the environment steps taken, stored or not."""
    states = start_states(mdp, episodes, rng)
    alive = np.ones(episodes, dtype=bool)
    keys = ("episode", "t", "s", "a", "r", "next")
    columns: dict[str, list[np.ndarray]] = {
        key: [np.empty(0, float if key == "r" else int)] for key in keys
    }
    taken = 0
    for t in range(mdp.horizon):
        index = np.flatnonzero(alive)
        if len(index) == 0:
            break
        taken += len(index)
        here = states[index]
        if t < step:
            actions = frozen[t][here].argmax(-1)
        else:
            actions = rng.integers(mdp.num_actions, size=len(index))
        following, rewards = mdp.sample(here, actions, rng)
        if t >= step:
            row = (index, np.full(len(index), t), here, actions, rewards, following)
            for key, value in zip(keys, row, strict=True):
                columns[key].append(value)
        alive[index] = following >= 0
        states[index] = np.maximum(following, 0)
    data = {key: np.concatenate(value) for key, value in columns.items()}
    data["return"] = returns_to_go(mdp, data, episodes)
    return data, taken


def returns_to_go(mdp: HorizonMDP, data: dict[str, np.ndarray], episodes: int) -> np.ndarray:
    """The discounted return-to-go of every stored step, summed backwards through each
    episode (as the authors' ``_store_episode``)."""
    returns = np.zeros(len(data["t"]))
    following = np.zeros(episodes)
    for t in reversed(range(mdp.horizon)):
        rows = np.flatnonzero(data["t"] == t)
        episode = data["episode"][rows]
        returns[rows] = data["r"][rows] + mdp.discount * following[episode]
        following[episode] = returns[rows]
    return returns


def fitted_q(mdp: HorizonMDP, data: dict[str, np.ndarray], k: int,
             make: Callable[[HorizonMDP], Regressor]) -> Regressor:  # fmt: skip
    """k-step fitted-Q iteration: head 1 regresses the return-to-go, head j regresses
    r + gamma * max_a head_{j-1}(s', a) (nothing after the end of an episode or the
    horizon), as the authors' SQIRL trains its heads; returns head k."""
    model = make(mdp)
    model.fit(data["t"], data["s"], data["a"], data["return"])
    ends = (data["next"] < 0) | (data["t"] + 1 >= mdp.horizon)
    next_steps = np.minimum(data["t"] + 1, mdp.horizon - 1)
    next_states = np.maximum(data["next"], 0)
    for _ in range(k - 1):
        following = model.predict(next_steps, next_states).max(-1)
        targets = data["r"] + mdp.discount * np.where(ends, 0.0, following)
        model = make(mdp)
        model.fit(data["t"], data["s"], data["a"], targets)
    return model


def sqirl(mdp: HorizonMDP, k: int = 1, episodes: int = 1,
          regressor: str | Callable[[HorizonMDP], Regressor] = "table", seed: int = 0,
          stop_when_optimal: bool = True) -> LearnerResult:  # fmt: skip
    """Shallow Q-Iteration via Reinforcement Learning, one time step at a time, as the
    authors' stable-baselines3 implementation (``effective_horizon/sb3/algorithms/
    sqirl.py``) runs it.

    For step i = 0, 1, ..., T - 1: collect ``episodes`` episodes (the authors'
    ``episodes_per_timestep``) that act greedily on the frozen Q_0..Q_{i-1} at steps
    t < i and at random from step i on; keep the transitions at t >= i with their
    return-to-go; fit k-step fitted-Q iteration (:func:`fitted_q`) with ``regressor``
    ("table", "torch" or a factory); freeze Q_i, the last head at step i. The greedy
    policy acts with Q_t at each step t < i + 1 and with the latest fit beyond, as the
    authors' deterministic evaluation does.

    Sample complexity, as the authors measure it: environment steps until that greedy
    policy is optimal. They evaluate every 10,000 steps; here the policy's exact return
    is checked after every step's fit, and with ``stop_when_optimal`` the run stops there
    (``samples`` is then the steps taken so far).

    Where the authors' code and their paper differ, this follows the paper: Q_i is fitted
    on step i's episodes only, by a fresh regressor per head and step. Their SB3 code
    keeps every step's transitions in one replay buffer (older ones weighted by
    ``replay_priority_factor``, 1 by default) and trains one network with k output heads
    on, across steps.
    """
    make = REGRESSORS.get(regressor) if isinstance(regressor, str) else regressor
    if make is None:
        raise ValueError(f"regressor must be one of {sorted(REGRESSORS)}, got {regressor!r}")
    if k < 1 or episodes < 1:
        raise ValueError(f"k and episodes must be at least 1, got k={k}, episodes={episodes}")
    rng = np.random.default_rng(seed)
    best = optimal_return(mdp)
    every = np.arange(mdp.num_states)
    frozen: list[np.ndarray] = []
    samples, final, mean_returns = 0, -math.inf, []
    for step in range(mdp.horizon):
        data, taken = rollouts(mdp, episodes, step, frozen, rng)
        samples += taken  # the roll-in's steps count too, though they are not stored
        at_step = data["t"] == step
        mean_returns.append(float(data["return"][at_step].mean()) if at_step.any() else 0.0)
        model = fitted_q(mdp, data, k, make)
        frozen.append(model.predict(np.full(mdp.num_states, step), every))
        policy = np.stack(
            [q.argmax(-1) for q in frozen]
            + [model.predict(np.full(mdp.num_states, t), every).argmax(-1)
               for t in range(step + 1, mdp.horizon)]
        )  # fmt: skip
        final = policy_return(mdp, policy)
        if stop_when_optimal and final >= best - REWARD_PRECISION:
            break
    optimal = final >= best - REWARD_PRECISION
    return LearnerResult(final, samples, optimal, mean_returns, frozen)


def search_cap(learner: Callable[..., LearnerResult], mdp: HorizonMDP, max_samples: float,
               k: int = 1) -> int:  # fmt: skip
    """The most episodes per action sequence (GORP) or per time step (SQIRL) the search
    tries: floor(N / (T^2 A^k)) for GORP, as ``run_gorp.jl``; floor(N / T^2) for SQIRL,
    whose T steps of ``episodes`` episodes of at most T steps take at most that."""
    per_episode = mdp.horizon**2 * (mdp.num_actions**k if learner is gorp else 1)
    return int(max_samples // per_episode)


def bisection_steps(width: int) -> int:
    """The most halvings :func:`sample_complexity`'s search takes to narrow ``high -
    low = width`` down to 1: ceil(log2(width))."""
    return (width - 1).bit_length() if width > 1 else 0


def sample_complexity(learner: Callable[..., LearnerResult], mdp: HorizonMDP,
                      runs: int = RUNS, max_samples: float = MAX_SAMPLES, seed: int = 0,
                      progress: Progress | None = None, **options) -> float:  # fmt: skip
    """Median environment steps a learner needs to act optimally, searched as the
    authors' ``run_gorp.jl`` searches: ``runs`` seeded runs per number of episodes n (per
    action sequence for GORP, per time step for SQIRL), the median of their steps (a run
    that ends suboptimal counts as infinite); first at the cap n =
    :func:`search_cap` (``inf`` if even that fails), then bisection between 1 and the cap
    for the least n whose median is finite. As in their code, n = 1 is the bisection's
    lower end and is never itself reported (the least reported n is 2, or the cap).

    ``progress`` is called with (learner runs done, the most runs the search can take)
    at the start and after every run; that most shrinks as the bisection narrows or
    ends early, and the last call has both equal."""
    cap = search_cap(learner, mdp, max_samples, options.get("k", 1))
    if cap < 1:
        if progress is not None:
            progress(0, 0)
        return math.inf
    done, most = 0, runs * (1 + bisection_steps(cap - 1))

    def median_steps(episodes: int, evaluations_after: int) -> float:
        """``evaluations_after``: the most medians the search may still need after this."""
        nonlocal done, most
        results = []
        for run in range(runs):
            results.append(learner(mdp, episodes=episodes, seed=seed + run, **options))
            done += 1
            most = done + (runs - run - 1) + runs * evaluations_after
            if progress is not None:
                progress(done, most)
        return float(np.median([r.samples if r.optimal else math.inf for r in results]))

    if progress is not None:
        progress(done, most)
    low, high = 1, cap
    measured = median_steps(high, bisection_steps(high - low))
    while high - low > 1 and measured < math.inf:
        middle = (low + high) // 2
        # Whichever half is kept, at most this many halvings follow.
        after = bisection_steps(max(middle - low, high - middle))
        middle_measured = median_steps(middle, after)
        if middle_measured == math.inf:
            low = middle
        else:
            high, measured = middle, middle_measured
    if progress is not None and most != done:
        progress(done, done)  # the search ended before its most: say it is complete
    return measured


class HorizonEnv(gym.Env[int, int]):
    """A gymnasium environment over a :class:`HorizonMDP` (observation: the state index;
    an episode ends at a terminal transition, or is truncated after T steps), so deep RL
    learners run on exactly the MDP the analyses read. Each step yields the reward of the
    transition sampled, as a real environment does."""

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
        following, reward = self.mdp.sample(
            np.array([self.state]), np.array([int(action)]), self.np_random
        )
        self.elapsed += 1
        self.state = max(int(following[0]), 0)
        terminated = bool(following[0] < 0)
        return self.state, float(reward[0]), terminated, self.elapsed >= self.mdp.horizon, {}


def ppo_sample_complexity(mdp: HorizonMDP, max_steps: int = 200_000, eval_every: int = 2_048,
                          seed: int = 0, progress: Progress | None = None,
                          **ppo_options) -> float:  # fmt: skip
    """Environment steps until stable-baselines3's PPO acts optimally (one seeded run):
    every ``eval_every`` steps its most likely action in each state forms a policy whose
    exact return is compared with the optimum. ``inf`` if that never happens within
    ``max_steps``. ``progress`` is called with (steps taken, ``max_steps``) at the start
    and at every check, and with (steps taken, steps taken) at the end."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    best = optimal_return(mdp)
    every_state = np.arange(mdp.num_states)

    class OptimalityCheck(BaseCallback):
        solved_at: float = math.inf

        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every:
                return True
            if progress is not None:
                progress(self.num_timesteps, max(max_steps, self.num_timesteps))
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
    if progress is not None:
        progress(0, max_steps)
    model = PPO("MlpPolicy", env, device="cpu", **options).learn(max_steps, callback=check)
    if progress is not None:
        progress(model.num_timesteps, model.num_timesteps)
    return check.solved_at


MEASURED_LEARNERS = ("GORP", "SQIRL", "PPO")
"""What :func:`measured_sample_complexities` measures, in its order."""


def measured_sample_complexities(
    mdp: HorizonMDP, k: int = 1, runs: int = RUNS, max_samples: float = MAX_SAMPLES,
    ppo_steps: int = 100_000, seed: int = 0, progress: NamedProgress | None = None,
) -> dict[str, float]:  # fmt: skip
    """Environment steps GORP and SQIRL (table regressor), each the median of ``runs``
    runs searched up to ``max_samples`` steps (:func:`sample_complexity`), and PPO (one
    run of at most ``ppo_steps``) needed to act optimally, to set beside the effective
    horizon's prediction. ``progress`` is called with (learner, done, total), learner one
    of :data:`MEASURED_LEARNERS`, as :func:`sample_complexity` (GORP and SQIRL: runs)
    and :func:`ppo_sample_complexity` (PPO: steps) report it. Refused before any run
    where they would not fit in memory (:class:`~workbench.horizon.memory.NotEnoughMemory`:
    PPO's policy sees all S states one-hot, S x S numbers)."""

    check_mdp_memory(mdp, ("learners",), max_samples=max_samples)

    def reporter(name: str) -> Progress | None:
        if progress is None:
            return None
        return lambda done, total: progress(name, done, total)

    options = {"runs": runs, "max_samples": max_samples, "seed": seed, "k": k}
    return {
        "GORP": sample_complexity(gorp, mdp, progress=reporter("GORP"), **options),
        "SQIRL": sample_complexity(sqirl, mdp, progress=reporter("SQIRL"), **options),
        "PPO": ppo_sample_complexity(mdp, max_steps=ppo_steps, seed=seed, progress=reporter("PPO")),
    }
