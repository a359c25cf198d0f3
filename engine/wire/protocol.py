"""Shared wire helpers for the Realtime protocol: ids, JSON encode/decode, protocol errors, client checks.

Events are plain ``dict`` objects shaped as the OpenAI Realtime GA protocol defines them
(``openai.types.realtime``). :func:`decode` checks only the envelope; :func:`check_client_event` checks a
client event's payload (it imports ``openai.types.realtime`` on first use, which takes ~0.5 s).
"""

from __future__ import annotations

import functools
import json
import re
import secrets
from collections.abc import Mapping
from typing import Any, NoReturn

from pydantic import BaseModel, ValidationError

from engine.errors import SwitchboardError

Event = dict[str, Any]
"""A decoded realtime event: a JSON object with a string ``type``."""


MAX_FRAME = 16 * 1024 * 1024
"""The largest websocket frame either side accepts (audio appends are big)."""


class ProtocolError(SwitchboardError, ValueError):
    """A frame or event that breaks the protocol; names the event type (if known) and the field."""

    def __init__(
        self,
        event_type: str | None,
        field: str | None,
        message: str,
        *,
        event_id: str | None = None,
        code: str | None = None,
    ) -> None:
        self.event_type = event_type
        self.field = field
        self.message = message
        self.event_id = event_id
        """The offending event's ``event_id`` when it had one (errors echo it back)."""
        self.code = code
        """OpenAI's error code for it (``invalid_json``, ``unknown_parameter``…), when there is one."""
        where = event_type or "<event>"
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")

    def to_event(self, message: str | None = None) -> Event:
        """This problem as a Realtime ``error`` server event, as a server would answer it; ``message``
        (default: ``str(self)``, which names the event type and field) is the text the client reads."""
        return error_event(
            "invalid_request_error",
            self.code,
            str(self) if message is None else message,
            param=self.field,
            event_id=self.event_id,
        )


def error_event(kind: str, code: str | None, message: str, **more: Any) -> Event:
    """A Realtime ``error`` server event: ``error`` has ``type`` (``kind``), ``code``, ``message``, then ``more``."""
    return {
        "type": "error",
        "event_id": new_id("event"),
        "error": {"type": kind, "code": code, "message": message, **more},
    }


def new_id(prefix: str) -> str:
    """A fresh id in OpenAI's style: ``new_id("event")`` -> ``event_9f86d081884c7d659a2f`` (20 hex digits)."""
    return f"{prefix.rstrip('_')}_{secrets.token_hex(10)}"


