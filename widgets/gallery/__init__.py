"""The Environments page: a card per registered environment, and a live rollout of one."""

from widgets.gallery.environment_gallery import EnvironmentCard, EnvironmentGallery
from widgets.gallery.live_rollout import LiveRollout

__all__ = ["EnvironmentCard", "EnvironmentGallery", "LiveRollout"]
