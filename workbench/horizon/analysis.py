"""Exact effective-horizon analyses of a finite-horizon MDP, vectorized over states.

Definitions follow Laidlaw, Russell and Dragan's analysis code (EffectiveHorizon.jl), as
summarised in ``../shared/HORIZON.md``. Time-indexed Q functions are arrays (T, S, A):
``q[t, s, a]`` is the value of taking a in s with T - t actions left. Every function here
loops over time steps (or over k) only; each step is a few array operations over all
states at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from workbench.horizon.mdp import HorizonMDP
from workbench.horizon.memory import check_mdp_memory
from workbench.horizon.progress import NamedProgress

# An action is optimal at (t, s) when Q*(t, s, a) >= V*(t, s) - REWARD_PRECISION: the
# authors' constant, for floating error (no BRIDGE MDP has reward steps below 1e-3).
REWARD_PRECISION = 1e-4

BOUND_UNDEFINED = (
    "the effective-horizon bound is defined for deterministic MDPs only; this MDP is "
    "stochastic, so min_k, the effective planning window and the greedy returns are shown"
)


@dataclass
class ValueFunctions:
    """Finite-horizon Q and V of the uniformly random, optimal and worst policies.

    ``q_*`` have shape (T, S, A), ``v_*`` (T, S). V of the random policy is clipped into
    [V worst, V optimal] against floating error, as the authors' code does.
    """

    q_random: np.ndarray
    q_optimal: np.ndarray
    q_worst: np.ndarray
    v_random: np.ndarray
    v_optimal: np.ndarray
    v_worst: np.ndarray

    @property
    def optimal_actions(self) -> np.ndarray:
        """(T, S, A) bool: the actions that are optimal at (t, s)."""
        return self.q_optimal >= self.v_optimal[..., None] - REWARD_PRECISION

    def start_values(self, mdp: HorizonMDP) -> dict[str, float]:
        """Expected returns from the start distribution of the three policies."""
        return {
            name: float(mdp.start @ values[0])
            for name, values in (
                ("random", self.v_random),
                ("optimal", self.v_optimal),
                ("worst", self.v_worst),
            )
        }


def backward_induction(
    mdp: HorizonMDP,
    select: Callable[[int, np.ndarray], np.ndarray],
    batch: tuple[int, ...] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Finite-horizon values by backward induction, the one implementation the workbench
    has (:mod:`workbench.dynamic_programming` uses it too).

    q_t(s, a) = R(s, a) + discount * E[v_{t+1}(s')] and v_t = ``select(t, q_t)``, with
    v_T = 0 and nothing after the end of an episode. ``batch`` evaluates several policies
    at once: q then has shape (T, *batch, S, A) and v (T + 1, *batch, S).
    """
    q = np.empty((mdp.horizon, *batch, mdp.num_states, mdp.num_actions))
    v = np.zeros((mdp.horizon + 1, *batch, mdp.num_states))
    for t in reversed(range(mdp.horizon)):
        q[t] = mdp.rewards + mdp.expected_next(v[t + 1])
        v[t] = select(t, q[t])
    return q, v


def value_functions(mdp: HorizonMDP) -> ValueFunctions:
    """Backward induction of the optimal, random and worst policies' Q functions."""

    def select(_: int, q: np.ndarray) -> np.ndarray:
        optimal, worst = q[0].max(-1), q[2].min(-1)
        return np.stack([optimal, np.clip(q[1].mean(-1), worst, optimal), worst])

    q, v = backward_induction(mdp, select, batch=(3,))
    return ValueFunctions(q[:, 1], q[:, 0], q[:, 2], v[:-1, 1], v[:-1, 0], v[:-1, 2])


def bellman_backup(mdp: HorizonMDP, q: np.ndarray) -> np.ndarray:
    """One optimality backup: (B Q)_t(s, a) = R(s, a) + E[max_a' Q_{t+1}(s', a')]; the
    last time step is left unchanged."""
    backed_up = q.copy()
    backed_up[:-1] = mdp.rewards + mdp.expected_next(q[1:].max(-1))
    return backed_up


def rewards_as_q(mdp: HorizonMDP) -> np.ndarray:
    """The immediate reward as a time-indexed Q function (the start of the planning
    window)."""
    return np.broadcast_to(mdp.rewards, (mdp.horizon, *mdp.rewards.shape)).copy()


