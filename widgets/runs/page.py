"""The Runs page: every run in a table, and the selected runs' metrics overlaid."""

from __future__ import annotations

import panel as pn

from widgets.common.live import LiveSession
from widgets.common.scalar_chart import ScalarChart
from widgets.runs.runs_table import RunsTable


class RunsPage(pn.viewable.Viewer):
    """The table of runs above an overlay chart of the rows selected in it."""

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.table = RunsTable(session)
        self.chart = ScalarChart(session, run_ids=[])
        self.table.param.watch(lambda e: setattr(self.chart, "run_ids", e.new), "selection")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.table, self.chart, sizing_mode="stretch_width")
