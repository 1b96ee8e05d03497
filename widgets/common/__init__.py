"""Building blocks shared by every page: the live session that refreshes views, the scalar
chart, run controls, the objective panel, the snapshot-view base, drawing over a maze, the
reward surface around a run's policy (Skills, Hilbert and Landscapes pages), and work off
the event loop."""

from widgets.common.live import LiveSession
from widgets.common.maze_plot import maze_of_run, over_maze
from widgets.common.objective_panel import ObjectivePanel
from widgets.common.run_controls import RunControls
from widgets.common.scalar_chart import ScalarChart
from widgets.common.snapshot import SnapshotView
from widgets.common.surface_view import SurfaceView
from widgets.common.threads import run_in_thread

__all__ = [
    "LiveSession",
    "ObjectivePanel",
    "RunControls",
    "ScalarChart",
    "SnapshotView",
    "SurfaceView",
    "maze_of_run",
    "over_maze",
    "run_in_thread",
]
