"""A level teacher's buffer (PLR, robust PLR, ACCEL): the levels it replays from with their
scores, staleness and replay probabilities, and pictures of the highest-scoring levels."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource
from bokeh.plotting import figure as BokehFigure

from widgets.common.live import LiveSession
from widgets.common.plotting import rgba_image

BUFFER_COLUMNS = ["level", "score", "staleness", "probability", "visits"]


def buffer_frame(snapshot: dict[str, np.ndarray]) -> pd.DataFrame:
    """The teacher's buffer as a table, highest replay probability first. A level is its
    seed (PLR) or, for ACCEL's layouts, the seed it was generated from (edited levels are
    marked with an asterisk)."""
    scores = snapshot.get("teacher/scores", np.zeros(0))
    count = len(scores)
    seeds = snapshot.get("teacher/level_seeds", snapshot.get("teacher/levels", np.zeros(count)))
    edited = snapshot.get("teacher/edited", np.zeros(count, dtype=bool)).astype(bool)
    names = [
        f"{int(seed)}{'*' if e else ''}" for seed, e in zip(seeds[:count], edited, strict=True)
    ]
    frame = pd.DataFrame(
        {
            "level": names,
            "score": np.round(scores, 4),
            "staleness": snapshot.get("teacher/staleness", np.zeros(count)).astype(int),
            "probability": np.round(snapshot.get("teacher/probabilities", np.zeros(count)), 4),
            "visits": snapshot.get("teacher/visits", np.zeros(count)).astype(int),
        }
    )
    return frame.sort_values("probability", ascending=False, ignore_index=True)


class LevelBufferView(pn.viewable.Viewer):
    """The latest ``curriculum`` snapshot of a level run: a sortable table of the buffer,
    its replay distribution (sorted), the top-scoring levels drawn, and the counts of new,
    replayed and edited levels so far."""

    run_id = param.String(default="", doc="Run shown.")
    top = param.Integer(
        default=4, bounds=(1, 32), doc="Top-scoring levels drawn (four fill the column)."
    )
    min_interval = param.Number(
        default=1.0, bounds=(0.0, None), doc="Seconds between two redraws, at least."
    )

    def __init__(self, session: LiveSession, **params) -> None:
        super().__init__(**params)
        self.session = session
        self._cursor, self._drawn_at = 0, -np.inf
        self.caption = pn.widgets.StaticText(
            label="level buffer", value="none yet", css_classes=["level-buffer-caption"]
        )
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(columns=BUFFER_COLUMNS), height=300, width=440, disabled=True,
            show_index=False, pagination=None, layout="fit_columns",
            css_classes=["level-buffer-table"],
        )  # fmt: skip
        self._distribution = ColumnDataSource({"rank": [], "probability": []})
        distribution = BokehFigure(
            height=180, width=440, toolbar_location=None, title="replay distribution, sorted",
            x_axis_label="levels by probability", y_axis_label="probability",
        )  # fmt: skip
        distribution.vbar("rank", top="probability", width=0.9, source=self._distribution)
        self._distribution_pane = pn.pane.Bokeh(distribution)
        self.pictures = pn.Row(css_classes=["top-levels"])
        session.register(self)
        self._new_run()

    @param.depends("run_id", watch=True)
    def _new_run(self) -> None:
        self._cursor, self._drawn_at = 0, -np.inf
        self.caption.value = "none yet"
        self.refresh()

    def refresh(self) -> None:
        if not self.run_id or time.monotonic() - self._drawn_at < self.min_interval:
            return
        store = self.session.store
        new = store.snapshots(self.run_id, "curriculum", after_rowid=self._cursor)
        if not new:
            return
        self._cursor, step = new[-1]
        self._drawn_at = time.monotonic()
        data = store.load_snapshot(self.run_id, "curriculum", step)
        if "teacher/scores" not in data:
            return  # a run of goals, not levels
        self.table.value = buffer_frame(data)
        probabilities = np.sort(data.get("teacher/probabilities", np.zeros(0)))[::-1]
        self._distribution.data = {
            "rank": np.arange(len(probabilities)),
            "probability": probabilities,
        }
        scores = data.get("top_scores", np.zeros(0))
        self.pictures.objects = [
            self._picture(level, score)
            for level, score in zip(data.get("top_levels", ())[: self.top], scores, strict=False)
        ]
        new_levels, replayed, edited = (int(c) for c in data.get("teacher/counts", (0, 0, 0)))
        solved = data.get("test_success", np.zeros(0))
        held_out = f", held-out levels solved {solved.mean():.0%}" if len(solved) else ""
        self.caption.value = (
            f"step {step}: {len(data['teacher/scores'])} levels in the buffer; "
            f"{new_levels} new, {replayed} replayed, {edited} edited{held_out}"
        )
        if self.session.in_notebook:
            pn.io.push_notebook(self._distribution_pane)

    @staticmethod
    def _picture(level: np.ndarray, score: float) -> pn.pane.Bokeh:
        height, width = level.shape[:2]
        figure = BokehFigure(
            width=110, height=110, x_range=(0, width), y_range=(0, height),
            toolbar_location=None, title=f"score {score:.3f}",
        )  # fmt: skip
        figure.image_rgba(image=[rgba_image(level)], x=0, y=0, dw=width, dh=height)
        figure.axis.visible = False
        figure.grid.visible = False
        figure.title.text_font_size = "9pt"
        return pn.pane.Bokeh(figure)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self.caption,
            pn.pane.Markdown(
                "**Highest-scoring levels** (the teacher replays where it scores high)"
            ),
            self.pictures,
            self.table,
            self._distribution_pane,
        )
