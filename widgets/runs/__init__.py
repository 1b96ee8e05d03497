"""The Live page (one run: controls, chart, objective, rollout) and the Runs page (the table
of runs, and an overlay of the selected ones)."""

from widgets.runs.page import RunsPage
from widgets.runs.rollout_view import RolloutView
from widgets.runs.run_view import RunView
from widgets.runs.runs_table import RunsTable

__all__ = ["RolloutView", "RunView", "RunsPage", "RunsTable"]
