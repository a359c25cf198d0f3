"""Drive one conversation: a realtime connection, the sans-I/O session core, the flow's tools and the audit sink.

Everything the core consumes (server events, tool results, user turns) goes through one queue and is handled
by one pump, so the client events of one step are sent in order and never interleave with another step's.

A relay forwards first and thinks after: a server event that its client sees exactly as it came (most of a
turn's: the deltas, the message items, ``response.done`` without function calls) is sent down by the
upstream reader itself, as soon as it is read, and only then queued for the core. What the client sees of
such an event never depends on what the core makes of it, so the core's work leaves the turn's critical
path. Order is kept: the reader sends an event itself only while no event it queued earlier is still
waiting to be forwarded by the pump (:attr:`Conversation._unforwarded`), and only when the send cannot block.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from websockets.exceptions import ConnectionClosed

from engine import tracing
from engine.errors import SwitchboardError
from engine.runtime.client import Received, Unread, UpstreamError
from engine.runtime.tools import ToolRegistry, ToolTimedOut, ToolUnavailable, describe_exception
from engine.runtime.trace_view import ConversationTrace
from engine.session.actions import (
    Action,
    Audit,
    CancelEscalation,
    Escalate,
    RunTool,
    Send,
    ToolFailure,
    Transcript,
)
from engine.session.audit import AuditRecord, AuditSink, write_to
from engine.session.call_view import CallView
from engine.session.client_view import owned_field, redact_session
from engine.session.core import Session
from engine.session.events import HANDLED
from engine.wire.batching import BatchedWrites
from engine.wire.protocol import ProtocolError, check_client_event, decode, encode

if TYPE_CHECKING:
    from engine.supervisor.backend import SupervisorBackend


class Connection(Protocol):
    async def send(self, event: dict[str, Any]) -> None: ...

    def __aiter__(self) -> Any: ...


class ConversationError(SwitchboardError):
    """The conversation could not go on (upstream dropped, a turn timed out)."""


class InternalError(ConversationError):
    """The conversation's own code failed on an input (a bug, or an input nothing checked): it ends cleanly."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"internal error: {type(cause).__name__}: {cause}")
        self.__cause__ = cause


TRANSPORT_ERRORS = (UpstreamError, ConnectionClosed, OSError)
"""What sending upstream raises when the connection broke (anything else is an :class:`InternalError`)."""


@dataclass(frozen=True)
class RelayOptions:
    """How :meth:`Conversation.relay` treats its client."""

    expose_session: bool = False
    """Forward ``session.created/updated`` unredacted (every agent's prompt and tools: for debugging)."""
    send_timeout_s: float = 10.0
    """A client that has not taken a frame within this long (its send buffer full) is a slow reader: cut off."""
    idle_timeout_s: float | None = 600.0
    """A client that sends nothing for this long is closed (``None``: never)."""
    narrate: bool = False
    """Also send the client what the flow does, as ``switchboard.*`` events (the playground's page): every
    transcript line and audit record (sensitive values masked) and, after each such step, the context the
    agent sees. Not OpenAI events: only for a client that asks for them."""


@dataclass(frozen=True)
class _ToolDone:
    call_id: str
    output: Any
    error: str | None = None
    outcome: ToolFailure = "failed"


@dataclass(frozen=True)
class _SupervisorDone:
    escalation_id: str
    answer: str | None
    tool_rounds: int = 0
    tool_errors: tuple[str, ...] = ()
    error: str | None = None
    timed_out: bool = False


@dataclass(frozen=True)
class UserTurn:
    text: str
    interrupt: bool = False


def _is_idle(session: Session) -> bool:
    return session.idle


def _can_interrupt(session: Session) -> bool:
    return session.can_interrupt


@dataclass(frozen=True)
class _Closed:
    error: BaseException | None


class _Start:
    """The conversation starts: the core configures the entry agent."""


_START = _Start()


class _Tick:
    """The session's :attr:`~Session.deadline` passed with no input: let the core time out what waits."""


_TICK = _Tick()


