"""The websocket server both the emulator and the relay are: ``/v1/realtime`` on loopback, as a context manager."""

from __future__ import annotations

from http import HTTPStatus
from typing import Self
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from engine.wire.protocol import MAX_FRAME

PATH = "/v1/realtime"


class RealtimeServer:
    """Serves :meth:`handle` for each connection to ``PATH`` (any other path gets a 404).

    ``port=0`` picks a free port; ``url`` is ``ws://HOST:PORT/v1/realtime`` once running.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self._server: Server | None = None

    async def handle(self, connection: ServerConnection) -> None:
        raise NotImplementedError

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"the {type(self).__name__.lower()} is not running")
        host, port = self._server.sockets[0].getsockname()[:2]
        host = "127.0.0.1" if host == "0.0.0.0" else f"[{host}]" if ":" in host else host
        return f"ws://{host}:{port}{PATH}"

    async def __aenter__(self) -> Self:
        self._server = await serve(
            self.handle, self.host, self.port, process_request=self._route, max_size=MAX_FRAME
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def serve_forever(self) -> None:
        """Serve until cancelled."""
        if self._server is None:
            raise RuntimeError(f"use `async with {type(self).__name__}(...)` first")
        await self._server.serve_forever()

    def _route(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path.rstrip("/") != PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, f"No Realtime endpoint at {path}; use {PATH}.\n")
        return None
