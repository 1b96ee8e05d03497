"""Exact value iteration and policy evaluation over a :class:`TabularMDP`, vectorized
with numpy: finite-horizon (backward induction) and infinite-horizon discounted.

The finite-horizon case is :func:`workbench.horizon.analysis.backward_induction`, the
workbench's one implementation of it (the horizon analyses use it too), on the MDP as a
:class:`~workbench.horizon.mdp.HorizonMDP`: entering a terminal state ends the episode, as
in the MDP's environment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from environments.tabular import TabularMDP
from workbench.horizon.analysis import backward_induction
from workbench.horizon.mdp import HorizonMDP


@dataclass(frozen=True)
class Solution:
    """Values of a policy or of the optimal policy.

    Finite horizon T: ``q`` has shape (T, S, A), ``v`` (T + 1, S) with ``v[T] = 0``, and
    ``policy`` (T, S) (greedy actions; for policy evaluation, the most likely action).
    Infinite horizon: ``q`` (S, A), ``v`` (S,), ``policy`` (S,).
    """

    q: np.ndarray
    v: np.ndarray
    policy: np.ndarray
    discount: float
    horizon: int | None
    iterations: int = 0

    def start_value(self, mdp: TabularMDP) -> float:
        """Expected return from the MDP's start distribution."""
        v0 = self.v[0] if self.horizon is not None else self.v
        return float(mdp.start @ v0)


def _resolve(mdp: TabularMDP, discount: float, horizon: int | None) -> int | None:
    """The horizon to plan for: ``horizon``, else ``mdp.horizon`` when undiscounted, else
    ``None`` (infinite horizon, discounted)."""
    if not 0.0 <= discount <= 1.0:
        raise ValueError(f"discount must be in [0, 1], got {discount!r}")
    if horizon is not None:
        if int(horizon) != horizon or horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
        return int(horizon)
    if discount < 1.0:
        return None
    if mdp.horizon is None:
        raise ValueError("an undiscounted (discount=1) problem needs a finite horizon")
    return int(mdp.horizon)


def _finite(mdp: TabularMDP, discount: float, horizon: int) -> HorizonMDP:
    finite = HorizonMDP.from_tabular(mdp, horizon)
    finite.discount = discount
    return finite


def value_iteration(
    mdp: TabularMDP,
    discount: float = 1.0,
    horizon: int | None = None,
    tolerance: float = 1e-10,
    max_iterations: int = 100_000,
) -> Solution:
    """Optimal values. With a horizon (given, or the MDP's when ``discount == 1``) this is
    exact backward induction; otherwise value iteration until the sup-norm change is below
    ``tolerance``."""
    planning_horizon = _resolve(mdp, discount, horizon)
    P, R = mdp.transitions, mdp.rewards
    if planning_horizon is not None:
        q, v = backward_induction(
            _finite(mdp, discount, planning_horizon), lambda _, q_t: q_t.max(-1)
        )
        return Solution(q, v, q.argmax(axis=2), discount, planning_horizon, planning_horizon)

    v = np.zeros(mdp.num_states)
    iterations = 0
    while True:
        q = R + discount * P @ v
        new_v = q.max(axis=1)
        change = np.abs(new_v - v).max()
        v, iterations = new_v, iterations + 1
        if change < tolerance:
            break
        if iterations >= max_iterations:
            raise RuntimeError(f"value iteration did not converge in {max_iterations} iterations")
    q = R + discount * P @ v
    return Solution(q, q.max(axis=1), q.argmax(axis=1), discount, None, iterations)


def _as_action_probabilities(
    policy: np.ndarray, mdp: TabularMDP, horizon: int | None
) -> np.ndarray:
    """A policy as probabilities (S, A) or (T, S, A). Accepts those shapes, or integer
    actions (S,) or (T, S)."""
    policy = np.asarray(policy)
    S, A = mdp.num_states, mdp.num_actions
    if np.issubdtype(policy.dtype, np.integer):
        if policy.shape[-1] != S or policy.ndim > 2:
            raise ValueError(
                f"a deterministic policy must have shape (S,) or (T, S), got {policy.shape}"
            )
        if policy.min() < 0 or policy.max() >= A:
            raise ValueError(f"policy actions must be in 0..{A - 1}")
        policy = np.eye(A)[policy]
    policy = policy.astype(np.float64)
    if policy.shape[-2:] != (S, A) or policy.ndim > 3:
        raise ValueError(
            f"a stochastic policy must have shape (S, A) or (T, S, A), got {policy.shape}"
        )
    if (policy < 0).any() or not np.allclose(policy.sum(axis=-1), 1.0, atol=1e-6):
        raise ValueError("policy rows must be probability distributions over actions")
    if policy.ndim == 3:
        if horizon is None:
            raise ValueError("a time-dependent policy needs a finite horizon")
        if policy.shape[0] != horizon:
            raise ValueError(
                f"time-dependent policy has {policy.shape[0]} steps, horizon is {horizon}"
            )
    return policy


def policy_evaluation(
    mdp: TabularMDP, policy: np.ndarray, discount: float = 1.0, horizon: int | None = None
) -> Solution:
    """Exact values of ``policy``: backward recursion for a finite horizon, one linear
    solve of (I - discount P_pi) v = R_pi for an infinite one."""
    planning_horizon = _resolve(mdp, discount, horizon)
    probabilities = _as_action_probabilities(policy, mdp, planning_horizon)
    P, R = mdp.transitions, mdp.rewards
    if planning_horizon is not None:
        T = planning_horizon
        per_step = np.broadcast_to(probabilities, (T, mdp.num_states, mdp.num_actions))
        q, v = backward_induction(
            _finite(mdp, discount, T), lambda t, q_t: (per_step[t] * q_t).sum(-1)
        )
        return Solution(q, v, per_step.argmax(axis=2), discount, T, T)

    P_pi = np.einsum("sa,sat->st", probabilities, P)
    R_pi = (probabilities * R).sum(axis=1)
    v = np.linalg.solve(np.eye(mdp.num_states) - discount * P_pi, R_pi)
    q = R + discount * P @ v
    return Solution(q, v, probabilities.argmax(axis=1), discount, None, 1)


def random_policy(mdp: TabularMDP) -> np.ndarray:
    """The uniformly random policy, shape (S, A)."""
    return np.full((mdp.num_states, mdp.num_actions), 1.0 / mdp.num_actions)
