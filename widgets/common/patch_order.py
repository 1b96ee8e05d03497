"""Keep a served page's updates in the order they were made.

A Bokeh server sends a page its changes as PATCH-DOC messages. A message defines each model
the page has not been sent yet and only names (refers to) the others, so the page must get
the messages in the order in which they were made; a message that names a model before the
message defining it has arrived fails in the browser with "reference p1234 isn't known".

Panel (1.9) and Bokeh (3.9) write messages by two roads. Panel combines the changes made in
its callbacks into one message and, while the websocket is busy writing, keeps that message
in a queue of its own (``panel.io.document._WRITE_MSGS``) that it retries every 10 ms.
Changes made elsewhere (a thread's update, scheduled by Panel for the next tick; a HoloViews
plot's refresh) go by Bokeh's road, whose write waits on the websocket's lock. When the lock
is released, Bokeh's waiting write takes it at once, before Panel's next retry: a message made
*after* Panel's queued one is written *before* it. Measured on the Horizon page (the tab's
content rendered by Panel's road, its status line then updated from the analysis thread by
Bokeh's): 1 page load in 10 with default runs training on 2 cores showed the error.

:func:`keep_patches_in_order` makes Bokeh's road wait for the messages Panel had queued for
the same connection when its own message was made; later ones do not hold it up.

Panel's queue can also strand a message. Its writer task takes the queue, writes it, and then
marks the document unblocked; a message queued while it wrote (a worker thread's final
status, applied in the session's next tick) gets a writer task of its own, which finds the
document unblocked and returns without writing. The message then waits for the next message
Panel queues, which may never come: a served Horizon page kept "drawing a state..." after
its analysis had ended, and Bokeh's later writes each waited the full ``MAX_WAIT_S`` for it.
:func:`keep_patches_in_order` also installs a writer that, when it ends with messages left
in the queue and nobody to write them, starts another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

from bokeh.server.connection import ServerConnection
from panel.io import document as panel_document

# A queued Panel message is written within milliseconds once the socket is free; a page
# closed meanwhile drops its queue. The cap only bounds a wait nobody will end.
MAX_WAIT_S = 10.0
POLL_S = 0.005


def panel_queue(document, connection: ServerConnection) -> list:
    """The messages Panel has made for ``connection`` and not written yet."""
    return list(panel_document._WRITE_MSGS.get(document, {}).get(connection, []))


def write_stranded_messages() -> None:
    """Make Panel's queue writer start another when it ends with messages queued and the
    document marked unblocked (no writer would come for them). Idempotent."""
    original = panel_document._dispatch_msgs
    if getattr(original, "writes_stranded", False):
        return

    async def dispatch_msgs(document) -> None:
        await original(document)
        queued = panel_document._WRITE_MSGS.get(document, {})
        if any(queued.values()) and document not in panel_document._WRITE_BLOCK:
            panel_document._WRITE_BLOCK[document] = True
            panel_document._dispatch_write_task(document, dispatch_msgs, document)

    dispatch_msgs.writes_stranded = True
    # Panel looks the writer up by this name each time it schedules one (its retries too).
    panel_document._dispatch_msgs = dispatch_msgs


def keep_patches_in_order() -> None:
    """Make every Bokeh PATCH-DOC write of this process wait until the messages Panel had
    queued for the same connection before it are written, and Panel's queue deliver every
    message (:func:`write_stranded_messages`). Idempotent; for a serving process (a
    notebook's comms take neither road)."""
    write_stranded_messages()
    original = ServerConnection.send_patch_document
    if getattr(original, "keeps_order", False):
        return

    def send_patch_document(self: ServerConnection, event) -> Awaitable[None]:
        earlier = panel_queue(event.document, self)
        write = original(self, event)  # made now, as Bokeh makes it: it is the next in line
        if not earlier:
            return write

        async def write_after_earlier() -> None:
            deadline = time.monotonic() + MAX_WAIT_S
            while time.monotonic() < deadline:
                queued = panel_queue(event.document, self)
                if not any(message is other for message in earlier for other in queued):
                    break
                await asyncio.sleep(POLL_S)
            await write

        return write_after_earlier()

    send_patch_document.keeps_order = True
    ServerConnection.send_patch_document = send_patch_document
