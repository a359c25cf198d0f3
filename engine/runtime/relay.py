"""``switchboard serve``: a Realtime relay that existing clients connect to unchanged.

A client (the OpenAI SDK, the Agents SDK, a browser app behind its server) connects to
``ws://HOST:PORT/v1/realtime``; for each connection the relay opens its own upstream connection (OpenAI, or
the embedded emulator), runs the flow's session core in the middle and forwards everything else both ways.
The flow owns each agent's instructions and tools; handoffs, tools, escalations and audit happen in the
relay, and the client sees the resulting events as if one model were answering (function calls, all of
them the flow's, are hidden: :mod:`engine.session.call_view`).

Trusted initial context (``[flow] initial_context``) comes from the server side, never from the client's
frames: ``context`` is either a fixed mapping (``serve --context KEY=VALUE``) or a hook called with each
connection (its request path and headers are there to look values up by, e.g. a call id the telephony
bridge put in the URL); whatever it returns is checked against the flow before the conversation starts.

Survival: each conversation runs under :meth:`Relay.handle`, which turns any exception into an ``error``
event, a close, an ``end`` record and freed sockets; :class:`RelayLimits` bound what one client costs;
:meth:`Relay.shutdown` drains gracefully. Conversation ids are globally unique (``conv_`` + uuid4 hex) and
every audit record carries the flow's name and content hash.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from engine import tracing
from engine.compile.pipeline import CompiledFlow
from engine.runtime.asgi import AsgiConnection, Receive, Scope, Send
from engine.runtime.auth import AuthError, Gate, Grant
from engine.runtime.client import RealtimeClient, UpstreamError, is_loopback
from engine.runtime.conversation import Conversation, InternalError, RelayOptions
from engine.runtime.limits import RelayLimits
from engine.runtime.tools import ToolRegistry
from engine.runtime.trace_view import ConversationTrace
from engine.session.actions import Action, Transcript
from engine.session.audit import AuditRecord, AuditSink, Stamped, write_to
from engine.session.call_view import UNREAD
from engine.session.context import ContextError, initial_context
from engine.session.core import Session
from engine.session.snapshot import SnapshotError
from engine.store.base import SnapshotStore
from engine.store.writer import SnapshotWriter
from engine.supervisor.backend import SupervisorBackend
from engine.supervisor.factory import make_supervisor
from engine.wire.batching import BatchedServerConnection
from engine.wire.protocol import ProtocolError, encode, error_event, new_id
from engine.wire.server import OneLineLog, RealtimeServer

Client = ServerConnection | AsgiConnection
"""A client's connection: ``serve``'s own (``websockets``), or one an ASGI server hands over (:meth:`Relay.asgi`)."""

ContextHook = Callable[[Client], Mapping[str, Any]]
"""Trusted initial context for one client connection (called before its upstream is opened; its
``request.path`` and ``request.headers`` are there to look values up by)."""

log = OneLineLog(logging.getLogger("switchboard.relay"))

UPSTREAM_CLOSE_S = 1.0
"""How long closing the upstream may wait for its close frame once the client side has been cut off."""


CONVERSATION_ID = re.compile(r"conv_[0-9a-f]{32}")
CONVERSATION_HEADER = "X-Switchboard-Conversation-Id"
"""The handshake response header that tells a client its conversation id (also ``session.created``'s
``session.id``): reconnect with ``/v1/realtime?conversation_id=ID`` to resume."""


def new_conversation_id() -> str:
    """A globally unique conversation id: ``conv_`` and 32 hex digits (uuid4)."""
    return f"conv_{uuid.uuid4().hex}"


class Relay(RealtimeServer):
    """The relay server; an async context manager exposing ``url``."""

    connection_class = BatchedServerConnection

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
        limits: RelayLimits | None = None,
        expose_session: bool = False,
        compression: str | None = None,
        upstream_compression: str | Literal["auto"] | None = "auto",
        gate: Gate | None = None,
        reuse_port: bool = False,
        store: SnapshotStore | None = None,
        journal: bool = False,
        narrate: bool = False,
    ) -> None:
        self.limits = limits or RelayLimits()
        super().__init__(
            host,
            port,
            max_size=self.limits.max_frame,
            compression=compression,
            write_limit=self.limits.write_limit,
            logger=log,
            reuse_port=reuse_port,
        )
        self.compiled, self.upstream, self.api_key = compiled, upstream, api_key
        self.upstream_compression = (
            (None if is_loopback(urlsplit(upstream).hostname) else "deflate")
            if upstream_compression == "auto"
            else upstream_compression
        )
        """permessage-deflate towards the upstream: off on a loopback hop (``"auto"``), on for a remote one."""
        self.audit = Stamped.of(audit, compiled.flow)
        self.flow_hash = self.audit.flow_hash
        self.on_action = on_action
        self.tools = ToolRegistry.from_flow(compiled.doc)
        self.supervisor: SupervisorBackend | None = (
            make_supervisor(compiled.doc, self.tools, api_key=api_key) if compiled.flow.supervisor else None
        )
        self.context = context
        if context is not None and not callable(context):
            initial_context(compiled.flow, context, complete=False)  # keys checked once, at start-up
        self.options = RelayOptions(
            expose_session=expose_session,
            send_timeout_s=self.limits.send_timeout_s,
            idle_timeout_s=self.limits.idle_timeout_s,
            narrate=narrate,
        )
        self.conversations = 0
        """Conversations handled since start."""
        self.active: dict[str, tuple[Client, Conversation | None]] = {}
        """The live conversations by id (the conversation is ``None`` while its upstream opens)."""
        self.draining = False
        self.gate = gate
        """Who may connect (``None``: anyone — the CLI always passes one; ``--no-auth`` is an open gate)."""
        self._grants: weakref.WeakKeyDictionary[Client, Grant] = weakref.WeakKeyDictionary()
        self.store = store
        """Where each conversation's snapshot is saved, and found again by a client that reconnects with
        ``?conversation_id=ID`` (``None``: conversations cannot be resumed)."""
        if journal and not hasattr(store, "commit"):
            raise ValueError("journal=True needs a store that keeps audit records too (sqlite: or redis://)")
        self.journal = journal
        """The store writes each step's audit records with its snapshot, in one transaction (the audit
        sink then only answers ``last_seq``): ``serve --store URL --audit URL``."""
        self._ended: dict[str, asyncio.Event] = {}
        self._ids: weakref.WeakKeyDictionary[Client, tuple[str, bool]] = weakref.WeakKeyDictionary()
        """Each admitted connection's conversation id, and whether it resumes one."""

    def admit(self, connection: ServerConnection, request: Request) -> Response | None:
        refusal = self._refusal(connection, request.headers, request.path)
        return None if refusal is None else connection.respond(*refusal)

    def _refusal(self, connection: Client, headers: Headers, path: str) -> tuple[HTTPStatus, str] | None:
        """Why a handshake is refused (its status and text), or ``None``: admitted, and the connection's grant
        and conversation id (new, or the one it resumes) are noted."""
        if self.gate is not None:
            try:
                self._grants[connection] = self.gate.admit(headers, self.compiled.flow.flow.name)
            except AuthError as exc:
                log.warning("refused a handshake from %s: %s", _peer(connection), exc)
                return HTTPStatus(exc.status), f"{exc}\n"
        if self.draining:
            return HTTPStatus.SERVICE_UNAVAILABLE, "The relay is shutting down.\n"
        wanted = parse_qs(urlsplit(path).query).get("conversation_id")
        if wanted is not None:
            if self.store is None:
                return (
                    HTTPStatus.BAD_REQUEST,
                    "This relay keeps no conversations to resume (start it with --store).\n",
                )
            if not CONVERSATION_ID.fullmatch(wanted[-1]):
                return HTTPStatus.BAD_REQUEST, "conversation_id is not a conversation id.\n"
        self._ids[connection] = (wanted[-1], True) if wanted else (new_conversation_id(), False)
        if len(self.active) >= self.limits.max_conversations:
            limit = self.limits.max_conversations
            return (
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"The relay is at its limit of {limit} conversations; retry later.\n",
            )
        return None

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An ASGI application: a ``websocket`` scope is one conversation, admitted and supervised as
        :meth:`handle` does for ``serve``'s own connections (:mod:`engine.runtime.asgi`)."""
        if scope["type"] != "websocket":
            raise ValueError(f"the relay serves websocket scopes, not {scope['type']!r}")
        connection = AsgiConnection(scope, receive, send, self.limits.max_frame)
        if (await receive())["type"] != "websocket.connect":
            return
        refusal = self._refusal(connection, connection.request.headers, connection.request.path)
        if refusal is not None:
            await connection.refuse(*refusal)
            return
        await connection.accept({CONVERSATION_HEADER: self._ids[connection][0]})
        await self.handle(connection)

    def accepted(self, connection: ServerConnection, response: Response) -> None:
        response.headers[CONVERSATION_HEADER] = self._ids[connection][0]

    async def handle(self, client: Client) -> None:
        """One conversation, supervised: whatever fails, the client gets an ``error`` and a close, the
        ``end`` record is written (once the session exists) and both sockets are freed."""
        conversation_id, resuming = self._ids.get(client) or (new_conversation_id(), False)
        if conversation_id in self.active:  # its old connection is still being wound up here
            await _report(
                client, "this conversation is still live on its old connection", "conversation_active"
            )
            await client.close(1013, "try again later")
            return
        if len(self.active) >= self.limits.max_conversations:  # admitted in the same instant as others
            await _report(client, "the relay is at its conversation limit", "server_busy")
            await client.close(1013, "try again later")
            return
        self.conversations += 1
        self.active[conversation_id] = (client, None)
        self._ended[conversation_id] = ended = asyncio.Event()
        try:
            await self._converse(client, conversation_id, resuming)
        except Exception as exc:  # the supervisor: nothing one conversation does may escape
            ref = new_id("err")
            log.error("%s: %s failed (%s)", conversation_id, ref, exc, exc_info=True)
            await _report(client, f"internal error (reference {ref})", "internal_error")
            await client.close(1011, "internal error")
        finally:
            del self.active[conversation_id]
            del self._ended[conversation_id]
            ended.set()

    async def until_ended(self, conversation_id: str) -> None:
        """Return once the handler of ``conversation_id`` here is done (its records and snapshot written)."""
        ended = self._ended.get(conversation_id)
        if ended is not None:
            await ended.wait()

    async def _converse(self, client: Client, conversation_id: str, resuming: bool) -> None:
        opening: tuple[Session, list[Action], str | None] | None = None
        if resuming:
            opening = await self._resumed(client, conversation_id)
            if opening is None:
                return
        try:
            context = {} if resuming else self._context_for(client)
        except ContextError as exc:
            cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
            self.on_action(
                Transcript("notice", self.compiled.flow.flow.entry, f"{conversation_id}: {exc}{cause}")
            )
            await _report(client, f"initial context: {exc}", "invalid_initial_context")
            await client.close(1008, "bad initial context")
            return
        conversation: Conversation | None = None
        try:
            upstream = RealtimeClient.connect(
                self.upstream, api_key=self.api_key, compression=self.upstream_compression
            )
            async with upstream as connection:
                connection.unread = UNREAD  # the streaming deltas go down as they came, undecoded
                if opening is not None:
                    session = opening[0]
                else:
                    session = Session(
                        self.compiled, conversation_id, clock=time.time, initial_context=context
                    )
                conversation = Conversation(
                    session, connection, self.tools, self.audit, self.on_action, self.supervisor
                )
                if opening is not None:
                    conversation.opening = opening[1]
                conversation.trace = trace = ConversationTrace(
                    conversation_id,
                    self.compiled.flow.flow.name,
                    self.flow_hash,
                    parent=self._trace_parent(client, opening),
                    resumed=opening is not None,
                )
                writer: SnapshotWriter | None = None
                if self.store is not None:
                    writer, conversation.persist = self._saver(conversation_id, self._owner(client), trace)
                    if self.journal:
                        conversation.journal = self._committer(self._owner(client), trace, writer)
                    await conversation.persist(session)  # resumable from the start: the client has its id
                self.active[conversation_id] = (client, conversation)
                try:
                    error = await conversation.relay(client, self.options)
                finally:
                    if writer is not None:
                        await self._keep_or_forget(client, conversation, writer)
                    trace.close()
                if conversation.ended_by == "slow_reader":
                    log.warning("%s: cut off a client that stopped reading", conversation_id)
                    client.transport.abort()  # its buffer is full: a close frame would wait behind it
                if conversation.ended_by is not None:  # what the upstream still sends is for no one
                    connection.ws.close_timeout = UPSTREAM_CLOSE_S
        except UpstreamError as exc:
            error = exc
        ended_by = conversation.ended_by if conversation is not None else None
        if ended_by == "slow_reader":
            pass
        elif ended_by == "idle":
            await client.close(1000, "idle timeout")
        elif isinstance(error, InternalError):
            ref = new_id("err")
            log.error("%s: %s %s", conversation_id, ref, error)
            await _report(client, f"internal error (reference {ref})", "internal_error")
            await client.close(1011, "internal error")
        elif error is not None:  # its URL, HTTP body and headers stay here: the client gets a reference
            ref = new_id("err")
            log.error("%s: %s upstream failed: %s", conversation_id, ref, error)
            await _report(client, f"the upstream failed (reference {ref})")
            await client.close(1011, "upstream failed")

    def _owner(self, client: Client) -> str:
        grant = self._grants.get(client)
        return grant.subject if grant is not None else "open"

    def _trace_parent(self, client: Client, opening: tuple[Session, list[Action], str | None] | None) -> Any:
        """The conversation span's parent: the trace a resumed conversation began, else the client's own
        W3C ``traceparent`` (a malformed one is ignored)."""
        if opening is not None and opening[2]:
            return tracing.context_from_traceparent(opening[2])
        headers = client.request.headers if client.request is not None else {}
        return tracing.context_from_traceparent(headers.get("traceparent"), headers.get("tracestate"))

    def _saver(
        self, conversation_id: str, owner: str, trace: ConversationTrace
    ) -> tuple[SnapshotWriter, Callable[[Session], Awaitable[None]]]:
        """The conversation's snapshot writer, and its :attr:`Conversation.persist`: the snapshot taken at
        once, written in the background (:mod:`engine.store.writer`)."""
        store = self.store
        assert store is not None
        failed = False

        def report(exc: Exception) -> None:
            nonlocal failed
            if not failed:  # the store is down: the call goes on, it just cannot be resumed
                log.error("%s: could not save its snapshot (%s)", conversation_id, exc)
            failed = True

        writer = SnapshotWriter(lambda text: store.save(conversation_id, text), report)

        def save(session: Session) -> Awaitable[None]:
            return writer.submit(_entry(owner, session, trace))

        return writer, save

    def _committer(
        self, owner: str, trace: ConversationTrace, writer: SnapshotWriter
    ) -> Callable[[Session, list[AuditRecord]], Awaitable[None]]:
        store: Any = self.store
        audit = self.audit

        async def commit(session: Session, records: list[AuditRecord]) -> None:
            text = _entry(owner, session, trace)
            stamped = [audit.stamp(r) for r in records]
            await writer.idle()  # an older snapshot written after this commit would undo it
            try:
                await store.commit(session.conversation_id, text, stamped)
            except Exception as exc:  # the store failed: the records still go to the sink, never lost
                log.error(
                    "%s: could not commit a step (%s); writing its records alone",
                    session.conversation_id,
                    exc,
                )
                for record in records:
                    await write_to(audit, record)

        return commit

    async def _keep_or_forget(
        self, client: Client, conversation: Conversation, writer: SnapshotWriter
    ) -> None:
        """A conversation the client ended (it sent close 1000 first) is over: its snapshot is deleted.
        Any other end (the connection dropped, the relay shut down) keeps the latest snapshot to resume."""
        received, sent_first = client.protocol.close_rcvd, not client.protocol.close_rcvd_then_sent
        store = self.store
        assert store is not None
        try:
            if received is not None and received.code == 1000 and not sent_first:
                await writer.idle()  # a write still under way would bring it back
                await store.delete(conversation.session.conversation_id)
            elif conversation.persist is not None:
                await conversation.persist(conversation.session)
        except Exception as exc:
            log.error("%s: could not update its snapshot (%s)", conversation.session.conversation_id, exc)

    async def _resumed(
        self, client: Client, conversation_id: str
    ) -> tuple[Session, list[Action], str | None] | None:
        """The session a reconnecting client continues, its opening actions and the trace it continues (a
        ``traceparent``); ``None`` once the client has been told why not (unknown or expired id, another
        credential's conversation, a bad snapshot)."""
        assert self.store is not None
        try:
            text = await self.store.load(conversation_id)
            seen = await self.audit.last_seq(conversation_id)
        except Exception as exc:
            ref = new_id("err")
            log.error("%s: %s could not load its snapshot: %s", conversation_id, ref, exc)
            await _report(client, f"the conversation store failed (reference {ref})", "store_error")
            await client.close(1011, "store failed")
            return None
        entry: Any = None
        if text is not None:
            with suppress(ValueError):
                entry = json.loads(text)
        if not isinstance(entry, dict) or not isinstance(entry.get("snapshot"), dict):
            await _report(
                client, "no such conversation (unknown, ended or expired)", "conversation_not_found"
            )
            await client.close(1008, "unknown conversation")
            return None
        if not hmac.compare_digest(str(entry.get("owner")).encode(), self._owner(client).encode()):
            log.warning("%s: refused a resume with another credential", conversation_id)
            await _report(
                client, "this conversation was started with another credential", "conversation_forbidden"
            )
            await client.close(1008, "forbidden")
            return None
        try:
            session, actions = Session.resume(
                self.compiled, entry["snapshot"], clock=time.time, seen_seq=seen
            )
            traceparent = entry.get("traceparent")
            return session, actions, traceparent if isinstance(traceparent, str) else None
        except SnapshotError as exc:
            log.error("%s: cannot resume: %s", conversation_id, exc)
            await _report(client, f"the conversation cannot be resumed: {exc}", "conversation_not_found")
            await client.close(1008, "cannot resume")
            return None

    def _context_for(self, client: Client) -> dict[str, Any]:
        """The connection's initial context, checked: the fixed mapping or the hook's values, overridden by
        what the client secret it connected with carries; a hook that raises is a refused connection too."""
        context = self.context
        if callable(context):
            try:
                context = context(client)
            except Exception as exc:  # the hook is the application's code: contain it
                raise ContextError(f"the context hook failed: {type(exc).__name__}") from exc
        grant = self._grants.get(client)
        merged = {**(context or {}), **(grant.context if grant is not None else {})}
        return initial_context(self.compiled.flow, merged)

    async def shutdown(self, drain_s: float = 10.0) -> None:
        """Stop accepting; tell every client (``error`` ``server_shutting_down``); let in-flight responses
        finish for at most ``drain_s``; close each client with 1001; wait until every handler (and so every
        ``end`` record) is done."""
        self.draining = True
        if (
            self._server is not None
        ):  # embedded (asgi, or another websockets server's handler): theirs to close
            self.server.close(close_connections=False)
        live = list(self.active.values())
        notice = encode(
            error_event("server_error", "server_shutting_down", "the relay is shutting down; reconnect")
        )
        await asyncio.gather(*(_send_quietly(client, notice) for client, _ in live))
        settling = [c.settle(drain_s) for _, c in live if c is not None]
        if settling:
            await asyncio.wait_for(asyncio.gather(*settling), drain_s + 1.0)
        await asyncio.gather(*(client.close(1001, "server shutting down") for client, _ in live))
        await asyncio.gather(*(ended.wait() for ended in list(self._ended.values())))
        if self._server is not None:
            await self.server.wait_closed()


