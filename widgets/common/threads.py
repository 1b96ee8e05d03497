"""Work off the server's event loop, with its failure shown to the user."""

from __future__ import annotations

import threading
from collections.abc import Callable

import panel as pn
from bokeh.document import Document
from panel.io.state import set_curdoc


def in_session_order(document: Document | None, change: Callable[[], None]) -> None:
    """Run ``change`` in the next tick of ``document``, a served session's, after the changes
    scheduled before it (from any thread), with the session current; elsewhere (a notebook,
    a test) now. A worker thread that writes its widgets this way cannot have a later line
    overwritten by an earlier one, nor a change of one widget overtake another's."""
    if document is None or document.session_context is None:
        change()
        return
    with set_curdoc(document):
        pn.state.execute(change, schedule=True)


def run_in_thread(status: pn.widgets.StaticText, work: Callable[[], object]) -> None:
    """Run ``work`` off the server's event loop (Panel schedules the widget changes it
    makes); its failure is shown in ``status``, not lost in a log, after whatever ``work``
    wrote through :func:`in_session_order`."""
    document = pn.state.curdoc  # called on the session's loop: the session to write to

    def guarded() -> None:
        try:
            work()
        except Exception as error:
            text = f"failed: {type(error).__name__}: {error}"
            in_session_order(document, lambda: setattr(status, "value", text))
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
