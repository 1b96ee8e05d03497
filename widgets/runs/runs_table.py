"""The runs table: one row per run (name, trainer, state, progress, latest metrics and the
knobs that tell runs apart), sortable and filterable; the selected rows are overlaid."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import panel as pn
import param

from widgets.common.live import LiveSession
from widgets.common.scalar_chart import HEADLINE_METRICS
from widgets.common.tabulator_guard import TabulatorPatchGuard
from workbench.runs import RunRecord

# Knobs never shown as columns: the environment has its own column, and these tell nothing
# about a run's results.
HIDDEN_KNOBS = {"env_id", "device", "checkpoint_every", "eval_every", "total_timesteps"}

MIN_COLUMN_WIDTH = 92
"""Pixels: a column title's longest word and its sort arrow ("environment" has its own)."""

# A filter over the distinct values of a column, picked from a list (Tabulator's own).
LIST_FILTER = {"type": "list", "valuesLookup": True, "clearable": True, "func": "="}


def _significant(value: float | None, digits: int = 4) -> float | None:
    """Round to ``digits`` significant digits: a column of 1.2345678e-05 is unreadable."""
    if value is None or pd.isna(value) or value == 0:
        return value
    return float(f"{value:.{digits}g}")


def varying_knobs(runs: list[RunRecord]) -> list[str]:
    """Knobs whose values differ between runs of one trainer, in config order: the knobs
    that tell runs apart (the others say the same thing on every row)."""
    by_trainer: dict[str, list[RunRecord]] = defaultdict(list)
    for run in runs:
        by_trainer[run.trainer].append(run)
    knobs: list[str] = []
    for group in by_trainer.values():
        for knob in group[0].config:
            if knob in HIDDEN_KNOBS or knob in knobs:
                continue
            values = {repr(run.config.get(knob)) for run in group}
            if len(values) > 1:
                knobs.append(knob)
    return knobs


