"""One periodic callback per browser session, draining new events from the run store.

Views register with the session; every ``period_ms`` the session calls each view's
``refresh()`` inside ``pn.io.hold()``, so a burst of updates reaches the browser as one
message. Views read incrementally (each keeps the last row it saw) and push into bounded
HoloViews ``Buffer``/``Pipe`` streams. Nothing here trains, and the trainer never calls in.
"""

from __future__ import annotations

from typing import Protocol

import panel as pn

from workbench.runs import RunStore


class LiveView(Protocol):
    def refresh(self) -> None: ...


class LiveSession:
    """The refresh loop of one browser session (or one notebook)."""

    def __init__(self, store: RunStore | None = None, period_ms: int = 500) -> None:
        self.store = store or RunStore()
        self.period_ms = period_ms
        self.views: list[LiveView] = []
        self._callback: pn.io.PeriodicCallback | None = None
        self._starting = False

    def register(self, view: LiveView) -> None:
        self.views.append(view)
        self.start()

    def start(self) -> None:
        """Start refreshing once the page has loaded (at once in a notebook). A session
        whose browser never connects (a bare HTTP GET) must not refresh: its plots would
        reschedule their redraws forever, waiting for a document that never loads."""
        if self._callback is None and not self._starting:
            self._starting = True
            pn.state.onload(self._start_now)

    def _start_now(self) -> None:
        if self._callback is None or not self._callback.running:
            self._callback = pn.state.add_periodic_callback(self.refresh, period=self.period_ms)

    def stop(self) -> None:
        if self._callback is not None:
            self._callback.stop()

    def refresh(self) -> None:
        with pn.io.hold():
            for view in self.views:
                view.refresh()
