"""What the Horizon page can analyse: the registered grid worlds, every installed
MiniGrid environment and uploaded BRIDGE ``.npz`` files."""

from __future__ import annotations

GRIDWORLD_PREFIX = "workbench/GridWorld-"
DEFAULT_SOURCE = "workbench/GridWorld-FourRooms-v0"
UPLOADED = "uploaded .npz"


def gridworld_sources() -> list[str]:
    """The registered ``workbench/GridWorld-*-v0`` ids."""
    from environments import ENVIRONMENTS

    return [info.id for info in ENVIRONMENTS if info.id.startswith(GRIDWORLD_PREFIX)]


def all_sources() -> list[str]:
    """The grid worlds, then every installed ``MiniGrid-*`` id (by name)."""
    from workbench.horizon.minigrid import installed_ids

    return [*gridworld_sources(), *installed_ids()]
