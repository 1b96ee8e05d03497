"""How much memory an analysis will allocate, estimated before it allocates anything.

Every exact analysis holds time-indexed arrays of T x S x A float64 (the value functions,
each Bellman backup), so a long horizon or a large uploaded MDP asks for more memory than
any machine has: a 2,000,000-state BRIDGE file that compresses to 125 KB needs gigabytes
at T = 10, and ``--horizon 1000000000`` on a 25-state grid world terabytes. The figures
here count, part by part, the arrays that :mod:`workbench.horizon.analysis`,
:mod:`~workbench.horizon.sweeps`, :mod:`~workbench.horizon.learners` and
:class:`~workbench.horizon.mdp.HorizonMDP` allocate, from their shapes and dtypes. They
are upper bounds: every temporary of an expression is counted, as if numpy reused none
(it often reuses one in place). :func:`check_memory` compares them with
:func:`memory_limit` and refuses, with :class:`NotEnoughMemory`, what does not fit.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.horizon.mdp import HorizonMDP

GIB = 2**30

FLOAT = 8
"""Bytes of a float64 or int64 entry, what the analyses compute in."""

BOOL = 1

MEMORY_FRACTION = 0.5
"""The share of the memory available when an analysis starts that it may take. The rest
stays for the server, its other sessions and the rest of the machine."""

MEMORY_LIMIT_VARIABLE = "WORKBENCH_HORIZON_MEMORY_GIB"
"""Environment variable that sets the limit in GiB instead (e.g. ``8`` or ``0.5``)."""

FALLBACK_MEMORY = 8 * GIB
"""Memory assumed available where the system does not say (neither ``/proc/meminfo``
nor ``os.sysconf``), before :data:`MEMORY_FRACTION` applies."""

PPO_HIDDEN = 64
"""Units of each hidden layer of stable-baselines3's MlpPolicy (two layers, separate
policy and value networks), which the PPO measurement trains."""

DEFAULT_MAX_SAMPLES = 5_000_000
"""The learners' default step budget per run (:data:`workbench.horizon.learners.MAX_SAMPLES`,
not imported here: that module imports this one)."""

MEMORY_PARTS = {
    "load": "reading the npz file and building the MDP",
    "values": "computing the value functions",
    "min_k": "finding min_k",
    "epw": "finding the planning window",
    "bound": "bounding the effective horizon",
    "greedy": "computing the greedy returns J_1..J_5",
    "map": "computing the lookahead map",
    "sweep": "sweeping the horizon T or the discount",
    "learners": "measuring GORP's, SQIRL's and PPO's sample complexity",
    "sticky": "building the sticky-action MDP",
}
"""What :func:`analysis_bytes` estimates, with what each part computes."""

ANALYZE_PARTS = ("values", "min_k", "epw", "bound", "greedy")
"""The parts :func:`workbench.horizon.analyze` runs (the bound: deterministic MDPs only)."""

PAGE_PARTS = (*ANALYZE_PARTS, "map", "sweep")
"""What the dashboard's Horizon page runs for each MDP it analyses."""


class NotEnoughMemory(ValueError):
    """An analysis would allocate more than :func:`memory_limit` allows. The message names
    the MDP, the estimate, the limit and what to change."""


def available_memory() -> int | None:
    """Bytes the system can give without swapping: ``MemAvailable`` (Linux), less under a
    cgroup (container) limit; else free physical pages (``os.sysconf``); None when
    unknown."""
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
                break
    except OSError:
        available = None
    cgroup = _cgroup_room()
    if cgroup is not None:
        available = cgroup if available is None else min(available, cgroup)
    if available is not None:
        return available
    for pages in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
        try:
            return os.sysconf(pages) * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            continue
    return None


