"""Panel components (``pn.viewable.Viewer``) that draw runs and analyses; they never train."""

from widgets.environment_gallery import EnvironmentCard, EnvironmentGallery
from widgets.live_rollout import LiveRollout

__all__ = ["EnvironmentCard", "EnvironmentGallery", "LiveRollout"]
