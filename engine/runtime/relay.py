"""``switchboard serve``: a Realtime relay that existing clients connect to unchanged.

A client (the OpenAI SDK, the Agents SDK, a browser app behind its server) connects to
``ws://HOST:PORT/v1/realtime``; for each connection the relay opens its own upstream connection (OpenAI, or
the embedded emulator), runs the flow's session core in the middle and forwards everything else both ways.
The flow owns each agent's instructions and tools; handoffs, tools, escalations and audit happen in the
relay, and the client sees the resulting events as if one model were answering.

Trusted initial context (``[flow] initial_context``) comes from the server side, never from the client's
frames: ``context`` is either a fixed mapping (``serve --context KEY=VALUE``) or a hook called with each
connection (its request path and headers are there to look values up by, e.g. a call id the telephony
bridge put in the URL); whatever it returns is checked against the flow before the conversation starts.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from typing import Any

from websockets.asyncio.server import ServerConnection

from engine.compile.pipeline import CompiledFlow
from engine.runtime.client import RealtimeClient, UpstreamError
from engine.runtime.conversation import Conversation
from engine.runtime.tools import ToolRegistry
from engine.session.actions import Action, Transcript
from engine.session.audit import AuditSink
from engine.session.context import ContextError, initial_context
from engine.session.core import Session
from engine.supervisor.backend import SupervisorBackend
from engine.supervisor.factory import make_supervisor
from engine.wire.protocol import ProtocolError, encode, error_event
from engine.wire.server import RealtimeServer

ContextHook = Callable[[ServerConnection], Mapping[str, Any]]
"""Trusted initial context for one client connection (called before its upstream is opened)."""


class Relay(RealtimeServer):
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
        context: Mapping[str, Any] | ContextHook | None = None,
    ) -> None:
        super().__init__(host, port)
        self.compiled, self.upstream, self.api_key = compiled, upstream, api_key
        self.audit, self.on_action = audit, on_action
        self.tools = ToolRegistry.from_flow(compiled.doc)
        self.supervisor: SupervisorBackend | None = (
            make_supervisor(compiled.doc, self.tools, api_key=api_key) if compiled.flow.supervisor else None
        )
        self.context = context
        if context is not None and not callable(context):
            initial_context(compiled.flow, context)  # a fixed mapping is checked once, at start-up
        self.conversations = 0
        self._ids = itertools.count(1)

    async def handle(self, client: ServerConnection) -> None:
        self.conversations += 1
        conversation_id = f"relay-{next(self._ids)}"
        try:
            context = self._context_for(client)
        except ContextError as exc:
            cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
            self.on_action(
                Transcript("notice", self.compiled.flow.flow.entry, f"{conversation_id}: {exc}{cause}")
            )
            await _report(client, f"initial context: {exc}", "invalid_initial_context")
            await client.close(1008, "bad initial context")
            return
        try:
            upstream = RealtimeClient.connect(self.upstream, api_key=self.api_key)
            async with upstream as connection:
                session = Session(self.compiled, conversation_id, clock=time.time, initial_context=context)
                conversation = Conversation(
                    session, connection, self.tools, self.audit, self.on_action, self.supervisor
                )
                error = await conversation.relay(client)
        except UpstreamError as exc:
            error = exc
        if error is not None:
            await _report(client, f"upstream: {error}")
            await client.close(1011, "upstream failed")

    def _context_for(self, client: ServerConnection) -> dict[str, Any]:
        """The connection's initial context, checked; a hook that raises is a refused connection too."""
        context = self.context
        if callable(context):
            try:
                context = context(client)
            except Exception as exc:  # the hook is the application's code: contain it
                raise ContextError(f"the context hook failed: {type(exc).__name__}") from exc
        return initial_context(self.compiled.flow, context or {})


async def _report(client: ServerConnection, message: str, code: str = "upstream_error") -> None:
    try:
        await client.send(encode(error_event("server_error", code, message)))
    except Exception:  # the client is gone too
        pass


async def run_relay(relay: Relay, ready: Callable[[str], None]) -> None:
    """Serve until cancelled; ``ready(url)`` is called once listening."""
    async with relay:
        ready(relay.url)
        await relay.serve_forever()
