"""A local Realtime server that speaks the OpenAI Realtime GA websocket protocol with a scripted model.

``async with Emulator(Script.load("x.toml")) as emu:`` serves ``emu.url`` (``ws://127.0.0.1:PORT/v1/realtime``);
the OpenAI SDK, the Agents SDK and :class:`engine.runtime.client.RealtimeClient` connect to it unchanged.
Every event it sends has the shape ``openai.types.realtime.RealtimeServerEvent`` defines. Client events are
checked against ``openai.types.realtime``; a bad one gets an ``error`` event and the socket stays open.
``Faults`` makes the server misbehave deterministically (malformed frame, abrupt TCP drop) for tests.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import json
import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from engine.emulator.script import MatchState, Script
from engine.emulator.session import (
    SILENCE,
    chunks,
    default_session,
    dig,
    merge_session,
    position,
    summary_of,
    text_of,
    tokens,
    tool_names,
)
from engine.wire.protocol import Event, ProtocolError, check_client_event, decode, encode, new_id
from engine.wire.server import RealtimeServer

__all__ = ["NO_RULE_MATCHED", "Emulator", "EmulatorStats", "Faults"]

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-realtime"
NO_RULE_MATCHED = "(emulator) no rule matched"
"""How the emulator's answer to a response no script rule matches begins (the rest: what it followed)."""
Observer = Callable[[Literal["client", "server"], Event], None]


@dataclass(frozen=True)
class Faults:
    """Deterministic misbehaviour, counted per connection (responses are numbered from 1)."""

    malformed_after: int | None = None
    """Send one malformed frame right after the ``response.done`` of this response."""
    malformed: Literal["json", "no_type", "missing_field"] = "json"
    """Truncated JSON / an object without ``type`` / a known event type missing its required fields."""
    drop_in_response: int | None = None
    """Abort the TCP connection (no close frame) during this response ..."""
    drop_after_events: int = 1
    """... after this many of its events (``response.created`` is the first) were sent."""
    silent_deletes: bool = False
    """Delete items but never confirm it (no ``conversation.item.deleted``): an upstream that stalls."""


@dataclass
class EmulatorStats:
    """Counters over the emulator's lifetime."""

    connections: int = 0
    client_events: int = 0
    server_events: int = 0
    responses: int = 0
    errors: int = 0


# -- one response ----------------------------------------------------------------------------------------


