"""The Landscapes page: what an agent is paid for over the state space (the reward in force,
an edited one, the critic's values), how far an edit moves the task (EPIC), and the return
around the policy's parameters (reward surfaces, ``widgets.common.SurfaceView``)."""

from widgets.landscapes.heat_map import HeatMap
from widgets.landscapes.page import LandscapesView
from widgets.landscapes.reward_editor import RewardEditor
from widgets.landscapes.state_maps import LandscapeMaps

__all__ = ["HeatMap", "LandscapeMaps", "LandscapesView", "RewardEditor"]
