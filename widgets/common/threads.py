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