@dataclass
class _Response:
    """One response: plans its output from the script and yields its events one at a time."""

    conn: _Connection
    params: Event
    id: str = field(default_factory=lambda: new_id("resp"))
    output: list[Event] = field(default_factory=list)
    cancelled: bool = False

    @property
    def in_conversation(self) -> bool:
        return bool(self.params.get("conversation", "auto") != "none")

    def body(self, status: str, usage: Event | None = None) -> Event:
        session = self.conn.session
        output_audio, audio = dig(session, "audio", "output"), dig(self.params, "audio", "output")
        return {
            "object": "realtime.response",
            "id": self.id,
            "status": status,
            "status_details": {"type": "cancelled", "reason": "client_cancelled"}
            if status == "cancelled"
            else None,
            "output": copy.deepcopy(self.output),
            "conversation_id": self.conn.conversation_id if self.in_conversation else None,
            "output_modalities": self.modalities,
            "max_output_tokens": self.params.get(
                "max_output_tokens", session.get("max_output_tokens", "inf")
            ),
            "audio": {
                "output": {
                    "format": audio.get("format", output_audio.get("format")),
                    "voice": audio.get("voice", output_audio.get("voice")),
                }
            },
            "usage": usage,
            "metadata": self.params.get("metadata"),
        }

    @property
    def modalities(self) -> list[str]:
        return list(
            self.params.get("output_modalities") or self.conn.session.get("output_modalities") or ["audio"]
        )

    def _context(self) -> list[Event]:
        if "input" not in self.params:
            return self.conn.items
        return [
            self.conn.find(i["id"]) or {} if i.get("type") == "item_reference" else i
            for i in self.params["input"]
        ]

    def match_state(self) -> MatchState:
        context, session = self._context(), self.conn.session
        instructions = self.params.get("instructions", session.get("instructions")) or ""
        tools = tool_names(self.params.get("tools", session.get("tools")))
        heard = "\n".join(text_of(i) for i in context if i.get("type") == "message")
        state = MatchState(instructions, tools, heard=heard, out_of_band=not self.in_conversation)
        for item in reversed(context):
            if item.get("type") == "message" and item.get("role") == "user":
                return replace(state, user_text=text_of(item))
            if item.get("type") == "function_call_output":
                calls = (
                    i
                    for i in context
                    if i.get("type") == "function_call" and i.get("call_id") == item["call_id"]
                )
                name = next((c.get("name") for c in calls), None)
                return replace(state, function_name=name, function_output=str(item.get("output")))
        return state

    def events(self) -> Iterator[Event]:
        """``response.created`` ... ``response.done``; stops early (status ``cancelled``) once cancelled.

        The answer is planned from the context as it is when the response is created.
        """
        state = self.match_state()
        words_in = sum(self.conn.tokens(i) for i in self._context())
        rule = self.conn.script.match(state)
        if rule is None and state.out_of_band:
            plan: list[tuple[str, Any]] = [("say", summary_of(self._context()))]
        elif rule is None:
            heard = state.user_text if state.function_output is None else f"output of {state.function_name}"
            plan = [("say", f"{NO_RULE_MATCHED}: {heard or ''}")]
        else:
            plan = [("say", rule.render_say(state))] if rule.say is not None else []
            plan += [("call", call) for call in rule.all_calls]
        yield {"type": "response.created", "response": self.body("in_progress")}
        for kind, what in plan:
            if self.cancelled:
                break
            yield from self._message(what) if kind == "say" else self._call(what.name, what.arguments)
        words_out = sum(tokens(i) for i in self.output)
        audio = "audio" in self.modalities
        usage = {
            "total_tokens": words_in + words_out,
            "input_tokens": words_in,
            "output_tokens": words_out,
            "input_token_details": {
                "text_tokens": words_in,
                "audio_tokens": 0,
                "image_tokens": 0,
                "cached_tokens": 0,
            },
            "output_token_details": {
                "text_tokens": 0 if audio else words_out,
                "audio_tokens": words_out if audio else 0,
            },
        }
        yield {
            "type": "response.done",
            "response": self.body("cancelled" if self.cancelled else "completed", usage),
        }

    def _add_item(self, item: Event) -> Iterator[Event]:
        self.output.append(item)
        yield {
            "type": "response.output_item.added",
            "response_id": self.id,
            "output_index": len(self.output) - 1,
            "item": copy.deepcopy(item),
        }
        if self.in_conversation:
            previous = self.conn.id_before(len(self.conn.items))
            self.conn.items.append(item)
            yield {
                "type": "conversation.item.added",
                "previous_item_id": previous,
                "item": copy.deepcopy(item),
            }

    def _end_item(self, item: Event) -> Iterator[Event]:
        item["status"] = "incomplete" if self.cancelled else "completed"
        yield {
            "type": "response.output_item.done",
            "response_id": self.id,
            "output_index": position(self.output, item),
            "item": copy.deepcopy(item),
        }
        at = position(self.conn.items, item)
        if self.in_conversation and at is not None:
            previous = self.conn.id_before(at)
            yield {
                "type": "conversation.item.done",
                "previous_item_id": previous,
                "item": copy.deepcopy(item),
            }

    def _where(self, item: Event, **more: Any) -> Event:
        """The fields naming ``item``, the latest output item, in its delta and done events."""
        return {"response_id": self.id, "item_id": item["id"], "output_index": len(self.output) - 1, **more}

    def _message(self, text: str) -> Iterator[Event]:
        audio = "audio" in self.modalities
        item: Event = {
            "id": new_id("item"),
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        yield from self._add_item(item)
        where = self._where(item, content_index=0)
        key = "transcript" if audio else "text"
        content: Event = {"type": "output_audio" if audio else "output_text", key: ""}
        item["content"].append(content)
        yield {
            "type": "response.content_part.added",
            **where,
            "part": {"type": "audio" if audio else "text", key: ""},
        }
        prefix = "response.output_audio_transcript" if audio else "response.output_text"
        fmt = dig(self.params, "audio", "output", "format") or dig(
            self.conn.session, "audio", "output", "format"
        )
        silence = base64.b64encode(SILENCE.get(fmt.get("type", ""), SILENCE["audio/pcm"])).decode()
        for chunk in chunks(text, 4):
            if self.cancelled:
                break
            if audio:
                yield {"type": "response.output_audio.delta", **where, "delta": silence}
            content[key] += chunk
            yield {"type": f"{prefix}.delta", **where, "delta": chunk}
        if audio:
            yield {"type": "response.output_audio.done", **where}
        yield {"type": f"{prefix}.done", **where, key: content[key]}
        yield {
            "type": "response.content_part.done",
            **where,
            "part": {"type": "audio" if audio else "text", key: content[key]},
        }
        yield from self._end_item(item)

    def _call(self, name: str, arguments: dict[str, Any]) -> Iterator[Event]:
        item: Event = {
            "id": new_id("item"),
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": name,
            "call_id": new_id("call"),
            "arguments": "",
        }
        yield from self._add_item(item)
        where = self._where(item, call_id=item["call_id"])
        for chunk in chunks(json.dumps(arguments, separators=(",", ":")), 2):
            if self.cancelled:
                break
            item["arguments"] += chunk
            yield {"type": "response.function_call_arguments.delta", **where, "delta": chunk}
        yield {
            "type": "response.function_call_arguments.done",
            **where,
            "name": name,
            "arguments": item["arguments"],
        }
        yield from self._end_item(item)


# -- one connection --------------------------------------------------------------------------------------


class _Connection:
    """The server side of one websocket: session, conversation, input audio buffer, active response."""

    def __init__(self, ws: ServerConnection, emulator: Emulator, model: str) -> None:
        self.ws, self.emulator, self.script = ws, emulator, emulator.script
        self.session = default_session(model)
        self.conversation_id = new_id("conv")
        self.items: list[Event] = []
        self.audio_bytes = 0
        self.active: _Response | None = None
        self.task: asyncio.Task[None] | None = None
        self.responses = 0
        self._tokens: dict[str, int] = {}

    def tokens(self, item: Event) -> int:
        """:func:`tokens` of a finished item, memoized (truncate/delete forget it)."""
        key = item.get("id")
        if key is None:
            return tokens(item)
        if key not in self._tokens:
            self._tokens[key] = tokens(item)
        return self._tokens[key]

    def id_before(self, at: int) -> str | None:
        """The id of the conversation item before position ``at`` (``None``: ``at`` is the start)."""
        return self.items[at - 1]["id"] if at else None

    def assistant_audio(self) -> bool:
        """Whether an assistant message with audio is in the conversation (the voice is fixed from then on)."""
        return any(
            item.get("role") == "assistant"
            and any(c.get("type") == "output_audio" for c in item.get("content") or [])
            for item in self.items
        )

    def find(self, item_id: str) -> Event | None:
        return next((item for item in self.items if item.get("id") == item_id), None)

    def existing(self, item_id: str, field: str = "item_id") -> Event:
        item = self.find(item_id)
        if item is None:
            raise _refuse("item_not_found", field, f"Item with id '{item_id}' does not exist.")
        return item

    async def send(self, event: Event) -> None:
        event = {"type": event["type"], "event_id": new_id("event"), **event}
        stats = self.emulator.stats
        stats.server_events += 1
        stats.errors += event["type"] == "error"
        if self.emulator.on_event is not None:
            self.emulator.on_event("server", event)
        await self.ws.send(encode(event))

    async def run(self) -> None:
        try:
            await self.send({"type": "session.created", "session": copy.deepcopy(self.session)})
            async for frame in self.ws:
                await self.receive(frame)
        except ConnectionClosed:
            pass
        finally:
            if self.task is not None:
                self.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.task

    async def receive(self, frame: str | bytes) -> None:
        """Handle one client frame; anything wrong with it becomes an ``error`` event."""
        try:
            event = decode(frame)
        except ProtocolError as exc:
            await self.refuse(exc, f"Invalid client event: {exc.message}.")
            return
        self.emulator.stats.client_events += 1
        if self.emulator.on_event is not None:
            self.emulator.on_event("client", event)
        try:
            check_client_event(event)
            await getattr(self, "on_" + event["type"].replace(".", "_"))(event)
        except ProtocolError as exc:
            exc.event_type = exc.event_type or event["type"]
            if exc.event_id is None and isinstance(event.get("event_id"), str):
                exc.event_id = event["event_id"]
            await self.refuse(exc, exc.message)

    async def refuse(self, exc: ProtocolError, message: str) -> None:
        await self.send(exc.to_event(message))

    async def on_session_update(self, event: Event) -> None:
        voice = dig(event["session"], "audio", "output").get("voice")
        current = dig(self.session, "audio", "output").get("voice")
        if voice is not None and voice != current and self.assistant_audio():
            message = "Cannot update a conversation's voice if assistant audio is present."
            raise _refuse("cannot_update_voice", None, message)
        merge_session(self.session, event["session"])
        await self.send({"type": "session.updated", "session": copy.deepcopy(self.session)})

    async def on_conversation_item_create(self, event: Event) -> None:
        await self.add_item(copy.deepcopy(event["item"]), event.get("previous_item_id"))

    async def add_item(self, item: Event, previous: str | None) -> None:
        if "id" in item and self.find(item["id"]) is not None:
            raise _refuse("duplicate_item_id", "item.id", f"Item with id '{item['id']}' already exists.")
        if previous is None:
            at = len(self.items)
        elif previous == "root":
            at = 0
        else:
            at = self.items.index(self.existing(previous, "previous_item_id")) + 1
        item.setdefault("id", new_id("item"))
        item.update(object="realtime.item", status="completed")
        self.items.insert(at, item)
        before = self.id_before(at)
        for kind in ("conversation.item.added", "conversation.item.done"):
            await self.send({"type": kind, "previous_item_id": before, "item": copy.deepcopy(item)})

    async def on_response_create(self, event: Event) -> None:
        params = copy.deepcopy(event.get("response") or {})
        for i, entry in enumerate(params.get("input") or []):
            if entry.get("type") == "item_reference":
                self.existing(entry["id"], f"response.input[{i}].id")
        if self.active is not None:
            raise _refuse(
                "conversation_already_has_active_response",
                None,
                f"Conversation already has an active response in progress: {self.active.id}. "
                "Wait until the response is finished before creating a new one.",
            )
        await self.start(_Response(self, params))

    async def start(self, response: _Response) -> None:
        """Stream ``response`` in a task; return once ``response.created`` is out (so it precedes anything
        the next client event causes, as with OpenAI)."""
        self.active = response
        self.responses += 1
        self.emulator.stats.responses += 1
        started = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self.stream(response, self.responses, started))
        await started.wait()

    async def stream(self, response: _Response, number: int, started: asyncio.Event) -> None:
        """Send one response's events, yielding to the loop between them so a cancel can interleave."""
        faults = self.emulator.faults
        try:
            for sent, event in enumerate(response.events(), 1):
                await self.send(event)
                started.set()
                if event["type"] == "response.done":
                    self.active = None
                if faults.drop_in_response == number and sent >= faults.drop_after_events:
                    self.ws.transport.abort()
                    return
                await asyncio.sleep(0)
            if faults.malformed_after == number:
                await self.ws.send(_MALFORMED[faults.malformed])
        except ConnectionClosed:
            pass
        except Exception:  # a bug: say so on the wire and keep the connection
            log.exception("emulator: response %s failed", response.id)
            with contextlib.suppress(ConnectionClosed):
                await self.send({"type": "response.done", "response": response.body("failed")})
        finally:
            started.set()
            if self.active is response:
                self.active = None

    async def on_response_cancel(self, event: Event) -> None:
        wanted = event.get("response_id")
        if self.active is None or wanted not in (None, self.active.id):
            raise _refuse(
                "response_cancel_not_active", None, "Cancellation failed: no active response found."
            )
        self.active.cancelled = True

    async def on_conversation_item_delete(self, event: Event) -> None:
        item = self.existing(event["item_id"])
        self.items.remove(item)
        self._tokens.pop(item["id"], None)
        if not self.emulator.faults.silent_deletes:
            await self.send({"type": "conversation.item.deleted", "item_id": item["id"]})

    async def on_conversation_item_retrieve(self, event: Event) -> None:
        item = self.existing(event["item_id"])
        await self.send({"type": "conversation.item.retrieved", "item": copy.deepcopy(item)})

    async def on_conversation_item_truncate(self, event: Event) -> None:
        item, index, end = self.existing(event["item_id"]), event["content_index"], event["audio_end_ms"]
        content = item.get("content") or []
        if item.get("role") != "assistant" or not 0 <= index < len(content):
            raise _refuse("invalid_value", "content_index", "Only assistant audio content can be truncated.")
        if content[index].get("type") != "output_audio":
            raise _refuse("invalid_value", "content_index", "Only assistant audio content can be truncated.")
        if end < 0:
            raise _refuse("invalid_value", "audio_end_ms", "Invalid value for 'audio_end_ms': must be >= 0.")
        item["content"][index]["transcript"] = ""
        self._tokens.pop(item["id"], None)
        truncated = {"item_id": item["id"], "content_index": index, "audio_end_ms": end}
        await self.send({"type": "conversation.item.truncated", **truncated})

    async def on_input_audio_buffer_append(self, event: Event) -> None:
        try:
            self.audio_bytes += len(base64.b64decode(event["audio"], validate=True))
        except (binascii.Error, ValueError):
            raise _refuse("invalid_value", "audio", "Invalid value for 'audio': not valid base64.") from None

    async def on_input_audio_buffer_clear(self, event: Event) -> None:
        self.audio_bytes = 0
        await self.send({"type": "input_audio_buffer.cleared"})

    async def on_input_audio_buffer_commit(self, event: Event) -> None:
        """Add a user audio message (no transcript: nothing is transcribed); answer it if VAD would."""
        if self.audio_bytes == 0:
            message = "Error committing input audio buffer: the buffer is empty."
            raise _refuse("input_audio_buffer_commit_empty", None, message)
        self.audio_bytes = 0
        item: Event = {"id": new_id("item"), "type": "message", "role": "user"}
        item["content"] = [{"type": "input_audio", "transcript": None}]
        committed = {"item_id": item["id"], "previous_item_id": self.id_before(len(self.items))}
        await self.send({"type": "input_audio_buffer.committed", **committed})
        await self.add_item(item, None)
        detection = dig(self.session, "audio", "input", "turn_detection")
        if detection and detection.get("create_response") is not False and self.active is None:
            await self.start(_Response(self, {}))

    async def on_output_audio_buffer_clear(self, event: Event) -> None:
        raise _refuse(
            "unsupported_event", "type", "output_audio_buffer.clear is only supported over WebRTC/SIP."
        )


