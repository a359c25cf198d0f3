"""Websocket connections that write once per event-loop pass: the frames one pass sends leave in one ``send``.

``websockets`` writes each frame to the transport as it is sent, which is a ``send`` system call per frame
when the socket is not backed up. A relay forwarding a burst of upstream events (a response's deltas, read
in one ``recv``) pays a call per event, and wakes its reader once per event. These connections append the
bytes to a list and write them, joined, from a callback scheduled with ``call_soon`` when the list was
empty: it runs after the task that sent them yields, before the loop next polls its sockets, so a frame
waits no longer than the rest of the pass that produced it (Nagle's algorithm at the granularity of one
pass, with no timer). Order is kept; the end of the stream (``write_eof`` / ``close``, which
``websockets`` signals with an empty chunk) first writes what is pending. ``abort`` drops it, as the
transport's own buffer is dropped.
"""

from __future__ import annotations

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import ServerConnection


class BatchedWrites(Connection):
    """A connection whose frames of one loop pass go to the transport in one write."""

    _pending: list[bytes] | None = None
    _pending_size = 0

    def send_data(self) -> None:
        for data in self.protocol.data_to_send():
            if not data:  # the end of the stream: what is pending goes first
                self._flush()
                self._end()
            elif self._pending is None:
                self._pending, self._pending_size = [data], len(data)
                self.loop.call_soon(self._flush)
            else:
                self._pending.append(data)
                self._pending_size += len(data)

    def _flush(self) -> None:
        pending, self._pending, self._pending_size = self._pending, None, 0
        if pending and not self.transport.is_closing():
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def _end(self) -> None:
        if self.transport.can_write_eof():
            try:
                self.transport.write_eof()
            except Exception:  # as websockets: OSError, or uvloop's RuntimeError
                pass
        else:
            self.transport.close()

    @property
    def pending_bytes(self) -> int:
        """Bytes sent in this pass and not yet handed to the transport (its buffer does not count them)."""
        return self._pending_size


class BatchedServerConnection(BatchedWrites, ServerConnection):
    """A :class:`ServerConnection` writing once per loop pass."""


class BatchedClientConnection(BatchedWrites, ClientConnection):
    """A :class:`ClientConnection` writing once per loop pass."""