@dataclass
class GreedyCheck:
    """Whether acting greedily on a Q function is optimal from the start.

    Attributes:
        solvable: every greedy action at every state the greedy walk reaches is optimal.
        failure: the first (t, s) where a greedy action is not optimal, else None.
        visited: (T, S) bool, the states the greedy walk reached (up to the failure).
    """

    solvable: bool
    failure: tuple[int, int] | None
    visited: np.ndarray


def check_greedy(mdp: HorizonMDP, q: np.ndarray, optimal_actions: np.ndarray) -> GreedyCheck:
    """Follow every greedy action of ``q`` (ties: all tied actions) from the start and
    check that each is optimal (the test of k-QVI-solvability)."""
    reached = mdp.start > 0
    visited = np.zeros((mdp.horizon, mdp.num_states), dtype=bool)
    for t in range(mdp.horizon):
        if not reached.any():  # every episode has ended
            break
        visited[t] = reached
        greedy = q[t] >= q[t].max(-1, keepdims=True)  # exact ties, as the authors' code
        wrong = reached[:, None] & greedy & ~optimal_actions[t]
        if wrong.any():
            return GreedyCheck(False, (t, int(np.argwhere(wrong)[0, 0])), visited)
        reached = mdp.successor_mask(reached, greedy)
    return GreedyCheck(True, None, visited)


@dataclass
class LookaheadResult:
    """The least k for which acting greedily on Q_k = B^(k-1) Q_1 is optimal.

    Attributes:
        k: that least k (min_k from Q_1 = Q random; the effective planning window from
            Q_1 = R).
        failures: for each k below it, the first (t, s) where its greedy action was wrong.
    """

    k: int
    failures: dict[int, tuple[int, int]] = field(default_factory=dict)


def _least_k(mdp: HorizonMDP, q: np.ndarray, values: ValueFunctions) -> LookaheadResult:
    optimal = values.optimal_actions
    failures = {}
    for k in range(1, mdp.horizon + 1):
        check = check_greedy(mdp, q, optimal)
        if check.solvable:
            return LookaheadResult(k, failures)
        failures[k] = check.failure
        q = bellman_backup(mdp, q)
    # B^(T-1) Q is Q* at every time step, whose greedy actions are optimal.
    raise AssertionError("unreachable: k = T is always solvable")


def min_k(mdp: HorizonMDP, values: ValueFunctions | None = None) -> LookaheadResult:
    """The least k such that the MDP is k-QVI-solvable: acting greedily on
    B^(k-1) Q random is optimal."""
    values = value_functions(mdp) if values is None else values
    return _least_k(mdp, values.q_random.copy(), values)


def effective_planning_window(
    mdp: HorizonMDP, values: ValueFunctions | None = None
) -> LookaheadResult:
    """The least k such that acting greedily on B^(k-1) R is optimal (no random-policy
    values: planning k steps on rewards alone)."""
    values = value_functions(mdp) if values is None else values
    return _least_k(mdp, rewards_as_q(mdp), values)


def greedy_returns(
    mdp: HorizonMDP, values: ValueFunctions | None = None, max_k: int = 5
) -> list[float]:
    """J_1, ..., J_max_k: the expected return from the start of acting greedily on
    Q_k = B^(k-1) Q random, taking the worst of tied greedy actions (as the authors'
    ``calculate_greedy_returns``, which their sticky-action analysis reports). J_k equals
    the optimal return for every k >= min_k."""
    values = value_functions(mdp) if values is None else values
    q = values.q_random.copy()
    returns = []
    for k in range(1, max_k + 1):
        greedy = q >= q.max(-1, keepdims=True)

        def worst_greedy(t: int, q_t: np.ndarray, greedy: np.ndarray = greedy) -> np.ndarray:
            return np.where(greedy[t], q_t, np.inf).min(-1)

        _, v = backward_induction(mdp, worst_greedy)
        returns.append(float(mdp.start @ v[0]))
        if k < max_k:
            q = bellman_backup(mdp, q)
    return returns


@dataclass
class BoundTerm:
    """One k of the effective-horizon bound.

    Attributes:
        k: lookahead depth; m: Monte Carlo samples per action sequence that suffice;
        gap: the value gap and var the variance bound at (t, s), where m is largest;
        horizon_k: H_k = k + log_A(m).
    """

    k: int
    m: float
    gap: float
    var: float
    horizon_k: float
    t: int
    s: int