class RunsTable(pn.viewable.Viewer):
    """Every run in the store, one row each, newest first; select rows to compare them."""

    selection = param.List(default=[], item_type=str, doc="Ids of the selected runs.")
    refresh_every = param.Integer(
        default=4, bounds=(1, None), doc="Session ticks between re-reads."
    )
    max_knob_columns = param.Integer(
        default=5,
        bounds=(0, None),
        doc="At most this many knob columns (those that differ between runs of one trainer), "
        "so that the table fits the page without scrolling sideways.",
    )

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        frame = self._frame()
        self.table = pn.widgets.Tabulator(
            frame,
            selectable="checkbox",
            disabled=True,
            show_index=False,
            hidden_columns=["id"],  # runs are named; the id is in the Live page's picker
            header_filters={
                "name": {"type": "input", "func": "like", "placeholder": "filter"},
                "trainer": LIST_FILTER,
                "state": LIST_FILTER,
            },
            titles=self._titles(frame),
            # Columns share the width: no sideways scrolling; long names are cut with an
            # ellipsis, and their full text is the cell's tooltip. Columns that would be
            # narrower than their title's longest word are hidden, the rightmost (knobs)
            # first, instead of squeezed unreadable.
            layout="fit_columns",
            widths={"name": 220, "environment": 140},
            configuration=self._configuration(),
            # Panel adds a 1 px column at the end (for its popups) and zeroes its padding, but
            # the Bootstrap theme's more specific padding wins: every row was 9 px wider than
            # the table, which then scrolled sideways.
            stylesheets=[
                ".tabulator.table-sm .tabulator-tableholder .tabulator-table .tabulator-row"
                " .tabulator-cell.empty { padding: 0 !important; border: 0 !important; }"
            ],
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
        runs = list(reversed(store.list_runs()))
        names = {run.id: run.name for run in runs}
        knobs = varying_knobs(runs)[: self.max_knob_columns]
        latest = {run.id: store.last_scalars(run.id) for run in runs}
        # Each trainer's headline metric is a column when any run logs it (its full name is the
        # column's tooltip).
        metrics = [m for m in HEADLINE_METRICS if any(m in values for values in latest.values())]
        rows = []
        for run in runs:
            row = {
                "id": run.id,
                "name": run.name,
                "trainer": run.trainer,
                "state": run.state,
                "step": run.step,
                "environment": _environment(run.config.get("env_id", "")),
                "forked from": names.get(run.parent_id, run.parent_id or ""),
            }
            row |= {m: _significant(latest[run.id].get(m)) for m in metrics}
            row |= {k: _knob_text(run.config.get(k)) for k in knobs}
            rows.append(row)
        columns = ["id", "name", "trainer", "state", "step", "environment", "forked from"]
        frame = pd.DataFrame(rows, columns=[*columns, *metrics, *knobs])
        # Knob cells as the run has them (a width of 64, not 64.0 beside an empty cell).
        for knob in knobs:
            frame[knob] = pd.Series([row[knob] for row in rows], dtype=object)
        return frame

    @staticmethod
    def _configuration() -> dict:
        """Tabulator's options: tooltips, wrapped titles, and a least width under which a
        column is hidden. (Per column it would spare the selection boxes' column, but
        Panel 1.9 merges per-column options one column off when rows are selectable.)"""
        return {
            "responsiveLayout": "hide",
            "columnDefaults": {
                "tooltip": True,
                "headerTooltip": True,
                "headerWordWrap": True,
                "resizable": False,
                "minWidth": MIN_COLUMN_WIDTH,
            },
        }

    @staticmethod
    def _titles(frame: pd.DataFrame) -> dict[str, str]:
        # Spaces let a narrow column's title wrap instead of being cut.
        return {c: HEADLINE_METRICS.get(c, c.replace("_", " ")) for c in frame.columns}

    def _selected(self, event: param.parameterized.Event) -> None:
        frame = self.table.value
        self.selection = [frame["id"].iloc[i] for i in event.new if i < len(frame)]

    def refresh(self) -> None:
        self._ticks += 1
        if self._ticks % self.refresh_every:
            return
        frame = self._frame()
        if frame.equals(self.table.value):
            return
        shown = self.table.value
        if frame.dtypes.equals(shown.dtypes) and frame["id"].equals(shown["id"]):
            # The same runs, some cells changed (a step, a state): patch those cells. The
            # page's TabulatorPatchGuard redraws them in place; a new value would build every
            # row anew, and a checkbox clicked meanwhile would be lost.
            self.table.patch(_changed_cells(shown, frame), as_index=False)
        else:
            selected = set(self.selection)
            titles = self._titles(frame)
            if titles != self.table.titles:  # a metric or knob column came or went
                self.table.titles = titles
            self.table.value = frame
            self.table.selection = [i for i, run_id in enumerate(frame["id"]) if run_id in selected]

    def __panel__(self) -> pn.viewable.Viewable:
        # Cells are patched while a dynamic tab or a new session may be building the table.
        # The guard comes first, for a notebook; a dashboard loads one with the page.
        return pn.Column(TabulatorPatchGuard(), self.table, sizing_mode="stretch_width", margin=0)


def _changed_cells(old: pd.DataFrame, new: pd.DataFrame) -> dict[str, list[tuple[int, object]]]:
    """Tabulator's patch of ``old`` into ``new`` (same shape): per column, (row, value) of the
    cells that differ. Two empty cells (NaN, None) are the same."""
    patch = {}
    for column in new.columns:
        before, after = old[column], new[column]
        same = (before == after) | (before.isna() & after.isna())
        rows = [i for i in range(len(new)) if not same.iloc[i]]
        if rows:
            patch[column] = [(i, after.iloc[i]) for i in rows]
    return patch


def _knob_text(value: object) -> object:
    """A knob's value as a cell: numbers stay numbers (sortable), the rest is text, and a
    knob the run does not have (another trainer's) is an empty cell."""
    if value is None or isinstance(value, int | float | str):
        return value
    return repr(value)


def _environment(env_id: object) -> str:
    """An environment id without the package prefix and version: 'PointMaze-UMaze'."""
    name = str(env_id or "").removeprefix("workbench/")
    return name.rsplit("-v", 1)[0] if name.rsplit("-v", 1)[-1].isdigit() else name
