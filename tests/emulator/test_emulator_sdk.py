"""Real SDK clients against the emulator: proof that it speaks the OpenAI Realtime GA protocol.

Every event either side sends is checked against ``openai.types.realtime`` through the emulator's observer.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import openai
import pytest
from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner

from engine.emulator.script import Script
from engine.emulator.server import Emulator
from engine.wire.protocol import Event
from tests.realtime_schema import run, validate_client_event, validate_server_event

SCRIPT = Script.parse(
    """
[[rule]]
agent = "returns"
user = "(?i)return"
say = "Sure, let me look up your orders."
call = "lookup_orders"
arguments = { phone_number = "206 135 1246" }

[[rule]]
agent = "returns"
after = "lookup_orders"
output = "snowboard"
say = "I found your snowboard order."

[[rule]]
has_tool = "authenticate_user_information"
user = "(?i)return"
call = "authenticate_user_information"
arguments = { phone_number = "206 135 1246", date_of_birth = "1988-10-14" }
"""
)


class Recorder:
    """The emulator observer: validates every event on the wire and keeps their types."""

    def __init__(self) -> None:
        self.client: list[str] = []
        self.server: list[str] = []

    def __call__(self, side: Literal["client", "server"], event: Event) -> None:
        if side == "client":
            validate_client_event(event)
            self.client.append(event["type"])
        else:
            validate_server_event(event)
            self.server.append(event["type"])
        assert event["type"] != "error", event


def test_openai_sdk_realtime_connection_gets_the_scripted_call() -> None:
    wire = Recorder()
    tool = {
        "type": "function",
        "name": "authenticate_user_information",
        "description": "Verify the caller.",
        "parameters": {"type": "object", "properties": {"phone_number": {"type": "string"}}},
    }

    async def main() -> list[Any]:
        async with Emulator(SCRIPT, on_event=wire) as emu:
            client = openai.AsyncOpenAI(api_key="test", websocket_base_url=emu.url.removesuffix("/realtime"))
            async with client.realtime.connect(model="gpt-realtime") as conn:
                await conn.session.update(
                    session={"type": "realtime", "output_modalities": ["text"], "tools": [tool]}  # type: ignore[list-item]
                )
                await conn.conversation.item.create(
                    item={
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "A return"}],
                    }
                )
                await conn.response.create()
                events = []
                async for event in conn:
                    events.append(event)
                    if event.type == "response.done":
                        return events
        raise AssertionError("no response.done")

    events = run(main())
    assert [e.type for e in events][:2] == ["session.created", "session.updated"]
    assert events[1].session.tools[0].name == "authenticate_user_information"
    done = events[-1].response
    assert done.status == "completed" and done.output_modalities == ["text"]
    (call,) = done.output
    assert call.type == "function_call" and call.name == "authenticate_user_information"
    assert json.loads(call.arguments) == {"phone_number": "206 135 1246", "date_of_birth": "1988-10-14"}
    arguments_done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert arguments_done.call_id == call.call_id
    assert wire.client == ["session.update", "conversation.item.create", "response.create"]


@pytest.mark.parametrize("modality", ["text", "audio"])
def test_agents_sdk_runs_the_tool_and_hears_the_agent(modality: Literal["text", "audio"]) -> None:
    wire = Recorder()
    calls: list[str] = []

    @function_tool
    def lookup_orders(phone_number: str) -> str:
        """Look up a caller's orders by phone number."""
        calls.append(phone_number)
        return "order 1: snowboard"

    agent = RealtimeAgent(
        name="returns", instructions="# agent: returns\nYou handle returns.", tools=[lookup_orders]
    )
    done_kind = "response.output_text.done" if modality == "text" else "response.output_audio_transcript.done"

    async def main() -> tuple[list[str], list[str]]:
        said: list[str] = []
        session_events: list[str] = []
        async with Emulator(SCRIPT, on_event=wire) as emu:
            session = await RealtimeRunner(agent).run(
                model_config={
                    "url": emu.url,
                    "api_key": "test",
                    "initial_model_settings": {"output_modalities": [modality]},
                }
            )
            async with session:
                await session.send_message("I want to return my board")
                async for event in session:
                    session_events.append(event.type)
                    assert event.type != "error", event
                    if event.type == "raw_model_event" and event.data.type == "raw_server_event":
                        raw = event.data.data
                        if raw["type"] == done_kind:
                            said.append(raw["text" if modality == "text" else "transcript"])
                        if raw["type"] == "response.done" and len(said) == 2:
                            return said, session_events
        raise AssertionError("the session ended early")

    said, session_events = run(main())
    assert calls == ["206 135 1246"]
    assert said == ["Sure, let me look up your orders.", "I found your snowboard order."]
    assert {"tool_start", "tool_end", "agent_start", "agent_end", "history_updated"} <= set(session_events)
    if modality == "audio":
        assert "audio" in session_events and "audio_end" in session_events
    # the SDK answered the tool call with function_call_output + response.create
    assert wire.client.count("response.create") == 2 and wire.client.count("conversation.item.create") == 2
    assert wire.server.count("response.done") == 2
