"""Panel components (``pn.viewable.Viewer``) that draw runs and analyses; they never train."""

import holoviews as hv
import holoviews.plotting.bokeh  # registers the bokeh backend without notebook output

# Our charts are bokeh charts. Loading the backend this way, not with hv.extension, keeps
# notebooks off the CDN (hv.extension fetches a module shim from one).
hv.Store.set_current_backend("bokeh")

from widgets.environment_gallery import EnvironmentCard, EnvironmentGallery  # noqa: E402
from widgets.hilbert_view import HilbertView  # noqa: E402
from widgets.hilbert_views import GoalDistance, HilbertMap, RewardPrompt  # noqa: E402
from widgets.live import LiveSession  # noqa: E402
from widgets.live_rollout import LiveRollout  # noqa: E402
from widgets.objective_panel import ObjectivePanel  # noqa: E402
from widgets.rollout_view import RolloutView  # noqa: E402
from widgets.run_controls import RunControls  # noqa: E402
from widgets.run_view import RunView  # noqa: E402
from widgets.runs_table import RunsTable  # noqa: E402
from widgets.scalar_chart import ScalarChart  # noqa: E402
from widgets.skill_views import LatentMap, SkillPicker, SkillTrajectories  # noqa: E402
from widgets.skills_view import SkillsView  # noqa: E402

__all__ = [
    "EnvironmentCard",
    "EnvironmentGallery",
    "GoalDistance",
    "HilbertMap",
    "HilbertView",
    "LatentMap",
    "LiveRollout",
    "LiveSession",
    "ObjectivePanel",
    "RewardPrompt",
    "RolloutView",
    "RunControls",
    "RunView",
    "RunsTable",
    "ScalarChart",
    "SkillPicker",
    "SkillTrajectories",
    "SkillsView",
]