def _entry(owner: str, session: Session, trace: ConversationTrace) -> str:
    """What the store keeps for a conversation: who may resume it, its snapshot, the trace it continues."""
    owner_json, trace_json = json.dumps(owner), json.dumps(trace.traceparent)
    return f'{{"owner":{owner_json},"snapshot":{session.snapshot_json()},"traceparent":{trace_json}}}'


def _peer(connection: Client) -> str:
    try:
        address: Any = connection.remote_address
        host, port = address[:2]
        return f"{host}:{port}"
    except (TypeError, ValueError, OSError):
        return "an unknown peer"


async def _send_quietly(client: Client, frame: str) -> None:
    try:
        await asyncio.wait_for(client.send(frame), 1.0)
    except Exception:  # the client is gone, or not reading
        pass


async def _report(client: Client, message: str, code: str = "upstream_error") -> None:
    await _send_quietly(client, encode(error_event("server_error", code, message)))


async def run_relay(
    relay: Relay, ready: Callable[[str], None], stop: asyncio.Event | None = None, drain_s: float = 10.0
) -> None:
    """Serve until cancelled or ``stop`` is set (then :meth:`Relay.shutdown`); ``ready(url)`` once listening."""
    async with relay:
        ready(relay.url)
        if stop is None:
            await relay.serve_forever()
            return
        await stop.wait()
        await relay.shutdown(drain_s)