@dataclass
class EffectiveHorizonBound:
    """The simple bound on the effective horizon, H = min(T, min_k H_k).

    Attributes:
        effective_horizon: H.
        terms: the k that worked, each with its H_k and the (t, s) attaining its m.
        failures: the k that failed, each with the first (t, s) where a suboptimal
            action's Q_k ties the best.
    """

    effective_horizon: float
    terms: list[BoundTerm]
    failures: dict[int, tuple[int, int]]

    @property
    def best(self) -> BoundTerm | None:
        """The term that attains H (None when the bound is T itself)."""
        attaining = [term for term in self.terms if term.horizon_k == self.effective_horizon]
        return attaining[0] if attaining else None


def effective_horizon_bound(
    mdp: HorizonMDP, values: ValueFunctions | None = None
) -> EffectiveHorizonBound:
    """The paper's simple bound (Theorem 5.4 as the authors implement it), defined for
    deterministic MDPs only: its variance term (Q random - Q worst)(Q* - Q worst) bounds
    the return's variance only when every realized return lies in [Q worst, Q*], which
    fails in stochastic MDPs, and the authors compute no bound for them. A stochastic
    MDP raises ``ValueError``.

    For k = 1, 2, ... while k < H: walk from the start along every action whose Q_k
    exceeds the best suboptimal action's; at each (t, s) reached, gap = max Q_k - max
    over suboptimal actions of Q_k (k fails if 0) and var = max_a of the variance bound
    (Q random - Q worst)(Q* - Q worst), backed up alongside Q with a max over next states
    and actions; m = max(1, ceil(16 var / gap^2 ln(2 T A^k))) and H_k = k + log_A(m) with
    the largest m of the walk.
    """
    if not mdp.deterministic:
        raise ValueError(BOUND_UNDEFINED)
    values = value_functions(mdp) if values is None else values
    horizon, actions = mdp.horizon, mdp.num_actions
    optimal = values.optimal_actions
    q = values.q_random.copy()
    var_bound = (values.q_random - values.q_worst) * (values.q_optimal - values.q_worst)
    result = EffectiveHorizonBound(float(horizon), [], {})
    k = 1
    while k < result.effective_horizon:
        log_term = math.log(2 * horizon) + k * math.log(actions)
        reached = mdp.start > 0
        largest = (0.0, 0.0, 0.0, 0, 0)  # m, gap, var, t, s
        works = True
        for t in range(horizon):
            if not reached.any():
                break
            max_q = q[t].max(-1)
            max_suboptimal = np.where(optimal[t], -np.inf, q[t]).max(-1)
            tied = reached & (max_q == max_suboptimal)
            if tied.any():
                result.failures[k] = (t, int(np.flatnonzero(tied)[0]))
                works = False
                break
            with np.errstate(divide="ignore", invalid="ignore"):
                gap = max_q - max_suboptimal  # inf where no action is suboptimal
                var = var_bound[t].max(-1)
                m = np.maximum(1.0, np.ceil(16 * var / gap**2 * log_term))
            m = np.where(reached, np.nan_to_num(m, nan=1.0), 0.0)
            s = int(m.argmax())
            if m[s] > largest[0]:
                largest = (float(m[s]), float(gap[s]), float(var[s]), t, s)
            reached = mdp.successor_mask(reached, q[t] > max_suboptimal[:, None])
        if works:
            m, gap, var, t, s = largest
            horizon_k = k + (math.log(m) / math.log(actions) if actions > 1 else 0.0)
            result.terms.append(BoundTerm(k, m, gap, var, horizon_k, t, s))
            result.effective_horizon = min(result.effective_horizon, horizon_k)
        q = bellman_backup(mdp, q)
        var_bound = var_bound.copy()
        var_bound[:-1] = mdp.max_next(var_bound[1:].max(-1))
        k += 1
    return result


def lookahead_map(
    mdp: HorizonMDP,
    t: int = 0,
    values: ValueFunctions | None = None,
    max_k: int | None = None,
) -> np.ndarray:
    """(S,) the least k whose greedy actions at (t, s) are all optimal, for every state
    s (``inf`` when no k up to ``max_k``, default T - t, is). Where in the state space
    acting greedily on the random policy's values needs lookahead, and how much."""
    values = value_functions(mdp) if values is None else values
    max_k = mdp.horizon - t if max_k is None else max_k
    optimal = values.optimal_actions[t]
    least = np.full(mdp.num_states, np.inf)
    q = values.q_random.copy()
    for k in range(1, max_k + 1):
        greedy = q[t] >= q[t].max(-1, keepdims=True)
        correct = ~(greedy & ~optimal).any(-1)
        least[np.isinf(least) & correct] = k
        if not np.isinf(least).any():
            break
        q = bellman_backup(mdp, q)
    return least


