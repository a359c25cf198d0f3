"""The relay inside an ASGI server (FastAPI, Starlette, uvicorn…): one websocket connection as the relay sees one.

:meth:`engine.runtime.relay.Relay.asgi` is an ASGI application for ``websocket`` scopes. It admits the
handshake exactly as ``serve`` does (credential, ``Origin``, resume id, conversation limit); a refusal is an
HTTP response with its status when the server supports the ``websocket.http.response`` extension (uvicorn
does), else a close before accept (HTTP 403). :class:`AsgiConnection` gives the relay the few things it uses
of a ``websockets`` connection: ``send``/``recv``/``close``, the request's path and headers, who closed first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK
from websockets.frames import Close

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class AsgiRequest:
    path: str
    """The path with its query string, as ``websockets`` gives ``Request.path``."""
    headers: Headers


class _Protocol:
    """What the relay asks of ``websockets``' protocol object: the close frame received and who closed first."""

    def __init__(self) -> None:
        self.close_rcvd: Close | None = None
        self.close_rcvd_then_sent: bool | None = None


class _Transport:
    def __init__(self, connection: AsgiConnection) -> None:
        self._connection = connection

    def abort(self) -> None:
        """Stop sending to a client that does not read (the ASGI server owns the socket): mark it closed."""
        self._connection.closed = True


class AsgiConnection:
    def __init__(self, scope: Scope, receive: Receive, send: Send, max_size: int | None = None) -> None:
        self._receive, self._send = receive, send
        self.max_size = max_size
        """The largest frame a client may send (the relay's ``max_frame``): past it, close 1009."""
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        self.request = AsgiRequest(path + (f"?{query}" if query else ""), _headers(scope))
        client = scope.get("client")
        self.remote_address: tuple[str, int] | None = (str(client[0]), int(client[1])) if client else None
        self.protocol = _Protocol()
        self.transport = _Transport(self)
        self.closed = False
        self._http_response = "websocket.http.response" in scope.get("extensions", {})

    async def refuse(self, status: HTTPStatus, text: str) -> None:
        """Refuse the handshake (before accepting it)."""
        if self._http_response:
            headers = [(b"content-type", b"text/plain; charset=utf-8")]
            await self._send(
                {"type": "websocket.http.response.start", "status": int(status), "headers": headers}
            )
            await self._send({"type": "websocket.http.response.body", "body": text.encode()})
        else:
            await self._send({"type": "websocket.close", "code": 1008})
        self.closed = True

    async def accept(self, headers: dict[str, str]) -> None:
        encoded = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        await self._send({"type": "websocket.accept", "headers": encoded})

    async def send(self, message: str | bytes) -> None:
        if self.closed:
            raise ConnectionClosedOK(self.protocol.close_rcvd, None)
        if isinstance(message, str):
            await self._send({"type": "websocket.send", "text": message})
        else:
            await self._send({"type": "websocket.send", "bytes": message})

    async def recv(self) -> str | bytes:
        while True:
            message = await self._receive()
            if message["type"] == "websocket.receive":
                text, data = message.get("text"), message.get("bytes")
                frame = text if text is not None else bytes(data or b"")
                if self.max_size is not None and len(frame) > self.max_size:
                    await self.close(1009, "frame too big")
                    raise ConnectionClosedError(None, Close(1009, "frame too big"))
                return frame
            if message["type"] == "websocket.disconnect":
                code = int(message.get("code", 1005))
                self.protocol.close_rcvd = Close(code, str(message.get("reason") or ""))
                if self.protocol.close_rcvd_then_sent is None:
                    self.protocol.close_rcvd_then_sent = True
                self.closed = True
                raise (ConnectionClosedOK if code in (1000, 1001) else ConnectionClosedError)(
                    self.protocol.close_rcvd, None
                )

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed:
            return
        if self.protocol.close_rcvd_then_sent is None:
            self.protocol.close_rcvd_then_sent = False
        self.closed = True
        await self._send({"type": "websocket.close", "code": code, "reason": reason})


def _headers(scope: Scope) -> Headers:
    headers = Headers()
    for name, value in scope.get("headers", []):
        headers[name.decode("latin-1")] = value.decode("latin-1")
    return headers
