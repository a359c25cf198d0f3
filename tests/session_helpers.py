"""Helpers to drive the sans-I/O session core directly: server events in, actions out."""

from __future__ import annotations

import itertools
import json
from typing import Any

from engine.compile.pipeline import CompiledFlow, compile_document, compile_flow
from engine.flow.loader import parse_flow
from engine.session import Audit, Send, Session
from engine.session.actions import Action

_calls = itertools.count(1)


def compiled_from_text(text: str, name: str = "flow.toml") -> CompiledFlow:
    return compile_document(parse_flow(text, name, "toml"))


def new_session(source: str | CompiledFlow, **kwargs: Any) -> Session:
    compiled = compile_flow(source) if isinstance(source, str) else source
    ticks = itertools.count()
    return Session(compiled, "test", clock=lambda: float(next(ticks)), **kwargs)


def sent(actions: list[Action]) -> list[dict[str, Any]]:
    return [a.event for a in actions if isinstance(a, Send)]


def sent_types(actions: list[Action]) -> list[str]:
    return [e["type"] for e in sent(actions)]


def audits(actions: list[Action]) -> list[Any]:
    return [a.record for a in actions if isinstance(a, Audit)]


def call(
    name: str, arguments: dict[str, Any] | str | None = None, call_id: str | None = None
) -> dict[str, Any]:
    """A ``response.function_call_arguments.done`` server event."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    return {
        "type": "response.function_call_arguments.done",
        "event_id": "ev",
        "response_id": "resp",
        "item_id": "item",
        "output_index": 0,
        "call_id": call_id or f"call_{next(_calls)}",
        "name": name,
        "arguments": args,
    }


def created(response_id: str = "resp") -> dict[str, Any]:
    return {
        "type": "response.created",
        "event_id": "ev",
        "response": {"id": response_id, "status": "in_progress"},
    }


def done(response_id: str = "resp") -> dict[str, Any]:
    return {"type": "response.done", "event_id": "ev", "response": {"id": response_id, "status": "completed"}}


def function_output(actions: list[Action]) -> dict[str, Any]:
    """The decoded output of the (single) function_call_output the actions send."""
    outputs = [
        e["item"]["output"] for e in sent(actions) if e.get("item", {}).get("type") == "function_call_output"
    ]
    assert len(outputs) == 1, outputs
    result: dict[str, Any] = json.loads(outputs[0])
    return result


def respond_with(session: Session, *events: dict[str, Any]) -> list[Action]:
    """Play one server response around ``events``: created, the events, done."""
    actions = session.receive(created())
    for event in events:
        actions += session.receive(event)
    return actions + session.receive(done())
