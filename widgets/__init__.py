"""Panel components (``pn.viewable.Viewer``) that draw runs and analyses; they never train.

Laid out by subject: ``widgets.common`` holds the building blocks every page uses, and each
page has its subpackage (``runs``, ``gallery``, ``skills``, ``hilbert``, ``curricula``,
``landscapes``, ``sweeps``, ``horizon``) with its
page view and its parts. ``widgets.dashboard`` composes the pages into the served app; it is
imported only when the dashboard is served, never from here.
"""

import holoviews as hv
import holoviews.plotting.bokeh  # registers the bokeh backend without notebook output

# Our charts are bokeh charts. Loading the backend this way, not with hv.extension, keeps
# notebooks off the CDN (hv.extension fetches a module shim from one).
hv.Store.set_current_backend("bokeh")
# Canvas, not WebGL: our plots hold thousands of points at most, which a 2-D canvas draws at
# once, while WebGL copies every plot from a shared GL canvas at each repaint. Without a GPU
# (a classroom laptop, a headless browser) that copy ran in software and took half of a busy
# Skills page's time in the browser.
hv.renderer("bokeh").webgl = False

from widgets.common import (  # noqa: E402
    LiveSession,
    ObjectivePanel,
    RunControls,
    ScalarChart,
    SnapshotView,
    SurfaceView,
)
from widgets.curricula import CurriculaView, TaskSpaceView  # noqa: E402
from widgets.gallery import EnvironmentCard, EnvironmentGallery, LiveRollout  # noqa: E402
from widgets.hilbert import GoalDistance, HilbertMap, HilbertView, RewardPrompt  # noqa: E402
from widgets.horizon import (  # noqa: E402
    BoundChart,
    DiscountSweepView,
    HorizonSweep,
    HorizonView,
    LookaheadMap,
    SampleComplexity,
    StatePicture,
)
from widgets.landscapes import (  # noqa: E402
    HeatMap,
    LandscapeMaps,
    LandscapesView,
    RewardEditor,
)
from widgets.runs import RolloutView, RunsPage, RunsTable, RunView  # noqa: E402
from widgets.skills import LatentMap, SkillPicker, SkillsView, SkillTrajectories  # noqa: E402
from widgets.sweeps import (  # noqa: E402
    LineageView,
    ParallelCoordinates,
    SeedStatisticsView,
    SweepsView,
    TrialsTable,
)

__all__ = [
    "BoundChart",
    "CurriculaView",
    "DiscountSweepView",
    "EnvironmentCard",
    "EnvironmentGallery",
    "GoalDistance",
    "HeatMap",
    "HilbertMap",
    "HilbertView",
    "HorizonSweep",
    "HorizonView",
    "LandscapeMaps",
    "LandscapesView",
    "LatentMap",
    "LineageView",
    "LiveRollout",
    "LiveSession",
    "LookaheadMap",
    "ObjectivePanel",
    "ParallelCoordinates",
    "RewardEditor",
    "RewardPrompt",
    "RolloutView",
    "RunControls",
    "RunView",
    "RunsPage",
    "RunsTable",
    "SampleComplexity",
    "ScalarChart",
    "SeedStatisticsView",
    "SkillPicker",
    "SkillTrajectories",
    "SkillsView",
    "SnapshotView",
    "StatePicture",
    "SurfaceView",
    "SweepsView",
    "TaskSpaceView",
    "TrialsTable",
]