def encode(event: Mapping[str, Any]) -> str:
    """One event as a compact JSON text frame (``NaN``/``Infinity`` are rejected with ``ValueError``)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
"""One decoder for every frame (``json.loads`` with an argument builds a new one per call: ~4 us)."""


_TYPE_FIRST = re.compile(r'\{\s*"type"\s*:\s*"([a-z_.]{1,80})"')


def peek_type(frame: str) -> str | None:
    """The event type of a text frame whose first key is its only ``"type"`` (what OpenAI and the emulator
    send for the streaming events), without decoding it; ``None`` when that cannot be told so cheaply. A
    frame with another ``"type"`` key (nested, or a duplicate the decoder would let win) gives ``None``."""
    match = _TYPE_FIRST.match(frame)
    if match is None or frame.count('"type"', match.end()) != 0:
        return None
    return match.group(1)


def decode(frame: str | bytes) -> Event:
    """Parse one frame into an event; raise :class:`ProtocolError` if it is not one.

    Checks only the envelope: valid UTF-8 JSON (no lone surrogate escapes), an object, a non-empty string
    ``type``.
    """
    if isinstance(frame, bytes | bytearray | memoryview):
        try:
            frame = bytes(frame).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(
                None, None, f"frame is not valid UTF-8 ({exc.reason})", code="invalid_json"
            ) from None
    try:
        data = _DECODER.decode(frame)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(None, None, f"malformed JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ProtocolError(None, None, f"an event must be a JSON object, got {kind}", code="invalid_json")
    raw_id = data.get("event_id")
    event_id = raw_id if isinstance(raw_id, str) else None
    if "\\u" in frame:  # only an escape can make a lone surrogate, which no UTF-8 frame can carry on
        try:
            encode(data).encode("utf-8")
        except UnicodeEncodeError:
            raise ProtocolError(
                None, None, "text is not valid Unicode (a lone surrogate escape)", code="invalid_json"
            ) from None
        except ValueError:  # not ours to judge here (e.g. a NaN the caller rejects)
            pass
    if "type" not in data:
        raise ProtocolError(
            None, "type", "missing required field", event_id=event_id, code="missing_required_parameter"
        )
    kind = data["type"]
    if not isinstance(kind, str) or not kind:
        message = f"must be a non-empty string, got {kind!r}"
        raise ProtocolError(None, "type", message, event_id=event_id, code="invalid_type")
    return data


# -- client event checks (against openai.types.realtime, imported on first use) -------------------------

CLIENT_EVENT_TYPES = (
    "session.update",
    "conversation.item.create",
    "conversation.item.delete",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "input_audio_buffer.append",
    "input_audio_buffer.clear",
    "input_audio_buffer.commit",
    "output_audio_buffer.clear",
    "response.create",
    "response.cancel",
)
"""Every client event type of the Realtime GA protocol."""

ITEM_KINDS = ("message/user", "message/assistant", "message/system", "function_call", "function_call_output")
"""The conversation items :func:`check_client_event` accepts (MCP items are not supported)."""

_NOT_A_FIELD = re.compile(r"[^a-z0-9_]|^(str|int|float|bool|none|dict|list)$")


@functools.cache
def _models() -> dict[str, type[BaseModel]]:
    from openai.types import realtime as rt

    return {
        "conversation.item.delete": rt.ConversationItemDeleteEvent,
        "conversation.item.retrieve": rt.ConversationItemRetrieveEvent,
        "conversation.item.truncate": rt.ConversationItemTruncateEvent,
        "input_audio_buffer.append": rt.InputAudioBufferAppendEvent,
        "input_audio_buffer.clear": rt.InputAudioBufferClearEvent,
        "input_audio_buffer.commit": rt.InputAudioBufferCommitEvent,
        "output_audio_buffer.clear": rt.OutputAudioBufferClearEvent,
        "response.cancel": rt.ResponseCancelEvent,
        "message/user": rt.RealtimeConversationItemUserMessage,
        "message/assistant": rt.RealtimeConversationItemAssistantMessage,
        "message/system": rt.RealtimeConversationItemSystemMessage,
        "function_call": rt.RealtimeConversationItemFunctionCall,
        "function_call_output": rt.RealtimeConversationItemFunctionCallOutput,
        "session": rt.RealtimeSessionCreateRequest,
        "response": rt.RealtimeResponseCreateParams,
    }


def check_client_event(event: Event) -> None:
    """Check a decoded client event against the GA schema (no unknown keys) plus the API's own rules.

    Raises :class:`ProtocolError` whose ``field`` is the offending parameter (``session.tools[0].name``),
    ``code`` is OpenAI's error code (``unknown_parameter``, ``missing_required_parameter``,
    ``invalid_value``, ``invalid_type``, ``unknown_event``) and ``message`` reads like OpenAI's.
    """
    kind, event_id = event["type"], event.get("event_id")
    echo = event_id if isinstance(event_id, str) else None
    try:
        if event_id is not None and not isinstance(event_id, str):
            raise _Bad("invalid_type", "event_id", "expected a string")
        if kind == "session.update":
            _keys(event, "session")
            _check_session(event["session"])
        elif kind == "conversation.item.create":
            _keys(event, "item", "previous_item_id")
            if not isinstance(event.get("previous_item_id", ""), str | None):
                raise _Bad("invalid_type", "previous_item_id", "expected a string")
            _check_item(event["item"], "item")
        elif kind == "response.create":
            _keys(event, None, "response")
            if event.get("response") is not None:
                _check_response(event["response"])
        elif kind in CLIENT_EVENT_TYPES:
            _check(_models()[kind], event, "")
        else:
            raise ProtocolError(
                kind,
                "type",
                f"Unknown event type '{kind}'; supported: {', '.join(CLIENT_EVENT_TYPES)}.",
                code="unknown_event",
            )
    except _Bad as bad:
        raise ProtocolError(kind, bad.param, bad.text, code=bad.code, event_id=echo) from None
    except ProtocolError as exc:
        exc.event_id = echo
        raise


def _check_item(item: Any, prefix: str) -> None:
    """Check one conversation item (user/assistant/system message, function call or its output)."""
    if not isinstance(item, dict):
        raise _Bad("invalid_type", prefix, "expected an object")
    kind = item.get("type")
    key = f"message/{item.get('role')}" if kind == "message" else str(kind)
    if key not in ITEM_KINDS:
        field = f"{prefix}.role" if kind == "message" else f"{prefix}.type"
        raise _Bad("invalid_value", field, f"supported items are {', '.join(ITEM_KINDS)}")
    _check(_models()[key], item, prefix)


class _Bad(Exception):
    def __init__(self, code: str, param: str, detail: str) -> None:
        self.code, self.param = code, param
        prefix = {
            "missing_required_parameter": "Missing required parameter:",
            "unknown_parameter": "Unknown parameter:",
            "invalid_type": "Invalid type for",
        }.get(code, "Invalid value for")
        self.text = f"{prefix} '{param}'" + (f": {detail}." if detail else ".")
        super().__init__(self.text)


def _keys(event: Event, required: str | None, *optional: str) -> None:
    for key in event:
        if key not in ("type", "event_id", required, *optional):
            raise _Bad("unknown_parameter", key, "")
    if required is not None and required not in event:
        raise _Bad("missing_required_parameter", required, "")


def _field(prefix: str, loc: tuple[Any, ...]) -> str:
    """``("tools", 0, "RealtimeFunctionTool", "name")`` -> ``prefix.tools[0].name`` (drops union branches)."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _NOT_A_FIELD.search(part):
            out += f".{part}" if out else part
    return out


