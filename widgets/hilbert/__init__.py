"""The Hilbert page (HILP): the maze through phi, learned against true distance from a
clicked point, reward prompts, and the page that composes them with the run's charts."""

from widgets.hilbert.goal_distance import GoalDistance
from widgets.hilbert.hilbert_map import HilbertMap
from widgets.hilbert.page import HilbertView
from widgets.hilbert.reward_prompt import RewardPrompt

__all__ = ["GoalDistance", "HilbertMap", "HilbertView", "RewardPrompt"]
