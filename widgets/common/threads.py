"""Work off the server's event loop, with its failure shown to the user."""

from __future__ import annotations

import threading
from collections.abc import Callable

import panel as pn


def run_in_thread(status: pn.widgets.StaticText, work: Callable[[], object]) -> None:
    """Run ``work`` off the server's event loop (Panel schedules the widget changes it
    makes); its failure is shown in ``status``, not lost in a log."""

    def guarded() -> None:
        try:
            work()
        except Exception as error:
            status.value = f"failed: {type(error).__name__}: {error}"
            raise

    status.value = "working..."
    threading.Thread(target=guarded, daemon=True).start()


def on_next_tick(change: Callable[[], None]) -> None:
    """Run ``change`` in the served document's next tick, where it holds the document's
    lock: a button's handler that redraws plain Bokeh models (their data, their colour
    ranges) must not change them from the event it handles. Outside a served session (a
    notebook, a test) it runs now."""
    document = pn.state.curdoc
    if document is not None and document.session_context is not None:
        document.add_next_tick_callback(change)
    else:
        change()
