"""Effective-horizon analyses (Laidlaw, Russell and Dragan): exact figures of tabular
MDPs, from the workbench's grid worlds, MiniGrid environments or BRIDGE npz files."""

from __future__ import annotations

from pathlib import Path

from workbench.horizon.analysis import (
    REWARD_PRECISION,
    EffectiveHorizonBound,
    HorizonAnalysis,
    LookaheadResult,
    ValueFunctions,
    analyze,
    bellman_backup,
    effective_horizon_bound,
    effective_planning_window,
    lookahead_map,
    min_k,
    value_functions,
)
from workbench.horizon.mdp import HorizonMDP, MDPFormatError

DEFAULT_HORIZON = 100  # BRIDGE's horizon for MiniGrid


def load_mdp(source: str, horizon: int | None = None) -> HorizonMDP:
    """The MDP that ``source`` names: a BRIDGE ``.npz`` file, a ``workbench/GridWorld-*``
    id (its own horizon unless ``horizon`` is given) or a ``MiniGrid-*`` id (tabularized,
    cached on disk)."""
    if source.endswith(".npz"):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"no BRIDGE file {path}")
        return HorizonMDP.load_bridge(path, horizon or DEFAULT_HORIZON)
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
        from environments.minigrid_tabular import tabularize_cached

        return tabularize_cached(source, horizon=horizon or DEFAULT_HORIZON)
    raise ValueError(
        f"{source!r} is not a BRIDGE .npz file, a workbench/GridWorld-* id or a MiniGrid-* id"
    )


__all__ = [
    "DEFAULT_HORIZON",
    "REWARD_PRECISION",
    "EffectiveHorizonBound",
    "HorizonAnalysis",
    "HorizonMDP",
    "LookaheadResult",
    "MDPFormatError",
    "ValueFunctions",
    "analyze",
    "bellman_backup",
    "effective_horizon_bound",
    "effective_planning_window",
    "load_mdp",
    "lookahead_map",
    "min_k",
    "value_functions",
]
