"""Work off the server's event loop, with its failure shown to the user."""

from __future__ import annotations

import threading
from collections.abc import Callable

import panel as pn
from bokeh.document import Document
from panel.io.state import set_curdoc


def run_in_thread(status: pn.widgets.StaticText, work: Callable[[], object]) -> None:
    """Run ``work`` off the server's event loop (Panel schedules the widget changes it
    makes); its failure is shown in ``status``, not lost in a log, after whatever ``work``
    wrote through :func:`on_next_tick`."""
    document = pn.state.curdoc  # called on the session's loop: the session to write to

    def guarded() -> None:
        try:
            work()
        except Exception as error:
            text = f"failed: {type(error).__name__}: {error}"
            on_next_tick(lambda: setattr(status, "value", text), document)
            raise

    status.value = "working..."
    threading.Thread(target=guarded, daemon=True).start()


def on_next_tick(change: Callable[[], None], document: Document | None = None) -> None:
    """Run ``change`` in the next tick of ``document`` (default: the current one) when it is
    a served session's, with the session current and its lock held, after the changes
    scheduled before it from any thread; outside a served session (a notebook, a test) now.

    A button's handler that redraws plain Bokeh models (their data, their colour ranges)
    must not change them from the event it handles. A worker thread that writes its
    widgets this way (passing the session it was started from) cannot have a later line
    overwritten by an earlier one, nor one widget's change overtake another's."""
    document = document if document is not None else pn.state.curdoc
    if document is None or document.session_context is None:
        change()
        return
    with set_curdoc(document):
        pn.state.execute(change, schedule=True)
