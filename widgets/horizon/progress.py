"""What an analysis in a thread is computing now, how much of it is done and how long it
has left: a progress bar and the owner's status line, fed by the engine's progress
callbacks (:mod:`workbench.horizon.progress`).

The engine reports far more often than anyone reads (every sweep point, learner run or
256 states), so counts within one part are redrawn at most once per ``interval``; a new
part is drawn at once (there are a handful), so the line never names a part already
over. Only the worker thread writes (no timer thread to draw a held-back count), so
nothing it wrote earlier can arrive after the final status.

On a served page the worker's changes are applied in the session's next tick, the status
line and the bar together in one message: set from the thread one widget at a time, a
page under load once showed the final status beside a bar still moving.
"""

from __future__ import annotations

import math
import time
from typing import Literal

import panel as pn
import param
from panel.io.document import unlocked

from widgets.common.run_progress import StepRate, duration
from widgets.common.threads import on_next_tick
from workbench.horizon.progress import Progress

TotalKind = Literal["exact", "at most", "so far"]
"""What a total is: known in advance, an upper bound that shrinks as the work ends early
(a bisection), or a count so far that grows (states found by a breadth-first search)."""


def describe(
    what: str,
    done: int | None = None,
    total: int | None = None,
    kind: TotalKind = "exact",
    unit: str = "",
    speed: float | None = None,
    estimate: bool = True,
) -> str:
    """One line: what is computed now and, with counts, how far it is and (with
    ``estimate``, once the speed in units per second is known) about how long it has
    left."""
    if done is None or total is None:
        return f"{what}..."
    percent = 100.0 if total <= 0 else 100.0 * min(done / total, 1.0)
    unit = f" {unit}" if unit else ""
    if kind == "so far":
        counts = f"{done:,}{unit} of {total:,} found so far ({percent:.0f}%)"
    else:
        bound = "at most " if kind == "at most" else ""
        counts = f"{done:,} of {bound}{total:,}{unit} ({percent:.0f}%)"
    parts = [f"{what}: {counts}"]
    # A growing total has no honest time left: the work ahead is not known yet.
    if estimate and done < total and kind != "so far":
        if speed is None:
            parts.append("estimating time left")
        elif speed > 0:
            left = duration((total - done) / speed)
            parts.append(f"up to about {left} left" if kind == "at most" else f"about {left} left")
    return " · ".join(parts)


class WorkProgress(pn.viewable.Viewer):
    """A progress bar (moving while work runs, full after) and the owner's status line, which it
    writes: ``begin`` new work, ``report`` (or the engine calls a ``reporter``) as it
    goes, ``finish`` with the final status; all from the one thread doing the work."""

    interval = param.Number(
        default=0.25, bounds=(0.0, 10.0),
        doc="Fewest seconds between two redraws: a browser needs no more than a few a second.",
    )  # fmt: skip
    rate_window = param.Number(
        default=30.0, bounds=(2.0, 600.0),
        doc="Seconds of recent progress the speed, and so the time left, is measured over.",
    )  # fmt: skip

    def __init__(self, status: pn.widgets.StaticText, css_class: str = "work-progress", **params):
        super().__init__(**params)
        self.status = status
        # The bar stays in the layout, full when idle: hiding and showing it from the
        # worker thread made a served page render the status line twice, and from then
        # on the browser showed none of its changes (the final status included).
        self.bar = pn.indicators.Progress(
            value=0, max=1000, bar_color="info", height=8,
            sizing_mode="stretch_width", css_classes=[css_class],
        )  # fmt: skip
        self.rate = StepRate(self.rate_window)
        self.label = ""
        self._what: str | None = None
        self._shown_at = -math.inf
        self._value = 0  # the bar's value as last drawn (it reaches the widget a tick later)
        self._document = pn.state.curdoc  # the session this page was built in, if served

    def begin(self, label: str) -> None:
        """New work, whose lines start with ``label`` (the MDP's name, say)."""
        self.label, self._what, self._shown_at = label, None, -math.inf
        self.rate.clear()
        self._draw(None, value=-1, active=True)

    def report(
        self,
        what: str,
        done: int | None = None,
        total: int | None = None,
        kind: TotalKind = "exact",
        unit: str = "",
        estimate: bool = True,
    ) -> None:
        """What is computed now and, where it has countable parts, how many are done;
        ``estimate``: whether the parts take alike long, so that their speed tells the
        time left."""
        new_part = what != self._what
        if new_part:
            self._what = what
            self.rate.clear()  # another part's speed says nothing about this one
        if done is not None:
            self.rate.observe(done)
        now = time.monotonic()
        if not new_part and now - self._shown_at < self.interval:
            return  # a count a moment after the last one drawn: the next one will do
        text = describe(what, done, total, kind, unit, self.rate.per_second, estimate)
        counted = done is not None and total is not None
        value = (1000 if total <= 0 else round(1000 * min(done / total, 1.0))) if counted else -1
        self._shown_at = now
        self._draw(f"{self.label}: {text}" if self.label else text, value, active=value < 0)

    def reporter(self, what: str, unit: str = "", kind: TotalKind = "exact") -> Progress:
        """A ``progress(done, total)`` callback for an engine function, reporting
        ``what``."""
        return lambda done, total: self.report(what, done, total, kind, unit)

    def finish(self, text: str) -> None:
        """The work is over: ``text`` in the status line, the bar full and still."""
        self._what = None
        self._draw(text, value=1000, active=False)

    def stop(self) -> None:
        """The work ended, maybe without a final status (it failed: its owner says how);
        the bar stops where it was (a failure is not shown as done)."""
        self._what = None
        self._draw(None, value=max(self._value, 0), active=False)

    def _draw(self, status: str | None, value: int, active: bool) -> None:
        """Show ``status`` (None: keep the line) and the bar at ``value``; on a served page
        in the session's next tick, both in one message."""
        self._value = value

        def change() -> None:
            with unlocked():  # the changes below go out as one message
                if status is not None:
                    self.status.value = status
                self.bar.param.update(value=value, active=active)

        on_next_tick(change, self._document)

    def __panel__(self) -> pn.viewable.Viewable:
        return self.bar