CLIENT_BACKLOG = 64
"""Client events a relayed conversation holds unhandled before it stops reading the client."""


@dataclass(frozen=True)
class _ClientEvent:
    event: dict[str, Any]


@dataclass(frozen=True)
class _Passed:
    """A server event the reader has already sent down to the client as it came: for the core only."""

    event: dict[str, Any]


class Downstream(Protocol):
    """A Realtime client connected to the relay (a ``websockets`` server connection)."""

    async def send(self, message: str) -> None: ...

    async def recv(self) -> str | bytes: ...


Input = (
    dict[str, Any]
    | Unread
    | _Start
    | _Tick
    | ProtocolError
    | _ToolDone
    | _SupervisorDone
    | UserTurn
    | _ClientEvent
    | _Passed
    | _Closed
)


class Conversation:
    """Runs :class:`Session` over ``connection``; ``on_action`` sees every action (for printing)."""

    def __init__(
        self,
        session: Session,
        connection: Connection,
        tools: ToolRegistry,
        audit: AuditSink,
        on_action: Callable[[Action | ProtocolError], None] = lambda _: None,
        supervisor: SupervisorBackend | None = None,
    ) -> None:
        self.session = session
        self.supervisor = supervisor
        self.connection = connection
        self.tools = tools
        self.audit = audit
        self.on_action = on_action
        self._inputs: asyncio.Queue[Input] = asyncio.Queue()
        self._client_slots = asyncio.Semaphore(CLIENT_BACKLOG)
        """Client events read but not yet handled: past :data:`CLIENT_BACKLOG` the relay stops reading that
        client's socket (TCP pushes back on it), so a client that sends without reading cannot grow memory."""
        self.client_backlog = 0
        """Client events read and not yet handled (at most :data:`CLIENT_BACKLOG`)."""
        self._step = asyncio.Event()
        """Set after each input the pump has handled."""
        self._step.set()
        self._unforwarded = 0
        """Server events queued for the pump to forward (or keep from the client) and not done yet: while
        there are any, the reader queues every later one too, so that none overtakes them."""
        self._closed: _Closed | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._escalations: dict[str, asyncio.Task[None]] = {}
        self._downstream: Downstream | None = None
        self._options = RelayOptions()
        self._calls = CallView()
        """What the relay's client sees of function calls (nothing: they are the flow's)."""
        self.opening: list[Action] | None = None
        """The first actions instead of :meth:`Session.start`'s (a resumed conversation's)."""
        self.persist: Callable[[Session], Awaitable[None]] | None = None
        """Takes the session's snapshot at once and returns what completes once it is written: at once
        after a step with audit records (awaited there), else once a step changed it, nothing is queued
        and the session is idle (a turn is over: about one write per turn). That write overlaps the wait
        for the next input; the pump waits for it before its next step."""
        self._written: Awaitable[None] | None = None
        """The turn's snapshot being written (see :attr:`persist`)."""
        self.journal: Callable[[Session, list[AuditRecord]], Awaitable[None]] | None = None
        """Writes a step's audit records and the snapshot in one transaction (instead of the audit sink)."""
        self._dirty = False
        self.trace: ConversationTrace | None = None
        """The conversation's spans (OpenTelemetry): every action is shown to it."""
        self.ended_by: str | None = None
        """Why :meth:`relay` ended the client's side itself: ``"slow_reader"`` or ``"idle"`` (else ``None``)."""

    async def run_turns(self, turns: Sequence[UserTurn | str], *, turn_timeout: float = 30.0) -> None:
        """Say each user turn once the previous one is answered; return when the last one is.

        A turn with ``interrupt=True`` is said as soon as no response is in flight, even while an
        escalation is pending (a barge-in).
        """
        async with self._running():
            await self._start()
            for turn in turns:
                turn = UserTurn(turn) if isinstance(turn, str) else turn
                await self._wait_until(_can_interrupt if turn.interrupt else _is_idle, turn_timeout)
                self._say(turn.text)
            await self._wait_until(_is_idle, turn_timeout)
            await self._execute(self.session.finish())

    async def run_interactive(self, read_line: Callable[[], Any], *, turn_timeout: float = 60.0) -> None:
        """Like :meth:`run_turns`, the turns coming from ``await read_line()`` until it returns ``None``."""
        async with self._running():
            await self._start()
            while True:
                await self._wait_until(_is_idle, turn_timeout)
                text = await read_line()
                if text is None:
                    await self._execute(self.session.finish())
                    return
                if text.strip():
                    self._say(text)

    async def relay(
        self, downstream: Downstream, options: RelayOptions | None = None
    ) -> BaseException | None:
        """Sit between a Realtime client (``downstream``) and the upstream until either side closes.

        Client events are checked (:func:`check_client_event`, then :func:`owned_field`: a bad one gets an
        ``error`` and the connection stays) and go upstream through :meth:`Session.client_event`; server
        events go down to the client (sessions redacted, function calls hidden; an event shown unchanged
        is sent as soon as it is read, ahead of the core) and to the core. Whatever happens, the
        conversation's ``end`` record is written. Returns the error it ended with (upstream or internal).
        """
        self._downstream = downstream
        self._options = options or RelayOptions()
        try:
            async with self._running():
                self._spawn(self._read_downstream(downstream))
                await self._start()
                await self._pumping  # it ends only when either side closes: no wake-up per input
        finally:
            await self._execute(self.session.finish())
        return self._closed.error if self._closed is not None else None

    async def settle(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until no response is in flight and no tool is outstanding."""
        with suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self._closed is None and not (self._inputs.empty() and _can_interrupt(self.session)):
                    self._step.clear()
                    await self._step.wait()

    async def _forward(self, downstream: Downstream, event: dict[str, Any]) -> bool:
        """Pass a server event down to the client (function calls hidden, sessions redacted); ``False`` when
        the client has gone or stopped reading."""
        shown = self._calls.view(event)
        if shown is None:
            return True
        if not self._options.expose_session:
            shown = redact_session(shown, self.session.agent, self.session.conversation_id)
        if shown is event and isinstance(event, Received):  # unchanged: the frame as it came
            return await self._send_down(downstream, event.frame)
        return await self._send_down(downstream, encode(shown))

    async def _send_down(self, downstream: Downstream, frame: str) -> bool:
        try:
            if _cannot_block(downstream, frame):
                await downstream.send(frame)  # no timer per frame on the pass-through path
                return True
            async with asyncio.timeout(self._options.send_timeout_s):
                await downstream.send(frame)
        except TimeoutError:  # its send buffer stayed full: a slow (or hostile) reader
            self.ended_by = "slow_reader"
            return False
        except Exception:  # closed, or the transport broke: the relay ends this conversation
            return False
        return True

    async def _read_downstream(self, downstream: Downstream) -> None:
        idle = self._options.idle_timeout_s
        try:
            while True:
                try:
                    async with asyncio.timeout(idle):  # no task per frame, as wait_for makes
                        frame = await downstream.recv()
                except TimeoutError:
                    self.ended_by = "idle"
                    break
                try:
                    event = decode(frame)
                    check_client_event(event)
                    _refuse_owned(event)
                except ProtocolError as exc:
                    if not await self._send_down(downstream, encode(exc.to_event())):
                        break
                else:
                    await self._client_slots.acquire()
                    self.client_backlog += 1
                    self._inputs.put_nowait(_ClientEvent(event))
        except Exception:  # the client went away (closed or abruptly): same as a close
            pass
        self._inputs.put_nowait(_Closed(None))

    # -- machinery ---------------------------------------------------------------------------------------

    async def _start(self) -> None:
        """Configure the entry agent, through the pump like everything else."""
        self._inputs.put_nowait(_START)
        self._step.clear()

    def _say(self, text: str) -> None:
        self._inputs.put_nowait(UserTurn(text))
        self._step.clear()

    @asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        """The reader and the pump run inside; on the way out they (and tool tasks) are cancelled."""
        self._spawn(self._read())
        self._pumping = self._spawn(self._pump())
        try:
            yield
        finally:
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with suppress(asyncio.CancelledError, Exception):
                    await task

    async def _wait_until(
        self, ready: Callable[[Session], bool], timeout: float, *, closing_is_error: bool = True
    ) -> None:
        """Wait until the pump has drained its inputs and ``ready(session)`` holds (or the upstream closed)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._closed is None and not (
            self._inputs.empty() and self._step.is_set() and ready(self.session)
        ):
            self._step.clear()
            try:
                await asyncio.wait_for(self._step.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                s = self.session.status()
                raise ConversationError(
                    f"no answer within {timeout:g}s (agent '{s.agent}', response in flight: "
                    f"{s.response_in_flight}, tools pending: {list(s.pending_tools) or 'none'}, "
                    f"escalation pending: {s.pending_escalation is not None})"
                ) from None
        if self._closed is not None and closing_is_error:
            error = self._closed.error
            raise ConversationError(f"upstream closed: {error}" if error else "upstream closed") from error

    async def _read(self) -> None:
        try:
            async for event in self.connection:
                if isinstance(event, Unread):
                    if self.session.reads_nothing_of(event.kind) and await self._pass(event.frame):
                        continue  # sent down, and the core reads nothing of it
                    self._unforwarded += 1
                elif (
                    isinstance(event, Received)
                    and self._passes_as_is(event)
                    and await self._pass(event.frame)
                ):
                    self._inputs.put_nowait(_Passed(event))
                    continue
                elif isinstance(event, dict):
                    self._unforwarded += 1
                self._inputs.put_nowait(event)
            self._inputs.put_nowait(_Closed(None))
        except Exception as exc:  # the transport's own errors (dropped, refused) end the conversation
            self._inputs.put_nowait(_Closed(exc))

    def _passes_as_is(self, event: dict[str, Any]) -> bool:
        """Whether the client sees ``event`` exactly as it came (see :meth:`_forward`), whatever the core
        makes of it and of the events before it still in the queue."""
        kind = event.get("type")
        return (
            kind not in ("session.created", "session.updated", "error")
            and not self.session.is_internal(event)
            and self._calls.shows_as_is(event)
        )

    async def _pass(self, frame: str) -> bool:
        """Send ``frame`` down from the reader itself, ahead of the core, when nothing can be ahead of it or
        overtake it: no earlier event waits to be forwarded, the send completes without waiting, and the
        pump sends nothing else down (no narration). ``False``: it goes through the pump."""
        downstream = self._downstream
        if (
            downstream is None
            or self._unforwarded
            or self._options.narrate
            or self._closed is not None
            or not _cannot_block(downstream, frame)
        ):
            return False
        try:
            await downstream.send(frame)
        except Exception:  # the client is gone: the pump finds out with its next send, and ends
            return False
        return True

    async def _next_input(self) -> Input:
        """The next input, or :data:`_TICK` once the session's deadline (if any) passes first."""
        left = self.session.time_left()
        try:
            if left is None:
                return await self._inputs.get()
            return await asyncio.wait_for(self._inputs.get(), left)
        except TimeoutError:
            return _TICK

    async def _pump(self) -> None:
        """Handle inputs until closed; an exception ends the conversation (never a hung, leaked task)."""
        try:
            await self._pump_inputs()
        except Exception as exc:  # a bug, or an input nothing checked: the conversation ends cleanly
            self._closed = _Closed(InternalError(exc))
            self._step.set()

    async def _pump_inputs(self) -> None:
        while True:
            if self._dirty and self.persist is not None and self._inputs.empty() and self.session.idle:
                self._dirty = False  # once a turn is over (what a resume continues from), the latest state
                self._written = self.persist(self.session)
            item = await self._next_input()
            if self._written is not None:  # written before anything after the turn is handled
                written, self._written = self._written, None
                await written
            self._step.clear()
            if isinstance(item, _Closed):
                self._closed = item
                self._step.set()
                return
            passed = isinstance(item, _Passed)
            if isinstance(item, _Passed):  # the client has it already
                item = item.event
            if isinstance(item, Unread):  # a streaming delta: the client's, as it came
                if self.session.reads_nothing_of(item.kind) and self._downstream is not None:
                    sent = await self._send_down(self._downstream, item.frame)
                    self._unforwarded -= 1
                    if not sent:
                        self._closed = _Closed(None)
                        self._step.set()
                        return
                    self._step.set()
                    continue
                try:  # the core reads it after all (a history job is in flight)
                    item = item.decoded()
                except ProtocolError as exc:
                    self._unforwarded -= 1  # nothing to forward
                    item = exc
            if isinstance(item, _Start):
                actions: list[Action] = self.opening if self.opening is not None else self.session.start()
            elif isinstance(item, _Tick):
                actions = self.session.tick()
            elif isinstance(item, ProtocolError):
                self.on_action(item)
                actions = []
            elif isinstance(item, _ToolDone):
                actions = self.session.tool_result(
                    item.call_id, item.output, error=item.error, outcome=item.outcome
                )
            elif isinstance(item, _SupervisorDone):
                self._escalations.pop(item.escalation_id, None)
                actions = self.session.supervisor_result(
                    item.escalation_id,
                    item.answer,
                    tool_rounds=item.tool_rounds,
                    tool_errors=item.tool_errors,
                    error=item.error,
                    timed_out=item.timed_out,
                )
            elif isinstance(item, UserTurn):
                actions = self.session.user_text(item.text)
            elif isinstance(item, _ClientEvent):
                self._client_slots.release()
                self.client_backlog -= 1
                actions = self.session.client_event(item.event)
            elif passed:
                actions = self.session.receive(item)
            else:
                received = await self._receive(item)
                if received is None:
                    return
                actions = received
            if actions or not isinstance(item, dict) or item.get("type") in HANDLED:
                self._dirty = True  # the step may have changed what a snapshot holds
            try:
                await self._execute(actions)
            except Exception as exc:  # the upstream broke while we sent (or a bug): the conversation ends
                self._closed = _Closed(exc if isinstance(exc, TRANSPORT_ERRORS) else InternalError(exc))
                self._step.set()
                return
            self._step.set()

    async def _receive(self, event: dict[str, Any]) -> list[Action] | None:
        """A server event (a relay's) down to the client, then into the core; ``None`` once the client is
        gone (the conversation is closed). What the client sees of an event never depends on what the
        core makes of it, so the client gets it first: the core's work is not on its path."""
        if self._downstream is not None and not self.session.is_internal(event):  # not the history work's
            forwarded = await self._forward(self._downstream, event)
            self._unforwarded -= 1
            if not forwarded:
                self._closed = _Closed(None)
                self._step.set()
                return None
        else:
            self._unforwarded -= 1
        return self.session.receive(event)

    async def _execute(self, actions: list[Action]) -> None:
        """Carry out one step's actions in order. A step with audit records (a handoff, a tool call, an
        escalation, the end) saves its snapshot at once: through :attr:`journal`, records and snapshot in
        one transaction; else the records go to the sink, then the snapshot to :attr:`persist`."""
        records: list[AuditRecord] = []
        narrated = False
        for action in actions:
            if isinstance(action, Send):
                await self.connection.send(action.event)
            elif isinstance(action, RunTool):
                self._spawn(self._run_tool(action))
            elif isinstance(action, Escalate):
                self._escalations[action.request.escalation_id] = self._spawn(self._ask_supervisor(action))
            elif isinstance(action, CancelEscalation):
                task = self._escalations.pop(action.escalation_id, None)
                if task is not None:
                    task.cancel()
            elif isinstance(action, Audit):
                records.append(action.record)
                if self.journal is None:
                    await write_to(self.audit, action.record)
            self.on_action(action)
            if self.trace is not None:
                self.trace.observe(action)
            if self._options.narrate and isinstance(action, Audit | Transcript):
                narrated = True
                await self._narrate(_narration(action))
        if narrated:
            await self._narrate({"type": "switchboard.context", **self.session.context_view()})
        if records and self.journal is not None:
            self._dirty = False
            await self.journal(self.session, records)
        elif records and self.persist is not None:
            self._dirty = False
            await self.persist(self.session)

    async def _narrate(self, event: dict[str, Any]) -> None:
        if self._downstream is not None:
            await self._send_down(self._downstream, encode(event))

    async def _ask_supervisor(self, action: Escalate) -> None:
        escalation_id = action.request.escalation_id
        if self.supervisor is None:
            self._inputs.put_nowait(
                _SupervisorDone(escalation_id, None, error="no supervisor backend configured")
            )
            return
        span = self.trace.escalation(escalation_id, action.request.agent) if self.trace is not None else None
        try:
            with tracing.current(
                span
            ):  # the backend's own spans (its HTTP call) are the escalation's children
                answer = await asyncio.wait_for(
                    self.supervisor.answer(action.request, max_tool_rounds=action.max_tool_rounds),
                    action.timeout_s,
                )
        except TimeoutError:
            self._inputs.put_nowait(_SupervisorDone(escalation_id, None, timed_out=True))
        except Exception as exc:  # a failing backend yields the fallback answer, never a dead session
            self._inputs.put_nowait(
                _SupervisorDone(escalation_id, None, error=f"{type(exc).__name__}: {exc}")
            )
        else:
            self._inputs.put_nowait(
                _SupervisorDone(
                    escalation_id, answer.text, tool_rounds=answer.tool_rounds, tool_errors=answer.tool_errors
                )
            )

    async def _run_tool(self, action: RunTool) -> None:
        """Run the tool within its timeout; its result, or why there is none, goes to the core."""
        call_id = action.call_id
        try:
            output = await self.tools.call(action.name, action.arguments, timeout_s=action.timeout_s)
        except ToolTimedOut as exc:
            self._inputs.put_nowait(_ToolDone(call_id, None, str(exc), "timed_out"))
        except ToolUnavailable as exc:
            self._inputs.put_nowait(_ToolDone(call_id, None, str(exc), "refused"))
        except Exception as exc:  # a tool that raises yields an error output, never a dead session
            self._inputs.put_nowait(_ToolDone(call_id, None, describe_exception(exc)))
        else:
            self._inputs.put_nowait(_ToolDone(call_id, output))

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _narration(action: Audit | Transcript) -> dict[str, Any]:
    """A ``switchboard.audit`` or ``switchboard.transcript`` event (the core has masked both already)."""
    if isinstance(action, Audit):
        return {"type": "switchboard.audit", "record": json.loads(action.record.to_json())}
    return {
        "type": "switchboard.transcript",
        "kind": action.kind,
        "agent": action.agent,
        "text": action.text,
        "detail": action.detail,
    }


def _cannot_block(downstream: Downstream, frame: str) -> bool:
    """Whether sending ``frame`` on a ``websockets`` connection returns without waiting: no fragmented
    message in progress, writing not paused, and the frame (UTF-8: at most 4 bytes a character, plus its
    header) cannot take the transport's buffer past its high-water mark (which would pause it and make
    ``send`` wait for the reader), counting what this loop pass sent and has not yet written. Anything else, or another kind of downstream, may block."""
    transport = getattr(downstream, "transport", None)
    if transport is None or getattr(downstream, "paused", True) or getattr(downstream, "send_in_progress", 1):
        return False
    _, high = transport.get_write_buffer_limits()
    queued = transport.get_write_buffer_size() + (
        downstream.pending_bytes if isinstance(downstream, BatchedWrites) else 0
    )
    return bool(queued + 4 * len(frame) + 14 <= high)


def _refuse_owned(event: dict[str, Any]) -> None:
    """Raise :class:`ProtocolError` when a client event would change what the flow owns."""
    owned = owned_field(event)
    if owned is not None:
        raw_id = event.get("event_id")
        field, message = owned
        raise ProtocolError(
            event["type"],
            field,
            message,
            code="owned_by_flow",
            event_id=raw_id if isinstance(raw_id, str) else None,
        )
