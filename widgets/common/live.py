"""One refresh loop per browser session or notebook, draining new events from the run store.

Views register with the session; every ``period_ms`` the session calls each view's
``refresh()`` inside ``pn.io.hold()``, so a burst of updates reaches the browser as one
message. Views read incrementally (each keeps the last row it saw) and push into bounded
HoloViews ``Buffer``/``Pipe`` streams. Nothing here trains, and the trainer never calls in.
A served session refreshes from a periodic callback on the server's loop; a notebook from a
thread of its own, so that its views move while another cell runs.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import ClassVar, Protocol

import panel as pn
from panel.io.callbacks import PeriodicCallback

from workbench.runs import RunStore

logger = logging.getLogger(__name__)


def _in_notebook_kernel() -> bool:
    """Whether this is a Jupyter kernel outside a served Panel session."""
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        return False
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def _after_this_cell(callback: Callable[[], None]) -> None:
    """Call ``callback`` once, when the notebook cell running now has finished (its output
    rendered included)."""
    from IPython import get_ipython

    events = get_ipython().events

    def once(*_: object) -> None:
        events.unregister("post_run_cell", once)
        callback()

    events.register("post_run_cell", once)


# Seconds after a view is first rendered at which its comm is opened from the kernel. The
# browser must have drawn the output first (that registers the comm's target), and a busy
# machine draws a large view slowly; a comm opened too early is dropped by the browser, so
# later attempts open it again until the browser's own comm gets through.
COMM_OPEN_AFTER = (2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)


def _open_notebook_comms(opened: dict[str, tuple[float, int]]) -> None:
    """Open, from the kernel, the comms of rendered Panel views whose browser-side comm has
    not reached the kernel yet.

    Panel sends a notebook view's updates over a comm that it opens only once the browser's
    own comm message reaches the kernel. Under Run All that message waits in the kernel's
    queue behind every remaining cell, so a view froze until the whole notebook had run.
    This reads Panel's registry of rendered views (``state._views``, ``Viewable._comms``);
    if a Panel release changes them, nothing is opened early and the JupyterLab test fails.
    ``opened`` keeps, per view, when it was first seen and how many attempts were made.
    """
    if not os.environ.get("JPY_SESSION_NAME"):
        # Not a kernel that a Jupyter server started for a notebook in a browser (nbclient,
        # say): no browser has registered the comms' targets, so none may be opened.
        return
    now = time.monotonic()
    for ref, view in list(getattr(pn.state, "_views", {}).items()):
        viewable, comm = view[0], view[-1]
        client_comm = getattr(viewable, "_comms", {}).get(ref, (None, None))[1]
        if comm is None or not hasattr(comm, "init"):
            continue
        if client_comm is not None and getattr(client_comm, "_comm", None) is not None:
            continue  # the browser's comm got through: Panel opened this one itself
        first_seen, attempts = opened.setdefault(ref, (now, 0))
        if attempts < len(COMM_OPEN_AFTER) and now - first_seen >= COMM_OPEN_AFTER[attempts]:
            comm.init()
            opened[ref] = (first_seen, attempts + 1)


def quiet_periodic_callback(callback: Callable[[], None], period_ms: int) -> PeriodicCallback:
    """A periodic callback of this session that does not set Panel's process-wide ``busy``
    flag. Panel's own (``pn.state.add_periodic_callback``) sets it at every tick, and every
    session's busy indicator follows that flag: with many sessions each tick of each one
    sent an update to all the others, and eight pages cost the trainer two thirds of its
    speed. Stopped when the session ends."""
    periodic = PeriodicCallback(callback=callback, period=period_ms, background=True, log=False)
    periodic.start()
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        pn.state.on_session_destroyed(lambda _: periodic.stop())
    return periodic


class LiveView(Protocol):
    def refresh(self) -> None: ...


class LiveSession:
    """The refresh loop of one browser session (or one notebook)."""

    # Seconds of plot redrawing the server may spend per shown session and second: a plot
    # redraw (HoloViews builds the figure's update) costs tens of milliseconds, so with many
    # sessions each redraws less often (see ``redraw_interval``), and the trainer sharing
    # the server's cores keeps its speed.
    REDRAWS_PER_SECOND = 8.0
    # Sessions that may all refresh at every tick; with more shown, each skips ticks so that
    # about this many refresh per tick in all (eight students' pages: each every second).
    SESSIONS_PER_TICK = 4
    _all: ClassVar[weakref.WeakSet[LiveSession]] = weakref.WeakSet()

    def __init__(self, store: RunStore | None = None, period_ms: int = 500) -> None:
        self.store = store or RunStore()
        self.period_ms = period_ms
        self.views: list[LiveView] = []
        self._callback: PeriodicCallback | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()  # one refresh at a time (a thread, or a user's call)
        self._starting = False
        # Off while nobody can see the views (a page's hidden tab): a refresh reads nothing
        # and sends nothing; the views catch up from their cursors once shown again.
        self.active = True
        # True while refresh() runs the views: a view changed by another one then (a chart
        # whose runs a page sets) may wait for the next refresh to redraw.
        self.refreshing = False
        self._ticks = 0
        LiveSession._all.add(self)

    @classmethod
    def shown_count(cls) -> int:
        """Sessions of this process refreshing now (started, and their page shown)."""
        return sum(
            1
            for session in list(cls._all)
            if session.active
            and (
                (session._callback is not None and session._callback.running)
                or (session._thread is not None and session._thread.is_alive())
            )
        )

    @classmethod
    def redraw_interval(cls, wanted: float) -> float:
        """Seconds between a plot's redraws: ``wanted``, or longer when so many sessions are
        shown that redrawing them all that often would pass ``REDRAWS_PER_SECOND``."""
        return max(wanted, cls.shown_count() / cls.REDRAWS_PER_SECOND)

    @property
    def in_notebook(self) -> bool:
        """Whether this session refreshes a notebook's views (from a thread of its own)."""
        return self._thread is not None

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
        if _in_notebook_kernel():
            # A notebook: a callback on the kernel's loop would wait while a cell runs (say
            # `run.wait_for_step`), so the view would freeze exactly while the run trains.
            # A thread of our own refreshes instead; Panel sends its changes through the
            # kernel's comms, which any thread may use.
            if self._thread is None or not self._thread.is_alive():
                self._stopped.clear()
                # The first refresh waits until the cell that made the views has run: that
                # cell renders them at its end, and a refresh changing a figure while it is
                # being rendered breaks the rendering.
                cell_done = threading.Event()
                _after_this_cell(cell_done.set)
                self._thread = threading.Thread(
                    target=self._refresh_forever, args=(cell_done,), name="live-session",
                    daemon=True,
                )  # fmt: skip
                self._thread.start()
        elif self._callback is None or not self._callback.running:
            self._callback = quiet_periodic_callback(self.tick, self.period_ms)

    def _refresh_forever(self, cell_done: threading.Event) -> None:
        opened: dict[str, tuple[float, int]] = {}
        while not cell_done.wait(self.period_ms / 1000):
            if self._stopped.is_set():
                return
        while not self._stopped.wait(self.period_ms / 1000):
            try:
                _open_notebook_comms(opened)
                self.refresh()
            except Exception:
                # Keep the views alive through one bad read, but never silently.
                logger.exception("refreshing the live views failed; trying again")

    def stop(self) -> None:
        if self._callback is not None:
            self._callback.stop()
        self._stopped.set()

    def show(self) -> None:
        """The views are visible again: refresh at every tick, starting now."""
        self.active = True
        self.refresh()

    def hide(self) -> None:
        """Nobody sees the views: skip the ticks until :meth:`show`."""
        self.active = False

    def tick(self) -> None:
        """One tick of the periodic callback: a refresh, or with many sessions shown, one
        refresh every few ticks (the text and charts of a page then move every second or
        two instead of twice a second, and the trainer sharing the server keeps its speed)."""
        self._ticks += 1
        stride = -(-LiveSession.shown_count() // LiveSession.SESSIONS_PER_TICK)  # ceil
        if self._ticks % max(stride, 1) == 0:
            self.refresh()

    def refresh(self) -> None:
        if not self.active:
            return
        with self._lock, pn.io.hold():
            self.refreshing = True
            try:
                for view in self.views:
                    view.refresh()
            finally:
                self.refreshing = False
