"""How far a run is, how fast it goes, how long it has left, and what its trainer is doing
now (building a dataset, filling a buffer): the answer to "is anything happening?"."""

from __future__ import annotations

import time
from collections import deque

import panel as pn
import param

from workbench.runs import RunRecord, RunStore
from workbench.runs.trainer import resolve_trainer


def run_length(record: RunRecord) -> int | None:
    """The number of steps ``record``'s run trains for, from its trainer's length knob."""
    try:
        knob = resolve_trainer(record.trainer).length_knob
    except (KeyError, ImportError, AttributeError, TypeError):
        return None  # a user's trainer we cannot import here: no percentage, nothing worse
    length = record.config.get(knob)
    return int(length) if isinstance(length, int | float) and length > 0 else None


def duration(seconds: float) -> str:
    """``40 s``, ``12 min``, ``3.5 h``: rounded as a person says a wait."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


class StepRate:
    """Steps per second over the last ``window`` seconds of observed (time, step) pairs."""

    def __init__(self, window: float = 30.0) -> None:
        self.window = window
        self.samples: deque[tuple[float, int]] = deque()

    def observe(self, step: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self.samples and step < self.samples[-1][1]:
            self.samples.clear()  # a rollback or another run: old samples say nothing
        if not self.samples or step != self.samples[-1][1]:
            self.samples.append((now, step))
        while len(self.samples) > 2 and now - self.samples[1][0] > self.window:
            self.samples.popleft()

    def clear(self) -> None:
        self.samples.clear()

    @property
    def per_second(self) -> float | None:
        """None until two distinct steps at least a second apart were seen."""
        if len(self.samples) < 2:
            return None
        (t0, s0), (t1, s1) = self.samples[0], self.samples[-1]
        return (s1 - s0) / (t1 - t0) if t1 - t0 >= 1.0 else None


class RunProgress(pn.viewable.Viewer):
    """A progress bar and one line: percent done, speed, time left and the trainer's latest
    note. Fed by its owner's refresh (``show``), so the run is read once per tick."""

    run_id = param.String(default="", doc="Run shown.")
    rate_window = param.Number(
        default=30.0, bounds=(2.0, 600.0), doc="Seconds of recent progress the speed is from."
    )

    def __init__(self, store: RunStore, **params) -> None:
        super().__init__(**params)
        self.store = store
        self.bar = pn.indicators.Progress(
            value=0, max=1000, bar_color="info", sizing_mode="stretch_width", height=12,
            css_classes=["run-progress-bar"],
        )  # fmt: skip
        self.text = pn.widgets.StaticText(value="", css_classes=["run-progress"])
        self.rate = StepRate(self.rate_window)
        self._note = ""  # the trainer's latest log line
        self._note_cursor = 0

    @param.depends("run_id", watch=True)
    def _forget(self) -> None:
        self.rate.clear()
        self._note, self._note_cursor = "", 0

    def _read_note(self) -> None:
        for rowid, _, _, payload in self.store.events(self.run_id, "log", self._note_cursor):
            self._note, self._note_cursor = str(payload.get("text", "")), rowid

    def show(self, record: RunRecord) -> None:
        """Update from ``record``, the run's row read this tick."""
        self._read_note()
        self.rate.observe(record.step)
        length = run_length(record)
        done = min(record.step / length, 1.0) if length else None
        self.bar.value = round(1000 * done) if done is not None else -1  # -1: indeterminate
        self.bar.active = record.state == "running" and done is None
        self.text.value = self.describe(record, length)

    def describe(self, record: RunRecord, length: int | None) -> str:
        if length:
            parts = [f"{record.step:,} of {length:,} steps ({100 * record.step / length:.0f}%)"]
        else:
            parts = [f"{record.step:,} steps"]
        if record.state == "running":
            speed = self.rate.per_second
            if speed is None:
                parts.append("measuring speed")
            elif speed > 0:
                parts.append(f"{speed:,.0f} steps/s")
                if length and record.step < length:
                    parts.append(f"about {duration((length - record.step) / speed)} left")
            else:
                parts.append("no new steps in the last seconds")
            if record.step == 0 and not self._note:
                parts.append("starting the trainer (loading torch and the environment)")
        elif record.state != "created":
            parts.append(record.state)
        if self._note and record.state in ("running", "paused"):
            parts.append(f"trainer: {self._note}")
        return " · ".join(parts)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.bar, self.text, sizing_mode="stretch_width")
