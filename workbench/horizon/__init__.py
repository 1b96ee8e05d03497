"""Effective-horizon analyses (Laidlaw, Russell and Dragan): exact figures of tabular
MDPs, from the workbench's grid worlds, MiniGrid environments or BRIDGE npz files."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from workbench.horizon.analysis import (
    ANALYSIS_PARTS,
    BOUND_UNDEFINED,
    REWARD_PRECISION,
    EffectiveHorizonBound,
    HorizonAnalysis,
    LookaheadResult,
    ValueFunctions,
    analyze,
    bellman_backup,
    effective_horizon_bound,
    effective_planning_window,
    greedy_returns,
    lookahead_map,
    min_k,
    value_functions,
)
from workbench.horizon.mdp import HorizonMDP, MDPFormatError
from workbench.horizon.memory import (
    ANALYZE_PARTS,
    PAGE_PARTS,
    NotEnoughMemory,
    check_mdp_memory,
    memory_limit,
)
from workbench.horizon.progress import NamedProgress, Progress


def load_mdp(
    source: str,
    horizon: int | None = None,
    progress: Progress | None = None,
    parts: Collection[str] = ANALYZE_PARTS,
) -> HorizonMDP:
    """The MDP that ``source`` names: a BRIDGE ``.npz`` file (the horizon it stores, else
    ``horizon``, which is then required: never assumed), a ``workbench/GridWorld-*`` id
    (its own horizon unless ``horizon`` is given) or a ``MiniGrid-*`` id (tabularized as
    BRIDGE does, T = 100 unless ``horizon`` is given; cached on disk). ``progress``: a
    MiniGrid enumeration's (:func:`~workbench.horizon.minigrid.enumerate_states`), the
    only loading that takes long.

    An MDP whose analysis (``parts``: keys of :data:`~workbench.horizon.memory.MEMORY_PARTS`,
    default :func:`analyze`'s; empty: no check) would not fit in memory is refused with
    :class:`NotEnoughMemory`: an npz file's before any array is decompressed, the others'
    (small until analysed) once built."""
    if source.endswith(".npz"):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"no BRIDGE file {path}")
        return HorizonMDP.load_bridge(path, horizon, parts)
    mdp = _load_environment(source, horizon, progress)
    if parts:
        check_mdp_memory(mdp, parts)
    return mdp


def _load_environment(source: str, horizon: int | None, progress: Progress | None) -> HorizonMDP:
    """A grid world's or MiniGrid environment's MDP (see :func:`load_mdp`)."""
    if source.startswith("workbench/GridWorld-"):
        import gymnasium as gym

        import environments  # noqa: F401  (registers the ids)

        if source not in gym.registry:
            raise ValueError(f"unknown grid world {source!r}; see `workbench envs`")
        grid = gym.make(source).unwrapped.mdp
        mdp = HorizonMDP.from_tabular(grid, horizon or grid.horizon)
        mdp.name = source
        return mdp
    if source.startswith("MiniGrid-"):
        from workbench.horizon.minigrid import MINIGRID_HORIZON, tabularize_cached

        return tabularize_cached(source, horizon=horizon or MINIGRID_HORIZON, progress=progress)
    raise ValueError(
        f"{source!r} is not a BRIDGE .npz file, a workbench/GridWorld-* id or a MiniGrid-* id"
    )


__all__ = [
    "ANALYSIS_PARTS",
    "ANALYZE_PARTS",
    "BOUND_UNDEFINED",
    "PAGE_PARTS",
    "REWARD_PRECISION",
    "EffectiveHorizonBound",
    "HorizonAnalysis",
    "HorizonMDP",
    "LookaheadResult",
    "MDPFormatError",
    "NamedProgress",
    "NotEnoughMemory",
    "Progress",
    "ValueFunctions",
    "analyze",
    "bellman_backup",
    "check_mdp_memory",
    "effective_horizon_bound",
    "effective_planning_window",
    "greedy_returns",
    "load_mdp",
    "lookahead_map",
    "memory_limit",
    "min_k",
    "value_functions",
]
