"""The websocket server both the emulator and the relay are: ``/v1/realtime`` on loopback, as a context manager."""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, MutableMapping, Sequence
from http import HTTPStatus
from typing import Any, Self
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from engine.wire.protocol import MAX_FRAME

PATH = "/v1/realtime"


class OneLineLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The server's log with each exception as one line (``message: Type: text``), never a traceback: a
    failed handshake (a bare TCP connect, a port scanner) costs one line."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        exc_info = kwargs.pop("exc_info", None)
        if exc_info:
            exc = sys.exc_info()[1] if exc_info is True else exc_info
            if isinstance(exc, tuple):
                exc = exc[1]
            if isinstance(exc, BaseException):
                cause = exc.__cause__ or exc.__context__
                detail = f"{type(exc).__name__}: {exc}"
                if cause is not None:
                    detail += f" ({type(cause).__name__}: {cause})"
                msg = f"{msg}: {detail}"
        return msg, kwargs


class RealtimeServer:
    """Serves :meth:`handle` for each connection to ``PATH`` (any other path gets a 404).

    ``port=0`` picks a free port; ``url`` is ``ws://HOST:PORT/v1/realtime`` once running. ``max_size`` is
    the largest frame a client may send, ``compression`` the websocket extension offered (``None``: off),
    ``write_limit`` the send buffer's high-water mark; :meth:`admit` may refuse a handshake (e.g. a 503).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_size: int = MAX_FRAME,
        compression: str | None = "deflate",
        write_limit: int = 32 * 1024,
        logger: logging.Logger | logging.LoggerAdapter | None = None,  # type: ignore[type-arg]
        reuse_port: bool = False,
        subprotocols: Sequence[str] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.subprotocols = subprotocols
        """Subprotocols the server agrees to when a client offers them (a browser offers ``realtime``)."""
        self.reuse_port = reuse_port
        """Bind with ``SO_REUSEPORT``: processes listening on one port share its connections (workers)."""
        self.max_size, self.compression, self.write_limit = max_size, compression, write_limit
        self.logger = logger or OneLineLog(logging.getLogger("switchboard.server"))
        self._server: Server | None = None

    connection_class: type[ServerConnection] = ServerConnection
    """What each accepted connection is (the relay's write once per loop pass: :mod:`engine.wire.batching`)."""

    async def handle(self, connection: ServerConnection) -> None:
        raise NotImplementedError

    def admit(self, connection: ServerConnection, request: Request) -> Response | None:
        """A response refusing the handshake, or ``None`` to accept it (every connection, here)."""
        return None

    def accepted(self, connection: ServerConnection, response: Response) -> None:
        """Called with the ``101`` response of an accepted handshake, before it is sent (to add headers)."""

    @property
    def server(self) -> Server:
        if self._server is None:
            raise RuntimeError(f"the {type(self).__name__.lower()} is not running")
        return self._server

    @property
    def url(self) -> str:
        host, port = self.server.sockets[0].getsockname()[:2]
        host = "127.0.0.1" if host == "0.0.0.0" else f"[{host}]" if ":" in host else host
        return f"ws://{host}:{port}{PATH}"

    async def __aenter__(self) -> Self:
        self._server = await serve(
            self.handle,
            self.host,
            self.port,
            process_request=self.process_request,
            process_response=self.process_response,
            max_size=self.max_size,
            compression=self.compression,
            write_limit=self.write_limit,
            logger=self.logger,
            reuse_port=self.reuse_port or None,
            select_subprotocol=self._select_subprotocol,
            create_connection=self.connection_class,
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

    def _select_subprotocol(
        self, connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        """The first of :attr:`subprotocols` the client offers; none (and no refusal) when it offers none of them."""
        return next((Subprotocol(p) for p in self.subprotocols or () if p in offered), None)

    def process_response(self, connection: ServerConnection, request: Request, response: Response) -> None:
        """``websockets.serve``'s ``process_response`` hook: :meth:`accepted` sees each accepted handshake."""
        if response.status_code == HTTPStatus.SWITCHING_PROTOCOLS:
            self.accepted(connection, response)

    def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | Awaitable[Response | None] | None:
        """``websockets.serve``'s ``process_request`` hook: 404 off :data:`PATH`, else :meth:`admit`."""
        path = urlsplit(request.path).path
        if path.rstrip("/") != PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, f"No Realtime endpoint at {path}; use {PATH}.\n")
        return self.admit(connection, request)
