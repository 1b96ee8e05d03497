"""A served page gets its PATCH-DOC messages in the order they were made: Bokeh's writes wait
for the messages Panel had queued before them, and no message is left in Panel's queue
(widgets/common/patch_order.py)."""

from __future__ import annotations

import asyncio

from bokeh.document import Document
from bokeh.models import Div
from bokeh.protocol import Protocol
from bokeh.server.connection import ServerConnection
from panel.io import document as panel_document

from widgets.common.patch_order import keep_patches_in_order, write_stranded_messages


class RecordingSocket:
    """Stands in for Bokeh's websocket handler: records what it is given to write."""

    def __init__(self) -> None:
        self.written: list = []

    async def send_message(self, message) -> None:
        self.written.append(message)


class Session:
    def subscribe(self, connection) -> None:
        pass


def _changed_text(document: Document, div: Div, text: str):
    events = []
    document.on_change(events.append)
    div.text = text
    return events[-1]


def _connection(monkeypatch) -> tuple[ServerConnection, RecordingSocket, Document, Div]:
    # Restored after the test: the patch is for serving processes.
    monkeypatch.setattr(
        ServerConnection, "send_patch_document", ServerConnection.send_patch_document
    )
    monkeypatch.setattr(panel_document, "_dispatch_msgs", panel_document._dispatch_msgs)
    keep_patches_in_order()
    document, div = Document(), Div(text="before")
    document.add_root(div)
    socket = RecordingSocket()
    return ServerConnection(Protocol(), socket, None, Session()), socket, document, div


def test_a_bokeh_patch_is_written_after_the_panel_messages_queued_before_it(monkeypatch):
    connection, socket, document, div = _connection(monkeypatch)
    panel_message = object()  # made by Panel's road while the socket was busy
    monkeypatch.setitem(panel_document._WRITE_MSGS, document, {connection: [panel_message]})

    async def race() -> None:
        write = asyncio.ensure_future(
            connection.send_patch_document(_changed_text(document, div, "after"))
        )
        await asyncio.sleep(0.1)
        assert socket.written == [], "Bokeh's message overtook Panel's queued one"
        # Panel's retry writes its message: it leaves the queue.
        panel_document._WRITE_MSGS[document][connection].remove(panel_message)
        socket.written.append(panel_message)
        await asyncio.wait_for(write, timeout=2)

    asyncio.run(race())
    assert socket.written[0] is panel_message
    assert len(socket.written) == 2 and socket.written[1].header["msgtype"] == "PATCH-DOC"


def test_panel_messages_queued_after_a_bokeh_patch_do_not_hold_it_up(monkeypatch):
    connection, socket, document, div = _connection(monkeypatch)

    async def later_queue() -> None:
        write = connection.send_patch_document(_changed_text(document, div, "after"))
        panel_document._WRITE_MSGS[document] = {connection: [object()]}
        await asyncio.wait_for(write, timeout=0.5)

    try:
        asyncio.run(later_queue())
    finally:
        panel_document._WRITE_MSGS.pop(document, None)
    assert len(socket.written) == 1


def test_keeping_order_is_installed_once(monkeypatch):
    monkeypatch.setattr(
        ServerConnection, "send_patch_document", ServerConnection.send_patch_document
    )
    monkeypatch.setattr(panel_document, "_dispatch_msgs", panel_document._dispatch_msgs)
    keep_patches_in_order()
    installed = ServerConnection.send_patch_document, panel_document._dispatch_msgs
    keep_patches_in_order()
    assert (ServerConnection.send_patch_document, panel_document._dispatch_msgs) == installed


class SlowSocket:
    """A socket whose writes end when the test says so (Panel's road writes through
    ``send``)."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.pending: list[asyncio.Future] = []

    def send(self, text_data: str) -> asyncio.Future:
        self.written.append(text_data)
        future = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        return future


def test_a_panel_message_queued_while_the_queue_is_written_is_written_too(monkeypatch):
    """Panel's writer marks the document unblocked after writing what it took from the
    queue; a message queued in between got a writer that found the document unblocked and
    left the message in the queue. The installed writer delivers it."""
    monkeypatch.setattr(panel_document, "_dispatch_msgs", panel_document._dispatch_msgs)
    write_stranded_messages()
    document, div = Document(), Div(text="before")
    document.add_root(div)
    socket = SlowSocket()
    connection = ServerConnection(Protocol(), socket, None, Session())

    async def race() -> None:
        panel_document.schedule_write_events(
            document, [connection], [_changed_text(document, div, "drawing a state...")]
        )
        await asyncio.sleep(0.01)  # the writer took the queue and waits on its writes
        first_writes = list(socket.pending)
        assert len(first_writes) == 3  # header, metadata, content
        for future in first_writes:
            future.set_result(None)  # done: the writer resumes in the loop's next round...
        panel_document.schedule_write_events(  # ...after which a new writer runs
            document, [connection], [_changed_text(document, div, "analysed in 1.2 s")]
        )
        for _ in range(50):
            await asyncio.sleep(0.01)
            for future in socket.pending:
                if not future.done():
                    future.set_result(None)

    try:
        asyncio.run(race())
        assert len(socket.written) == 6, "the second message was left in Panel's queue"
        assert "analysed in 1.2 s" in socket.written[-1]
        assert not panel_document._WRITE_MSGS.get(document)
    finally:
        panel_document._WRITE_MSGS.pop(document, None)
        panel_document._WRITE_BLOCK.pop(document, None)
