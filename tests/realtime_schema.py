"""Test helpers: check realtime events against ``openai.types.realtime``; a validating raw websocket client.

``validate_server_event`` / ``validate_client_event`` parse with one discriminated pydantic ``TypeAdapter``
over ``RealtimeClientEvent | RealtimeServerEvent`` (no type appears on both sides), then check the event is
on the expected side and, because the SDK models allow unknown keys, that no model carries keys the schema
does not define (except the documented extras of a session object: ``id``, ``object``, ``expires_at``).
"""

from __future__ import annotations

import asyncio
import typing
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from pydantic import BaseModel, Field, TypeAdapter
from websockets.asyncio.client import ClientConnection, connect

from engine.wire.protocol import decode, encode

ADAPTER: TypeAdapter[Any] = TypeAdapter(
    Annotated[RealtimeClientEvent | RealtimeServerEvent, Field(discriminator="type")]
)


def _types(union: Any) -> frozenset[str]:
    members = typing.get_args(typing.get_args(union)[0])
    return frozenset(typing.get_args(m.model_fields["type"].annotation)[0] for m in members)


SERVER_TYPES = _types(RealtimeServerEvent)
CLIENT_TYPES = _types(RealtimeClientEvent)
ALLOWED_EXTRAS = {"RealtimeSessionCreateRequest": {"id", "object", "expires_at"}}


def _no_extras(value: Any, path: str) -> None:
    if isinstance(value, BaseModel):
        extra = set(value.model_extra or ()) - ALLOWED_EXTRAS.get(type(value).__name__, set())
        assert not extra, f"{path}: keys not in the schema of {type(value).__name__}: {sorted(extra)}"
        for name in type(value).model_fields:
            _no_extras(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for i, element in enumerate(value):
            _no_extras(element, f"{path}[{i}]")


def _validate(event: dict[str, Any], side: frozenset[str], what: str) -> BaseModel:
    assert event.get("type") in side, f"{event.get('type')!r} is not a {what} event type"
    model = ADAPTER.validate_python(event)
    assert isinstance(model, BaseModel)
    _no_extras(model, event["type"])
    return model


def validate_server_event(event: dict[str, Any]) -> BaseModel:
    """The parsed ``RealtimeServerEvent``; raises if ``event`` does not match the schema exactly."""
    return _validate(event, SERVER_TYPES, "server")


def validate_client_event(event: dict[str, Any]) -> BaseModel:
    """The parsed ``RealtimeClientEvent``; raises if ``event`` does not match the schema exactly."""
    return _validate(event, CLIENT_TYPES, "client")


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    """``asyncio.run`` with a safety timeout (a hung test fails instead of hanging the suite)."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


class Wire:
    """A raw websocket client that validates every event it sends and receives (and keeps them all)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []
        self._probes = 0

    @classmethod
    async def open(cls, url: str) -> Wire:
        wire = cls(await connect(url))
        created = await wire.recv()
        assert created["type"] == "session.created", created
        return wire

    async def send(self, event: dict[str, Any], *, valid: bool = True) -> None:
        """Send ``event``; it must validate as a client event unless ``valid=False``."""
        if valid:
            validate_client_event(event)
        await self.ws.send(encode(event))

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def recv(self) -> dict[str, Any]:
        event = decode(await self.ws.recv())
        validate_server_event(event)
        self.received.append(event)
        return event

    async def until(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        """Events up to and including the first of type ``kind`` whose top-level keys equal ``match``."""
        events = []
        while True:
            event = await self.recv()
            events.append(event)
            if event["type"] == kind and all(event.get(k) == v for k, v in match.items()):
                return events

    async def close(self) -> None:
        await self.ws.close()

    async def sync(self) -> list[dict[str, Any]]:
        """Events up to the point where the server has handled everything sent so far, then up to the end of
        any response still streaming (a probe event the server answers with an ``error`` marks the point)."""
        self._probes += 1
        probe = f"probe_{self._probes}"
        await self.send({"type": "switchboard.probe", "event_id": probe}, valid=False)
        events = await self.until_error(probe)
        if count(self.received, "response.created") > count(self.received, "response.done"):
            events += await self.until("response.done")
        return events

    async def until_error(self, event_id: str) -> list[dict[str, Any]]:
        events = []
        while True:
            event = await self.recv()
            events.append(event)
            if event["type"] == "error" and event["error"]["event_id"] == event_id:
                return events


def count(events: list[dict[str, Any]], kind: str) -> int:
    return sum(1 for e in events if e["type"] == kind)


def user_message(text: str, **extra: Any) -> dict[str, Any]:
    """A ``conversation.item.create`` of a user text message."""
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return {"type": "conversation.item.create", "item": item, **extra}


def function_output(call_id: str, output: str) -> dict[str, Any]:
    item = {"type": "function_call_output", "call_id": call_id, "output": output}
    return {"type": "conversation.item.create", "item": item}


def text_session(**session: Any) -> dict[str, Any]:
    """A ``session.update`` to text output (plus ``session`` fields)."""
    return {
        "type": "session.update",
        "session": {"type": "realtime", "output_modalities": ["text"], **session},
    }
