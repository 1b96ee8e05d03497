"""The base of views that draw a run's latest snapshot of one name."""

from __future__ import annotations

import time

import holoviews as hv
import numpy as np
import panel as pn
import param

from widgets.common.live import LiveSession
from widgets.common.plotting import figure_pane


class SnapshotView(pn.viewable.Viewer):
    """Shows the latest snapshot ``snapshot_name`` of a run, redrawn as new ones arrive.

    The figure is built once per run; each new snapshot goes through a ``Pipe`` into a
    ``DynamicMap`` of a fixed set of glyphs, so the browser receives new data for existing
    glyphs, never a new figure. Snapshots arriving faster than ``min_interval`` seconds
    are skipped: the latest one is drawn at the next chance.
    """

    run_id = param.String(default="", doc="Run shown.")
    size = param.Integer(default=280, bounds=(100, 2000), doc="Plot width in pixels.")
    min_interval = param.Number(
        default=2.0, bounds=(0.0, None), doc="Seconds between two redraws, at least."
    )
    snapshot_name = ""

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self._cursor, self._drawn_at = 0, -np.inf
        self.caption = pn.widgets.StaticText(
            label=self.snapshot_name,
            value="none yet",
            css_classes=[f"{self.snapshot_name}-caption"],
        )
        self._pipe = hv.streams.Pipe(data=None)
        self._pane = figure_pane(self._figure(), css_classes=[f"{self.snapshot_name}-view"])
        session.register(self)

    @param.depends("run_id", watch=True)
    def _new_run(self) -> None:
        self._cursor, self._drawn_at = 0, -np.inf
        self._pipe = hv.streams.Pipe(data=None)
        self._pane.object = self._figure()
        self.caption.value = "none yet"
        self.refresh()

    def refresh(self) -> None:
        if not self.run_id or time.monotonic() - self._drawn_at < self.min_interval:
            return
        store = self.session.store
        new = store.snapshots(self.run_id, self.snapshot_name, after_rowid=self._cursor)
        if new:
            self._cursor, step = new[-1]
            self._drawn_at = time.monotonic()
            data = store.load_snapshot(self.run_id, self.snapshot_name, step)
            problem = self.problem(data)
            if problem:  # keep the last good picture, and say why it is not redrawn
                self.caption.value = f"step {step}: {problem}; not drawn"
                return
            self.caption.value = f"step {step}"
            self._pipe.send(data)

    @staticmethod
    def problem(data: dict[str, np.ndarray]) -> str | None:
        """Why this snapshot cannot be drawn, or None."""
        return None

    def _figure(self) -> hv.Overlay | hv.DynamicMap:
        """The plot of this run, fed by the pipe."""
        raise NotImplementedError

    def _discrete_skills(self) -> bool | None:
        """Whether the run's skills are one-hot (None without a run: guessed from values)."""
        if not self.run_id:
            return None
        return self.session.store.get_run(self.run_id).config.get("skill_type") == "discrete"

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.caption, self._pane)
