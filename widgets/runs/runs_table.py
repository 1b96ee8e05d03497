"""The runs table: knobs against latest metrics, sortable; the selection is overlaid."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from widgets.common.live import LiveSession

METRICS = ("charts/episodic_return", "eval/return", "losses/mse")


class RunsTable(pn.viewable.Viewer):
    """Every run in the store, one row each; select rows to compare them."""

    selection = param.List(default=[], item_type=str, doc="Ids of the selected runs.")
    refresh_every = param.Integer(
        default=4, bounds=(1, None), doc="Session ticks between re-reads."
    )

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.table = pn.widgets.Tabulator(
            self._frame(),
            selectable="checkbox",
            disabled=True,
            show_index=False,
            pagination="local",
            page_size=15,
            sizing_mode="stretch_width",
            css_classes=["runs-table"],
        )
        self.table.param.watch(self._selected, "selection")
        self._ticks = 0
        session.register(self)

    def _frame(self) -> pd.DataFrame:
        store = self.session.store
        rows = []
        for run in reversed(store.list_runs()):
            latest = store.last_scalars(run.id)
            row = {
                "id": run.id,
                "name": run.name,
                "state": run.state,
                "step": run.step,
                "parent": run.parent_id or "",
            }
            row |= {metric: latest.get(metric) for metric in METRICS if metric in latest}
            row |= {k: v for k, v in run.config.items() if isinstance(v, int | float | str)}
            rows.append(row)
        return pd.DataFrame(rows)

    def _selected(self, event: param.parameterized.Event) -> None:
        frame = self.table.value
        self.selection = [frame["id"].iloc[i] for i in event.new if i < len(frame)]

    def refresh(self) -> None:
        self._ticks += 1
        if self._ticks % self.refresh_every:
            return
        frame = self._frame()
        if not frame.equals(self.table.value):
            selected = set(self.selection)
            self.table.value = frame
            self.table.selection = [i for i, run_id in enumerate(frame["id"]) if run_id in selected]

    def __panel__(self) -> pn.viewable.Viewable:
        return self.table
