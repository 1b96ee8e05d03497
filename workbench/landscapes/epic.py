"""EPIC: how far apart two reward functions are, ignoring potential shaping and scale.

EPIC (Gleave, Dennis, Legg, Russell, Leike, ICLR 2021, "Quantifying Differences in Reward
Functions") compares rewards directly, without training a policy on either. Two rewards
that differ by potential shaping, ``R'(s, a, s') = R(s, a, s') + gamma Phi(s') - Phi(s)``,
or by a positive scale have the same optimal policies in every MDP with these states and
actions; EPIC gives them distance 0. It takes two steps:

1. canonicalize each reward against a distribution D_S of states and D_A of actions,
   which removes any potential shaping:

       C(R)(s, a, s') = R(s, a, s') + E[gamma R(s', A, S') - R(s, A, S') - gamma R(S, A, S')]

   with S, S' ~ D_S and A ~ D_A independent;
2. take the Pearson distance ``sqrt((1 - rho) / 2)`` between C(R1) and C(R2) over
   transitions (s, a, s') from a coverage distribution: 0 for equivalent rewards, 1 for
   opposite ones, and unchanged by positive rescaling.

The expectations are estimated as in the authors' ``evaluating_rewards`` ("sample_canon"):
one set of m pairs (A_j, S'_j) serves every state, so ``E R(x, A, S')`` is the mean of
R over the m rows ``(x, A_j, S'_j)``, and ``E R(S, A, S')`` averages that mean over the
pair states S'_j themselves. Because the same pairs serve s, s' and S, potential shaping
cancels exactly (up to the rounding of the reward's own values), not only in
expectation. Every reward call is batched: the
states, each repeated m times, against the pairs tiled, in arrays of shape (n * m, ...).

A reward function is any callable ``reward_fn(obs, actions, next_obs) -> (N,)`` batched
over the first axis.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from environments.point import PointTask

RewardFn = Callable[[np.ndarray, np.ndarray, np.ndarray], Any]
Transitions = tuple[np.ndarray, np.ndarray, np.ndarray]

# Canonical rewards whose spread is below this fraction of the reward's own size are
# rounding noise (float32 observations resolve about 1e-7 of a value): the reward was
# constant, or potential shaping alone, on these samples.
_CONSTANT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class EpicResult:
    """The EPIC distance between two rewards, and how much it depends on the transitions.

    Attributes:
        distance: ``sqrt((1 - pearson) / 2)``, in [0, 1].
        pearson: correlation of the two canonical rewards over the transitions.
        n_transitions: number of (s, a, s') transitions the correlation runs over.
        n_samples: number of (A, S') pairs behind each canonicalization expectation.
        standard_error: standard deviation of the distance over bootstrap resamples of the
            transitions (0 when ``n_bootstrap`` is 0).
        interval: the 2.5 and 97.5 percentiles of those resamples: a 95% interval for the
            variation due to which transitions were drawn. It does not include the noise of
            the m-sample expectations, which is shared by every resample; rerun with other
            state and action samples to see that.
        n_bootstrap: number of bootstrap resamples.
    """

    distance: float
    pearson: float
    n_transitions: int
    n_samples: int
    standard_error: float
    interval: tuple[float, float]
    n_bootstrap: int


@dataclass(frozen=True)
class TransitionSamples:
    """Samples from an environment for EPIC: a coverage distribution and D_S, D_A.

    Attributes:
        obs, actions, next_obs: the transitions (s, a, s'), each with first axis n.
        state_samples: states drawn from the visited states (D_S).
        action_samples: actions drawn from the action space, independently (D_A).
    """

    obs: np.ndarray
    actions: np.ndarray
    next_obs: np.ndarray
    state_samples: np.ndarray
    action_samples: np.ndarray

    @property
    def transitions(self) -> Transitions:
        """``(obs, actions, next_obs)``, as :func:`epic_distance` takes them."""
        return self.obs, self.actions, self.next_obs


def _check_transitions(transitions: Transitions) -> Transitions:
    """The three arrays of ``transitions``, checked for matching lengths and shapes."""
    if not isinstance(transitions, tuple | list) or len(transitions) != 3:
        raise ValueError("transitions must be a tuple (obs, actions, next_obs)")
    obs, actions, next_obs = (np.asarray(part) for part in transitions)
    if obs.ndim < 2:
        raise ValueError(f"transitions obs must have shape (N, obs_dim...), got {obs.shape}")
    if next_obs.shape != obs.shape:
        raise ValueError(
            f"transitions next_obs has shape {next_obs.shape}, obs has shape {obs.shape}"
        )
    if actions.ndim < 1 or len(actions) != len(obs):
        raise ValueError(
            f"transitions actions has shape {actions.shape}: expected {len(obs)} actions "
            f"for {len(obs)} observations"
        )
    if len(obs) < 2:
        raise ValueError(f"transitions must hold at least 2 transitions, got {len(obs)}")
    return obs, actions, next_obs


def _rows_of(array: np.ndarray) -> str:
    """The shape of m rows like those of ``array``, as text: ``(m, 2)`` or ``(m,)``."""
    return (
        "(m"
        + "".join(f", {size}" for size in array.shape[1:])
        + ("," if array.ndim == 1 else "")
        + ")"
    )


def _check_samples(
    state_samples: np.ndarray, action_samples: np.ndarray, obs: np.ndarray, actions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """D_S and D_A samples, checked against the transitions' shapes and each other."""
    states, acts = np.asarray(state_samples), np.asarray(action_samples)
    if states.ndim != obs.ndim or states.shape[1:] != obs.shape[1:]:
        raise ValueError(
            f"state_samples has shape {states.shape}; expected {_rows_of(obs)} like the "
            "transitions' obs"
        )
    if acts.ndim != actions.ndim or acts.shape[1:] != actions.shape[1:]:
        raise ValueError(
            f"action_samples has shape {acts.shape}; expected {_rows_of(actions)} like the "
            "transitions' actions"
        )
    if len(states) != len(acts):
        raise ValueError(
            f"state_samples ({len(states)}) and action_samples ({len(acts)}) must have the "
            "same length: row j of each forms the pair (A_j, S'_j)"
        )
    if len(states) < 1:
        raise ValueError("state_samples and action_samples must not be empty")
    return states, acts


def _check_gamma(gamma: float) -> float:
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
    return float(gamma)


def _evaluate(reward_fn: RewardFn, name: str, obs, actions, next_obs) -> np.ndarray:
    """``reward_fn`` on a batch, as float64 (N,); a wrong shape or non-finite value raises."""
    rewards = np.asarray(reward_fn(obs, actions, next_obs), dtype=np.float64)
    if rewards.shape == (len(obs), 1):  # a column of rewards is a common, harmless form
        rewards = rewards[:, 0]
    if rewards.shape != (len(obs),):
        raise ValueError(f"{name} returned shape {rewards.shape}; expected ({len(obs)},)")
    if not np.isfinite(rewards).all():
        raise ValueError(f"{name} returned non-finite rewards (NaN or inf)")
    return rewards


def _mean_rewards(
    reward_fn: RewardFn,
    name: str,
    states: np.ndarray,
    pair_actions: np.ndarray,
    pair_next_states: np.ndarray,
    batch_size: int,
) -> np.ndarray:
    """``E_j R(x, A_j, S'_j)`` for every state x of ``states``: (len(states),).

    Each chunk evaluates its states repeated m times against the m pairs tiled, in one
    call of at most about ``batch_size`` rows.
    """
    m = len(pair_actions)
    per_chunk = max(1, batch_size // m)
    reps = min(per_chunk, len(states))
    # Tiled once: every chunk but the last uses all of it.
    actions_tiled = np.tile(pair_actions, (reps,) + (1,) * (pair_actions.ndim - 1))
    next_tiled = np.tile(pair_next_states, (reps,) + (1,) * (pair_next_states.ndim - 1))
    means = np.empty(len(states))
    for start in range(0, len(states), per_chunk):
        chunk = states[start : start + per_chunk]
        rows = len(chunk) * m
        rewards = _evaluate(
            reward_fn,
            name,
            np.repeat(chunk, m, axis=0),
            actions_tiled[:rows],
            next_tiled[:rows],
        )
        means[start : start + len(chunk)] = rewards.reshape(len(chunk), m).mean(axis=1)
    return means


def _canonicalize(
    reward_fn: RewardFn,
    name: str,
    transitions: Transitions,
    states: np.ndarray,
    actions: np.ndarray,
    gamma: float,
    batch_size: int,
) -> tuple[np.ndarray, float]:
    """Canonical rewards of the transitions and the size of the raw rewards (for the
    constant check)."""
    obs, acts, next_obs = transitions
    raw = _evaluate(reward_fn, name, obs, acts, next_obs)
    # The mean over the pairs is needed at s, at s' and at the pair states themselves (for
    # E R(S, A, S')); consecutive transitions share states, so each is evaluated once.
    every_state = np.concatenate([obs, next_obs, states])
    unique, inverse = np.unique(every_state, axis=0, return_inverse=True)
    means = _mean_rewards(reward_fn, name, unique, actions, states, batch_size)[inverse.ravel()]
    n = len(obs)
    mean_at_obs, mean_at_next, mean_at_samples = means[:n], means[n : 2 * n], means[2 * n :]
    canonical = raw + gamma * mean_at_next - mean_at_obs - gamma * mean_at_samples.mean()
    scale = max(np.abs(raw).max(), np.abs(means).max())
    return canonical, scale


def canonicalize(
    reward_fn: RewardFn,
    transitions: Transitions,
    state_samples: np.ndarray,
    action_samples: np.ndarray,
    gamma: float,
    batch_size: int = 2**18,
) -> np.ndarray:
    """EPIC's canonical reward C(R)(s, a, s') of each transition, float64 (N,).

    Args:
        reward_fn: ``reward_fn(obs, actions, next_obs) -> (N,)``, batched.
        transitions: ``(obs, actions, next_obs)`` with first axis N: where to evaluate C(R).
        state_samples: m states from D_S, shape (m, *obs.shape[1:]).
        action_samples: m actions from D_A, shape (m, *actions.shape[1:]); row j forms the
            pair (A_j, S'_j) with ``state_samples[j]`` (draw the two independently).
        gamma: discount of the potential shaping to remove, in [0, 1].
        batch_size: most rows per call of ``reward_fn`` (the expectations take
            (number of distinct states) x m rows in all, split into calls of this size).
    """
    gamma = _check_gamma(gamma)
    checked = _check_transitions(transitions)
    states, actions = _check_samples(state_samples, action_samples, checked[0], checked[1])
    canonical, _ = _canonicalize(
        reward_fn, "reward_fn", checked, states, actions, gamma, batch_size
    )
    return canonical


def pearson_distance(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(sqrt((1 - rho) / 2), rho)`` of two equally long samples with nonzero spread."""
    x, y = x - x.mean(), y - y.mean()
    rho = float(np.clip((x @ y) / np.sqrt((x @ x) * (y @ y)), -1.0, 1.0))
    return float(np.sqrt((1.0 - rho) / 2.0)), rho


def _bootstrap(
    x: np.ndarray, y: np.ndarray, n_bootstrap: int, rng: np.random.Generator
) -> np.ndarray:
    """Pearson distances of ``n_bootstrap`` resamples (with replacement) of the pairs."""
    n = len(x)
    distances = []
    # Resamples in blocks of about 4 million indices: vectorized, and bounded in memory.
    block = max(1, 4_000_000 // n)
    for start in range(0, n_bootstrap, block):
        index = rng.integers(n, size=(min(block, n_bootstrap - start), n))
        xs, ys = x[index], y[index]
        xs -= xs.mean(axis=1, keepdims=True)
        ys -= ys.mean(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = (xs * ys).sum(1) / np.sqrt((xs * xs).sum(1) * (ys * ys).sum(1))
        distances.append(np.sqrt((1.0 - np.clip(rho, -1.0, 1.0)) / 2.0))
    distances_all = np.concatenate(distances)
    # A resample that drew one transition n times has no spread; it says nothing.
    return distances_all[np.isfinite(distances_all)]


def epic_distance(
    reward_a: RewardFn,
    reward_b: RewardFn,
    transitions: Transitions,
    state_samples: np.ndarray,
    action_samples: np.ndarray,
    gamma: float,
    n_bootstrap: int = 200,
    seed: int = 0,
    batch_size: int = 2**18,
) -> EpicResult:
    """The EPIC distance between two rewards (see the module docstring).

    Args:
        reward_a, reward_b: the rewards, ``reward_fn(obs, actions, next_obs) -> (N,)``.
        transitions: ``(obs, actions, next_obs)``, the coverage distribution: EPIC compares
            the rewards on these transitions (for instance from :func:`sample_transitions`).
        state_samples: m states from D_S (for the point mazes :func:`maze_state_samples`
            covers the whole maze uniformly).
        action_samples: m actions from D_A, paired row by row with ``state_samples``.
        gamma: discount of the potential shaping EPIC ignores, in [0, 1].
        n_bootstrap: resamples of the transitions for ``standard_error`` and ``interval``
            (cheap: the canonical rewards are computed once); 0 skips them.
        seed: seed of the bootstrap resampling.
        batch_size: most rows per call of a reward function.

    Raises:
        ValueError: mismatched shapes, ``gamma`` outside [0, 1], or a reward that is
            constant on the samples after canonicalization (the correlation is undefined).
    """
    gamma = _check_gamma(gamma)
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap!r}")
    checked = _check_transitions(transitions)
    states, actions = _check_samples(state_samples, action_samples, checked[0], checked[1])
    canonical = {}
    for name, reward_fn in (("reward_a", reward_a), ("reward_b", reward_b)):
        values, scale = _canonicalize(reward_fn, name, checked, states, actions, gamma, batch_size)
        if values.std() <= _CONSTANT_TOLERANCE * scale:
            raise ValueError(
                f"{name} is constant on these transitions after canonicalization (a constant "
                "or pure potential shaping): its Pearson correlation, and so EPIC, is undefined"
            )
        canonical[name] = values
    x, y = canonical["reward_a"], canonical["reward_b"]
    distance, rho = pearson_distance(x, y)
    if n_bootstrap:
        resampled = _bootstrap(x, y, n_bootstrap, np.random.default_rng(seed))
        standard_error = float(resampled.std(ddof=1)) if len(resampled) > 1 else 0.0
        low, high = np.percentile(resampled, [2.5, 97.5]) if len(resampled) else (0.0, 0.0)
        interval = (float(low), float(high))
    else:
        standard_error, interval = 0.0, (distance, distance)
    return EpicResult(
        distance=distance,
        pearson=rho,
        n_transitions=len(x),
        n_samples=len(states),
        standard_error=standard_error,
        interval=interval,
        n_bootstrap=n_bootstrap,
    )


# ---- samples from environments ----------------------------------------------------------


def _seeded_space(space: gym.spaces.Space, seed: int) -> gym.spaces.Space:
    """A copy of ``space`` with its own seeded generator (the env's stays untouched)."""
    own = copy.deepcopy(space)
    own.seed(seed)
    return own


def sample_transitions(
    env: gym.Env | gym.vector.VectorEnv,
    n: int,
    seed: int = 0,
    policy: str | Callable[[np.ndarray], np.ndarray] = "random",
    n_samples: int = 256,
) -> TransitionSamples:
    """Collect ``n`` transitions with a policy, and D_S, D_A samples, from an environment.

    Args:
        env: a gymnasium env, or a vector env (stepped in batches; the transitions its
            autoreset makes between episodes are left out). It is reset with ``seed``.
        n: number of transitions.
        seed: seeds the reset, the random policy and the samples.
        policy: ``"random"`` (uniform actions from the action space) or a function from a
            batch of observations (B, ...) to a batch of actions (B, ...).
        n_samples: m, the number of (A, S') pairs: states drawn from the visited ones,
            actions drawn from the action space independently of them.

    Episodes that end (terminated or truncated, e.g. by the ``TimeLimit`` of ``gym.make``)
    start over with a reset; the transition into a terminal state is kept.
    """
    if not isinstance(n, int | np.integer) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if not isinstance(n_samples, int | np.integer) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if not (policy == "random" or callable(policy)):
        raise ValueError(f"policy must be 'random' or a callable, got {policy!r}")
    rng = np.random.default_rng(seed)
    if isinstance(env, gym.vector.VectorEnv):
        obs, actions, next_obs = _collect_vector(env, n, seed, policy)
        action_space = env.single_action_space
    else:
        obs, actions, next_obs = _collect_single(env, n, seed, policy)
        action_space = env.action_space
    state_samples = obs[rng.integers(len(obs), size=n_samples)]
    sample_space = _seeded_space(action_space, seed + 1)
    action_samples = np.stack([sample_space.sample() for _ in range(n_samples)])
    return TransitionSamples(obs, actions, next_obs, state_samples, action_samples)


def _collect_single(env: gym.Env, n: int, seed: int, policy) -> Transitions:
    space = _seeded_space(env.action_space, seed)
    obs_list, action_list, next_list = [], [], []
    observation, _ = env.reset(seed=seed)
    for _ in range(n):
        action = space.sample() if policy == "random" else np.asarray(policy(observation[None]))[0]
        next_observation, _, terminated, truncated, _ = env.step(action)
        obs_list.append(observation)
        action_list.append(action)
        next_list.append(next_observation)
        observation = env.reset()[0] if terminated or truncated else next_observation
    return np.stack(obs_list), np.stack(action_list), np.stack(next_list)


def _collect_vector(env: gym.vector.VectorEnv, n: int, seed: int, policy) -> Transitions:
    space = _seeded_space(env.action_space, seed)
    same_step = env.metadata.get("autoreset_mode") == gym.vector.AutoresetMode.SAME_STEP
    obs_list, action_list, next_list = [], [], []
    observation, _ = env.reset(seed=seed)
    resetting = np.zeros(env.num_envs, dtype=bool)
    collected = 0
    while collected < n:
        action = space.sample() if policy == "random" else np.asarray(policy(observation))
        next_observation, _, terminated, truncated, infos = env.step(action)
        done = terminated | truncated
        real_next = next_observation
        if same_step and done.any():
            # The copies that ended were reset within this step; their last state is here.
            real_next = next_observation.copy()
            for i in np.flatnonzero(done):
                real_next[i] = infos["final_obs"][i]
        # NEXT_STEP autoreset: a copy that ended last step only resets now (no transition).
        keep = ~resetting
        obs_list.append(observation[keep])
        action_list.append(np.asarray(action)[keep])
        next_list.append(real_next[keep])
        collected += int(keep.sum())
        resetting = done if not same_step else np.zeros_like(done)
        observation = next_observation
    obs, actions, next_obs = (
        np.concatenate(part)[:n] for part in (obs_list, action_list, next_list)
    )
    return obs, actions, next_obs


def maze_state_samples(
    env: gym.Env | gym.vector.VectorEnv, n: int, rng: np.random.Generator | int = 0
) -> np.ndarray:
    """``n`` observations at positions drawn uniformly over the free space of a point maze.

    A better D_S for the point mazes than the states a random walk visits, which crowd
    around the start. Cells are 1 x 1, so a uniform free cell and a uniform point within it
    are uniform over the free area. With ``reward_mode="goal"`` the observation also holds
    the goal: the env's current one (after a reset), else the task's.

    Args:
        env: a point maze env (``workbench/PointMaze-*``, :class:`PointEnv` or its vector
            env), read through ``env.unwrapped.task``.
        n: number of samples.
        rng: a generator or a seed.
    """
    task = _maze_task_of(env)
    rng = np.random.default_rng(rng)
    if not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    cells = np.argwhere(task.maze.free)
    positions = cells[rng.integers(len(cells), size=n)] + rng.random((n, 2))
    goals = None
    if task.reward_mode == "goal":
        goal = _current_goal(env, task, rng)
        goals = np.tile(goal, (n, 1))
    return task.observe(positions, goals)


def _maze_task_of(env: Any) -> PointTask:
    """The :class:`PointTask` behind a point maze env; ValueError for anything else."""
    task = getattr(getattr(env, "unwrapped", env), "task", env)
    if not isinstance(task, PointTask):
        raise ValueError(f"env must be a point maze env (with a PointTask), got {env!r}")
    if task.maze is None:
        raise ValueError("env is the open plane: it has no maze to sample free positions from")
    return task


def _current_goal(env: Any, task: PointTask, rng: np.random.Generator) -> np.ndarray:
    """The goal of a single point env after its reset, else the task's own goal."""
    goal = getattr(getattr(env, "unwrapped", env), "goal", None)
    if goal is not None and np.ndim(goal) == 1:
        return np.asarray(goal, dtype=np.float64)
    return task.sample_goal(rng)
