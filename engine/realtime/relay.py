"""``switchboard serve``: a Realtime relay that existing clients connect to unchanged.

A client (the OpenAI SDK, the Agents SDK, a browser app behind its server) connects to
``ws://HOST:PORT/v1/realtime``; for each connection the relay opens its own upstream connection (OpenAI, or
the embedded emulator), runs the flow's session core in the middle and forwards everything else both ways.
The flow owns each agent's instructions and tools; handoffs, tools, escalations and audit happen in the
relay, and the client sees the resulting events as if one model were answering.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from engine.compile.pipeline import CompiledFlow
from engine.realtime.client import RealtimeClient, UpstreamError
from engine.realtime.conversation import Conversation
from engine.realtime.protocol import ProtocolError, encode, new_id
from engine.realtime.supervisor import SupervisorBackend, make_supervisor
from engine.realtime.tools import ToolRegistry
from engine.session.actions import Action
from engine.session.audit import AuditSink
from engine.session.core import Session

PATH = "/v1/realtime"


class Relay:
    """The relay server; an async context manager exposing ``url``."""

    def __init__(
        self,
        compiled: CompiledFlow,
        upstream: str,
        *,
        audit: AuditSink,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        on_action: Callable[[Action | ProtocolError], None] = lambda _: None,
    ) -> None:
        self.compiled, self.upstream, self.api_key = compiled, upstream, api_key
        self.audit, self.host, self.port, self.on_action = audit, host, port, on_action
        self.tools = ToolRegistry.from_flow(compiled.doc)
        self.supervisor: SupervisorBackend | None = (
            make_supervisor(compiled.doc, self.tools, api_key=api_key) if compiled.flow.supervisor else None
        )
        self.conversations = 0
        self._ids = itertools.count(1)
        self._server: Server | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the relay is not running")
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"ws://{host}:{port}{PATH}"

    async def __aenter__(self) -> Relay:
        self._server = await serve(self._handle, self.host, self.port, process_request=self._route)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def serve_forever(self) -> None:
        if self._server is None:
            raise RuntimeError("use `async with Relay(...)` first")
        await self._server.serve_forever()

    def _route(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path.rstrip("/") != PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, f"No Realtime endpoint at {path}; use {PATH}.\n")
        return None

    async def _handle(self, client: ServerConnection) -> None:
        self.conversations += 1
        conversation_id = f"relay-{next(self._ids)}"
        try:
            upstream = RealtimeClient.connect(self.upstream, api_key=self.api_key)
            async with upstream as connection:
                session = Session(self.compiled, conversation_id, clock=time.time)
                conversation = Conversation(
                    session, connection, self.tools, self.audit, self.on_action, self.supervisor
                )
                error = await conversation.relay(client)
        except UpstreamError as exc:
            error = exc
        if error is not None:
            await _report(client, f"upstream: {error}")
            await client.close(1011, "upstream failed")


async def _report(client: ServerConnection, message: str) -> None:
    event: dict[str, Any] = {
        "type": "error",
        "event_id": new_id("event"),
        "error": {"type": "server_error", "code": "upstream_error", "message": message},
    }
    try:
        await client.send(encode(event))
    except Exception:  # the client is gone too
        pass


async def run_relay(relay: Relay, ready: Callable[[str], None]) -> None:
    """Serve until cancelled; ``ready(url)`` is called once listening."""
    async with relay:
        ready(relay.url)
        await relay.serve_forever()