def _check(model: type[BaseModel], payload: Any, prefix: str, skip: tuple[str, ...] = ()) -> None:
    if not isinstance(payload, dict):
        raise _Bad("invalid_type", prefix, "expected an object")
    for key in payload:
        if key not in model.model_fields and key not in skip:
            raise _Bad("unknown_parameter", f"{prefix}.{key}" if prefix else key, "")
    try:
        model.model_validate({k: v for k, v in payload.items() if k not in skip})
    except ValidationError as exc:
        err = exc.errors()[0]
        param = _field(prefix, tuple(err["loc"]))
        if err["type"] == "missing":
            raise _Bad("missing_required_parameter", param, "") from None
        raise _Bad("invalid_value", param, err["msg"]) from None


def _check_session(session: Any) -> None:
    if isinstance(session, dict) and session.get("type", "realtime") != "realtime":
        raise _Bad("invalid_value", "session.type", "only 'realtime' sessions are supported")
    _check(_models()["session"], session, "session")
    modalities = session.get("output_modalities")
    if modalities is not None and len(modalities) != 1:
        raise _Bad("invalid_value", "session.output_modalities", "give exactly one of ['text'] or ['audio']")
    for i, tool in enumerate(session.get("tools") or []):
        if tool.get("type", "function") == "function" and not tool.get("name"):
            raise _Bad("missing_required_parameter", f"session.tools[{i}].name", "")


def _check_response(params: Any) -> None:
    _check(_models()["response"], params, "response", skip=("input",))
    entries = params.get("input")
    if entries is None:
        return
    if not isinstance(entries, list):
        raise _Bad("invalid_type", "response.input", "expected an array")
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and entry.get("type") == "item_reference":
            if set(entry) - {"type", "id"} or not isinstance(entry.get("id"), str):
                raise _Bad(
                    "invalid_value", f"response.input[{i}]", "an item_reference has a string `id` only"
                )
        else:
            _check_item(entry, f"response.input[{i}]")
