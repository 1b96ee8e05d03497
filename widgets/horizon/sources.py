"""What the Horizon page can analyse: the registered grid worlds, two MiniGrid
environments and uploaded BRIDGE ``.npz`` files."""

from __future__ import annotations

GRIDWORLD_PREFIX = "workbench/GridWorld-"
MINIGRID_SOURCES = ("MiniGrid-Empty-5x5-v0", "MiniGrid-DoorKey-5x5-v0")
DEFAULT_SOURCE = "workbench/GridWorld-FourRooms-v0"
UPLOADED = "uploaded .npz"


def gridworld_sources() -> list[str]:
    """The registered ``workbench/GridWorld-*-v0`` ids."""
    from environments import ENVIRONMENTS

    return [info.id for info in ENVIRONMENTS if info.id.startswith(GRIDWORLD_PREFIX)]
