"""Panel components (``pn.viewable.Viewer``) that draw runs and analyses; they never train."""

from widgets.environment_gallery import EnvironmentCard, EnvironmentGallery

__all__ = ["EnvironmentCard", "EnvironmentGallery"]