@dataclass
class HorizonAnalysis:
    """Every exact figure of one MDP, as the CLI table and the Horizon page show them.

    ``bound`` is None for a stochastic MDP (:data:`BOUND_UNDEFINED`); ``greedy_returns``
    are J_1..J_5 of :func:`greedy_returns`, what the authors report for those MDPs."""

    name: str
    states: int
    actions: int
    horizon: int
    deterministic: bool
    returns: dict[str, float]
    min_k: LookaheadResult
    epw: LookaheadResult
    bound: EffectiveHorizonBound | None
    greedy_returns: list[float] = field(default_factory=list)

    @property
    def predicted_sample_complexity(self) -> float | None:
        """T^2 A^H environment steps: GORP with the k attaining H and m samples per action
        sequence runs T iterations of A^k m episodes of at most T steps, and
        A^(k + log_A m) = A^k m. None where the bound is undefined (stochastic MDPs)."""
        if self.bound is None:
            return None
        return float(self.horizon**2 * self.actions**self.bound.effective_horizon)

    def summary(self) -> dict[str, object]:
        """A JSON-ready dictionary of the figures; the bound's entries are None, with
        ``bound_note`` saying why, for a stochastic MDP."""
        best = None if self.bound is None else self.bound.best
        return {
            "name": self.name,
            "states": self.states,
            "actions": self.actions,
            "horizon": self.horizon,
            "deterministic": self.deterministic,
            "optimal_return": self.returns["optimal"],
            "random_return": self.returns["random"],
            "worst_return": self.returns["worst"],
            "min_k": self.min_k.k,
            "epw": self.epw.k,
            "greedy_returns": self.greedy_returns,
            "effective_horizon": None if self.bound is None else self.bound.effective_horizon,
            "predicted_sample_complexity": self.predicted_sample_complexity,
            "bound_note": BOUND_UNDEFINED if self.bound is None else None,
            "bound_attained_at": None if best is None else {"k": best.k, "t": best.t, "s": best.s},
            "bound_terms": [] if self.bound is None else [t.__dict__ for t in self.bound.terms],
            "min_k_failures": {k: list(ts) for k, ts in self.min_k.failures.items()},
        }


ANALYSIS_PARTS = {
    "values": "computing the value functions",
    "min_k": "finding min_k",
    "epw": "finding the planning window",
    "bound": "bounding the effective horizon",
    "greedy": "computing the greedy returns J_1..J_5",
    "done": "analysed",
}
"""The parts :func:`analyze` reports to its ``progress``, with what each computes."""


def analyze(
    mdp: HorizonMDP, values: ValueFunctions | None = None, progress: NamedProgress | None = None
) -> HorizonAnalysis:
    """Value functions once (or the ones given), then min_k, the planning window, the
    greedy returns and, for a deterministic MDP, the bound.

    ``progress`` is called with (part, parts done, parts) before each part, then with
    ("done", parts, parts); ``part`` is a key of :data:`ANALYSIS_PARTS`.

    An analysis that would not fit in memory is refused before it allocates
    (:class:`~workbench.horizon.memory.NotEnoughMemory`)."""
    parts = [
        *(["values"] if values is None else []), "min_k", "epw",
        *(["bound"] if mdp.deterministic else []), "greedy",
    ]  # fmt: skip
    check_mdp_memory(mdp, parts)
    done = 0

    def next_part(name: str) -> None:
        nonlocal done
        if progress is not None:
            progress(name, done, len(parts))
        done += 1

    if values is None:
        next_part("values")
        values = value_functions(mdp)
    next_part("min_k")
    least = min_k(mdp, values)
    next_part("epw")
    window = effective_planning_window(mdp, values)
    bound = None
    if mdp.deterministic:
        next_part("bound")
        bound = effective_horizon_bound(mdp, values)
    next_part("greedy")
    returns = greedy_returns(mdp, values)
    if progress is not None:
        progress("done", done, len(parts))
    return HorizonAnalysis(
        mdp.name, mdp.num_states, mdp.num_actions, mdp.horizon, mdp.deterministic,
        values.start_values(mdp), least, window, bound, returns,
    )  # fmt: skip