def _refuse(code: str, field: str | None, message: str) -> ProtocolError:
    """A valid event the server refuses in the current state (becomes an ``error`` event)."""
    return ProtocolError(None, field, message, code=code)


_MALFORMED = {
    "json": '{"type": "response.output_text.delta", "event_id": "event_bad", "delta": "trunc',
    "no_type": '{"event_id": "event_bad", "delta": "an event without a type"}',
    "missing_field": '{"type": "response.function_call_arguments.done", "event_id": "event_bad", "name": "login"}',
}


# -- the server ------------------------------------------------------------------------------------------


class Emulator(RealtimeServer):
    """A Realtime websocket server on ``host:port`` (port 0 picks a free one); an async context manager."""

    def __init__(
        self,
        script: Script,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        faults: Faults | None = None,
        on_event: Observer | None = None,
    ) -> None:
        super().__init__(host, port)
        self.script = script
        self.faults = faults or Faults()
        self.on_event = on_event
        """Called with ``("client", event)`` for every decoded client event and ``("server", event)`` before
        every event sent (not for the malformed frames of ``faults``)."""
        self.stats = EmulatorStats()
        self._connections: deque[_Connection] = deque(maxlen=64)
        """The latest connections (for :meth:`state`)."""

    def state(self, index: int = -1) -> tuple[Event, list[Event]]:
        """The effective session and the conversation's items of a connection (copies; ``-1``: the latest),
        as the scripted model sees them: deleted items are gone."""
        conn = self._connections[index]
        return copy.deepcopy(conn.session), copy.deepcopy(conn.items)

    async def handle(self, ws: ServerConnection) -> None:
        self.stats.connections += 1
        query = parse_qs(urlsplit(ws.request.path).query) if ws.request is not None else {}
        conn = _Connection(ws, self, query.get("model", [DEFAULT_MODEL])[0])
        self._connections.append(conn)
        await conn.run()