def _cgroup_room() -> int | None:
    """What a cgroup v2 memory limit leaves (``memory.max`` - ``memory.current``), if one
    is set; a container's ``/proc/meminfo`` shows the host's memory."""
    folder = Path("/sys/fs/cgroup")
    try:
        limit = (folder / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(int(limit) - int((folder / "memory.current").read_text()), 0)
    except (OSError, ValueError):
        return None


def memory_limit() -> int:
    """Bytes one analysis may allocate: :data:`MEMORY_LIMIT_VARIABLE` GiB when set, else
    :data:`MEMORY_FRACTION` of :func:`available_memory` (of :data:`FALLBACK_MEMORY` where
    that is unknown)."""
    setting = os.environ.get(MEMORY_LIMIT_VARIABLE, "").strip()
    if setting:
        try:
            gib = float(setting)
        except ValueError:
            gib = math.nan
        if not math.isfinite(gib) or gib <= 0:
            raise ValueError(
                f"{MEMORY_LIMIT_VARIABLE}={setting!r}: expected a positive number of GiB"
            )
        return int(gib * GIB)
    available = available_memory()
    return int(MEMORY_FRACTION * (FALLBACK_MEMORY if available is None else available))


def limit_source() -> str:
    """How the limit was set, for messages."""
    if os.environ.get(MEMORY_LIMIT_VARIABLE, "").strip():
        return f"set by {MEMORY_LIMIT_VARIABLE}"
    return f"{MEMORY_FRACTION:.0%} of the memory available now; {MEMORY_LIMIT_VARIABLE} sets it"


def mdp_bytes(states: int, actions: int, successors: int = 1) -> int:
    """Peak bytes of building a :class:`~workbench.horizon.mdp.HorizonMDP`: its arrays
    (successors, probabilities and successor rewards (S, A, K), rewards (S, A), start
    (S,)), plus the largest temporaries of its validation (the expected reward, its
    comparison with the rewards, the masks)."""
    pairs, slots = states * actions, states * actions * successors
    held = FLOAT * (3 * slots + pairs + states)
    validation = max(
        FLOAT * (2 * slots + 6 * pairs) + BOOL * slots,  # expected rewards, allclose
        BOOL * 3 * slots + FLOAT * 2 * pairs,  # index bounds, probabilities' sums
    )
    return held + validation


def sticky_bytes(states: int, actions: int, successors: int = 1) -> int:
    """Peak bytes of :meth:`~workbench.horizon.mdp.HorizonMDP.with_sticky_actions`: the
    (S, A, A, K) probability halves, their (S, A, A, 2K) joins (successors, probabilities,
    slot rewards) and (S, A, A) rewards, the first-step copies, then the new MDP of
    S(A + 1) states and 2K slots built from their concatenation (:func:`mdp_bytes`)."""
    chosen = states * actions * actions  # (s, previous action, chosen action)
    halves = chosen * successors
    joined = FLOAT * (2 * halves + 3 * 2 * halves + chosen)
    # What each (s, a) executes, with its temporaries, and the first step's three
    # (S, A, 2K) slot arrays.
    first_step = FLOAT * (3 + 3 * 2) * states * actions * successors
    return joined + first_step + mdp_bytes(states * (actions + 1), actions, 2 * successors)


def _expected_next(rows: int, states: int, actions: int, successors: int) -> int:
    """:meth:`HorizonMDP.expected_next` on ``rows`` value vectors: the zero-padded values,
    the values gathered at every successor slot, their product with the probabilities
    and its sum over slots (the result)."""
    slots = rows * states * actions * successors
    return FLOAT * (rows * (states + 1) + 2 * slots + rows * states * actions)


def _max_next(rows: int, states: int, actions: int, successors: int) -> int:
    """:meth:`HorizonMDP.max_next` on ``rows`` value vectors: padding, the gathered
    values, the mask of positive probabilities, the masked values and their maximum."""
    slots = rows * states * actions * successors
    mask = BOOL * states * actions * successors
    return FLOAT * (rows * (states + 1) + 2 * slots + rows * states * actions) + mask


def _backup(horizon: int, states: int, actions: int, successors: int) -> int:
    """:func:`~workbench.horizon.analysis.bellman_backup` of a (T, S, A) Q: its copy, the
    next steps' maxima, their expectation and the sum with the rewards."""
    rows = horizon - 1
    table = FLOAT * horizon * states * actions
    return (
        table
        + FLOAT * rows * states
        + _expected_next(rows, states, actions, successors)
        + FLOAT * rows * states * actions
    )


def analysis_bytes(
    states: int,
    actions: int,
    horizon: int,
    successors: int = 1,
    parts: Collection[str] = ANALYZE_PARTS,
    max_samples: float = DEFAULT_MAX_SAMPLES,
) -> dict[str, int]:
    """Peak bytes each of ``parts`` (keys of :data:`MEMORY_PARTS`, less "load" and
    "sticky") allocates for an MDP of ``states`` x ``actions`` with ``successors`` slots
    per pair at horizon ``horizon``: its own arrays and temporaries, plus the value
    functions (T x 3 x S x A Q, (T + 1) x 3 x S V) when "values" is among ``parts``, since
    the later parts run while they are held. Parts run one after another, so an analysis
    needs the largest of them, not their sum. ``max_samples``: the learners' steps per
    run (their data grow with it)."""
    unknown = set(parts) - (MEMORY_PARTS.keys() - {"load", "sticky"})
    if unknown:
        raise ValueError(f"unknown analysis part(s) {sorted(unknown)}")
    t, s, a, k = horizon, states, actions, successors
    table = FLOAT * t * s * a  # one (T, S, A) float64 array
    bools = BOOL * t * s * a  # one (T, S, A) bool array
    values = FLOAT * (3 * t * s * a + 3 * (t + 1) * s)
    # One step of backward induction over the three policies, and their selection.
    values_step = _expected_next(3, s, a, k) + FLOAT * (3 * s * a + 9 * s)
    held = values if "values" in parts else 0
    backup = _backup(t, s, a, k)
    # One step of a greedy walk (check_greedy, or the bound's): the greedy and wrong
    # actions, the successors taken and reached.
    walk = FLOAT * (2 * s + s * a * k) + BOOL * (4 * s * a + 2 * s * a * k + s)
    # _least_k: its Q_k, the optimal actions, the walk's visited (T, S), then a walk step
    # or a backup.
    least_k = table + bools + BOOL * t * s + max(backup, walk, FLOAT * t * s)
    var_step = table + FLOAT * (t - 1) * s + _max_next(t - 1, s, a, k)
    # effective_horizon_bound: Q_k, the optimal actions, the variance bound (three
    # tables while it is formed), then a backup of each.
    bound = table + bools + max(3 * table, table + max(backup, var_step, walk))
    # greedy_returns: Q_k, its greedy mask (and the last one's), the last backward
    # induction's Q and V, then a new backward induction or a backup.
    induction = table + FLOAT * (t + 1) * s + _expected_next(1, s, a, k) + FLOAT * 3 * s * a
    greedy = table + 2 * bools + table + FLOAT * (t + 1) * s + max(induction, backup)
    own = {
        "values": values + values_step,
        "min_k": least_k,
        "epw": least_k,
        "bound": bound,
        "greedy": greedy,
        "map": table + bools + FLOAT * t * s + max(backup, FLOAT * 3 * s + BOOL * 4 * s * a),
        # Each point is a whole analysis (no greedy returns) of its own value functions,
        # the largest at the largest T, the MDP's own.
        "sweep": values + max(values_step, least_k, bound if "bound" in parts else 0),
        "learners": _learners_bytes(t, s, a, k, values + values_step, max_samples),
    }
    # The learners run after the analysis, on value functions of their own.
    alone = ("values", "learners")
    return {part: own[part] + (0 if part in alone else held) for part in parts}


def _learners_bytes(
    horizon: int, states: int, actions: int, successors: int, values: int, max_samples: float
) -> int:
    """Peak bytes of :func:`~workbench.horizon.learners.measured_sample_complexities`.

    GORP runs at most N / T^2 episodes at once (each a dozen state, action and reward
    vectors, the action sequences among them); SQIRL keeps a frozen (S, A) Q per time
    step, two table regressors of (T, S, A) sums, counts and means, and at most N / T of
    its steps with their columns; PPO's policy sees every state one-hot when it is
    checked, an S x S int64 then float32 tensor, and trains two first layers of
    :data:`PPO_HIDDEN` x S weights (with gradients and Adam's two moments). Each learner
    first computes the optimal return (the value functions, freed after)."""
    t, s, a, k = horizon, states, actions, successors
    table = FLOAT * t * s * a
    episodes = int(max_samples // t**2)  # GORP's most at once: N / (T^2 A^k) x A^k
    # Its vectors, and at most as many action sequences of k <= T actions (tuples, then
    # an int64 array).
    gorp = FLOAT * episodes * (12 + 3 * k) + episodes * (56 + 2 * FLOAT * t)
    rows = int(max_samples // t)  # SQIRL's stored steps: N / T^2 episodes of T steps
    sqirl = 7 * table + FLOAT * t * s + FLOAT * rows * (2 * 6 + 8 + a)
    ppo = 12 * s * s + 4 * 4 * 2 * PPO_HIDDEN * s + 4 * PPO_HIDDEN * s * 4
    return max(values, gorp, sqirl, ppo)


def describe_bytes(count: float) -> str:
    """``count`` bytes in GiB (MiB below one GiB), for messages."""
    if count >= GIB:
        return f"{count / GIB:,.1f} GiB"
    return f"{count / 2**20:,.0f} MiB"


def _largest_fitting(needs: Callable[[int], int], horizon: int, budget: int) -> int | None:
    """The largest horizon below ``horizon`` whose ``needs`` fits ``budget`` (None: not
    even T = 1), by bisection: the estimates grow with T."""
    if horizon <= 1 or needs(1) > budget:
        return None
    low, high = 1, horizon - 1
    while low < high:
        middle = (low + high + 1) // 2
        if needs(middle) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def check_memory(
    name: str,
    states: int,
    actions: int,
    horizon: int,
    successors: int = 1,
    parts: Collection[str] = ANALYZE_PARTS,
    before: int = 0,
    max_samples: float = DEFAULT_MAX_SAMPLES,
    limit: int | None = None,
) -> int:
    """Refuse (:class:`NotEnoughMemory`) an analysis of ``name`` that would allocate more
    than ``limit`` bytes (default :func:`memory_limit`): the largest part of ``parts``
    (:func:`analysis_bytes`), or ``before`` (bytes allocated before the analysis, such as
    reading a file, and still held during it) plus that. Returns the estimate."""
    limit = memory_limit() if limit is None else limit

    def needs(length: int) -> int:
        estimate = analysis_bytes(states, actions, length, successors, parts, max_samples)
        return before + max(estimate.values(), default=0)

    estimate = analysis_bytes(states, actions, horizon, successors, parts, max_samples)
    total = before + max(estimate.values(), default=0)
    if total <= limit:
        return total
    largest = max(estimate, key=estimate.get) if estimate else "load"
    fits = _largest_fitting(needs, horizon, limit)
    if before > limit:
        advice = "use an MDP with fewer states"
    elif fits is None:
        advice = "even T = 1 does not fit: use an MDP with fewer states"
    else:
        advice = f"use a horizon T of at most {fits:,}, or an MDP with fewer states"
    raise NotEnoughMemory(
        f"{name}: analysing {states:,} states x {actions:,} actions over T = {horizon:,} "
        f"would need about {describe_bytes(total)} ({MEMORY_PARTS[largest]}), more than "
        f"the {describe_bytes(limit)} this analysis may take ({limit_source()}); {advice}"
    )


def check_mdp_memory(
    mdp: HorizonMDP,
    parts: Collection[str] = ANALYZE_PARTS,
    max_samples: float = DEFAULT_MAX_SAMPLES,
    limit: int | None = None,
) -> int:
    """:func:`check_memory` for ``mdp`` (its name and shape), without the bound where it
    is undefined (a stochastic MDP), as :func:`~workbench.horizon.analyze` skips it."""
    if "bound" in parts and not mdp.deterministic:
        parts = [part for part in parts if part != "bound"]
    states, actions, successors = mdp.successors.shape
    return check_memory(
        mdp.name, states, actions, mdp.horizon, successors, parts,
        max_samples=max_samples, limit=limit,
    )  # fmt: skip
