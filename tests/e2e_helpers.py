"""End-to-end helpers: a conversation over a real websocket to the embedded emulator, every event validated."""

from __future__ import annotations

import textwrap
from typing import Any

from engine.compile.pipeline import CompiledFlow
from engine.emulator.script import Script
from engine.emulator.server import Emulator, Faults
from engine.runtime.client import RealtimeClient
from engine.runtime.conversation import Conversation, UserTurn
from engine.runtime.tools import ToolRegistry
from engine.session import MemorySink, Session, Transcript
from engine.session.actions import Action
from engine.wire.protocol import ProtocolError
from tests.realtime_schema import run, validate_client_event, validate_server_event


class Recorder:
    """Collects the conversation's actions and validates every event on the wire against the openai types."""

    def __init__(self) -> None:
        self.actions: list[Action | ProtocolError] = []
        self.wire: list[tuple[str, dict[str, Any]]] = []
        self.invalid: list[str] = []
        self.emulator_state: tuple[dict[str, Any], list[dict[str, Any]]] = ({}, [])
        """The emulator's effective session and conversation items when the turns were done."""

    def on_action(self, action: Action | ProtocolError) -> None:
        self.actions.append(action)

    def on_event(self, side: str, event: dict[str, Any]) -> None:
        self.wire.append((side, event))
        try:
            (validate_client_event if side == "client" else validate_server_event)(event)
        except ValueError as exc:  # collected, then asserted on: the emulator must not swallow it
            self.invalid.append(f"{side} {event.get('type')}: {exc}")

    def transcript(self, kind: str) -> list[str]:
        return [a.text for a in self.actions if isinstance(a, Transcript) and a.kind == kind]


def converse(
    compiled: CompiledFlow,
    script: str,
    turns: list[UserTurn | str],
    *,
    audit: Any = None,
    faults: Faults | None = None,
    supervisor: Any = None,
    tools: ToolRegistry | None = None,
    initial_context: dict[str, Any] | None = None,
    session_options: dict[str, Any] | None = None,
) -> tuple[Session, Recorder, Any]:
    recorder = Recorder()
    sink = audit if audit is not None else MemorySink()
    options = {"initial_context": initial_context, **(session_options or {})}
    session = Session(compiled, "e2e", clock=_ticks(), **options)
    registry = tools if tools is not None else ToolRegistry()

    async def go() -> None:
        emulator = Emulator(
            Script.parse(textwrap.dedent(script), "test"), faults=faults, on_event=recorder.on_event
        )
        async with emulator, RealtimeClient.connect(emulator.url, api_key="test") as client:
            conversation = Conversation(session, client, registry, sink, recorder.on_action, supervisor)
            await conversation.run_turns(turns, turn_timeout=10)
            recorder.emulator_state = emulator.state()

    run(go())
    assert recorder.invalid == [], "events on the wire that do not match openai.types.realtime"
    return session, recorder, sink


def _ticks() -> Any:
    state = {"t": 0.0}

    def clock() -> float:
        state["t"] += 0.25
        return state["t"]

    return clock
