"""A reward run's landscape as it trains: the reward in force and the agent's values over
the maze, with the latest evaluation path on both."""

from __future__ import annotations

import time

import numpy as np
import panel as pn
import param

from widgets.common.live import LiveSession
from widgets.common.threads import on_next_tick
from widgets.landscapes.heat_map import HeatMap


class LandscapeMaps(pn.viewable.Viewer):
    """The latest ``landscape`` snapshot of a run (``reward`` and ``value`` maps) and its
    latest ``rollout`` path drawn over both."""

    run_id = param.String(default="", doc="Run shown.")
    size = param.Integer(default=300, bounds=(100, 2000), doc="Width of each map in pixels.")
    min_interval = param.Number(
        default=1.0, bounds=(0.0, None), doc="Seconds between two redraws, at least."
    )

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.reward = HeatMap(
            title="reward in force (random action)",
            value_label="reward",
            css_class="landscape-reward-map",
            size=self.size,
        )
        self.value = HeatMap(
            title="agent's value",
            value_label="value",
            css_class="landscape-value-map",
            size=self.size,
        )
        self.caption = pn.widgets.StaticText(
            label="landscape", value="none yet", css_classes=["landscape-caption"]
        )
        session.register(self)
        self._new_run()

    @param.depends("run_id", watch=True)
    def _run_chosen(self) -> None:
        on_next_tick(self._new_run)  # redraws the figures: in the document's tick

    def _new_run(self) -> None:
        self._cursor, self._rollout_cursor, self._drawn_at = 0, 0, -np.inf
        self.caption.value = "none yet"
        for view in (self.reward, self.value):  # nothing of the previous run stays
            view.clear()
        self.refresh()

    def refresh(self) -> None:
        if not self.run_id or time.monotonic() - self._drawn_at < self.min_interval:
            return
        store = self.session.store
        new = store.snapshots(self.run_id, "landscape", after_rowid=self._cursor)
        rollouts = store.snapshots(self.run_id, "rollout", after_rowid=self._rollout_cursor)
        if not new and not rollouts:
            return
        self._drawn_at = time.monotonic()
        if new:
            self._cursor, step = new[-1]
            data = store.load_snapshot(self.run_id, "landscape", step)
            self.reward.show(data["reward"], data["xs"], data["ys"])
            self.value.show(data["value"], data["xs"], data["ys"])
            formula = bytes(data["formula"]).decode() if "formula" in data else "?"
            self.caption.value = f"step {step}: reward = {formula}"
        if rollouts:
            self._rollout_cursor, step = rollouts[-1]
            path = store.load_snapshot(self.run_id, "rollout", step)
            for view in (self.reward, self.value):
                view.show_path(path["positions"])
                if "goal" in path:
                    view.show_marks(np.asarray(path["goal"])[None], ["#2ca02c"])
        if self.session.in_notebook:
            for view in (self.reward, self.value):
                pn.io.push_notebook(view.pane)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.caption, pn.Row(self.reward, self.value))
