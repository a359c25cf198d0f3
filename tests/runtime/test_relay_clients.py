"""Real clients through the relay: the ``openai`` SDK and the Agents SDK's ``RealtimeRunner`` hold the shipped
retail conversation (handoffs, flow tools, a refused and a capped transfer) with no ``error`` events and no tool
errors, because the flow's function calls never reach them (:mod:`engine.session.call_view`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest
from agents.realtime import RealtimeAgent, RealtimeRunner

from engine.compile.pipeline import CompiledFlow, compile_flow
from engine.emulator.script import Script
from engine.emulator.server import Emulator
from engine.runtime.auth import Gate
from engine.runtime.relay import Relay
from engine.session import MemorySink
from engine.session.actions import Transcript
from tests.e2e_helpers import Recorder
from tests.realtime_schema import run

SCRIPT = Path("flows/scripts/retail.toml").read_text()
TURNS = [turn.user for turn in Script.parse(SCRIPT, "retail").turns]
TOKEN = "server-token-for-the-runner"
SAID_LAST = "I'm the general assistant"
"""The recovery agent's answer to the last turn (the transfer past max_handoff_depth is rerouted to it)."""


@pytest.fixture(scope="module")
def retail() -> CompiledFlow:
    return compile_flow("flows/retail.toml")


def _flow_outcomes(sink: MemorySink) -> list[tuple[str, str]]:
    return [(r.kind, r.outcome) for r in sink.records]


def _assert_the_relay_ran_the_flow(sink: MemorySink) -> None:
    outcomes = _flow_outcomes(sink)
    assert outcomes.count(("handoff", "done")) >= 5 and ("handoff", "refused") in outcomes
    assert ("handoff", "capped") in outcomes or ("handoff", "recovered") in outcomes
    assert outcomes.count(("tool", "ok")) >= 3 and outcomes[-1] == ("end", "ended")


def _call_items(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events that name a function call (or its output) anywhere: what a client must never see."""
    return [e for e in events if '"function_call' in json.dumps(e)]


def test_the_openai_sdk_holds_the_retail_conversation_and_never_sees_a_flow_call(
    retail: CompiledFlow,
) -> None:
    upstream = Recorder()
    relay_actions = Recorder()
    sink = MemorySink()

    async def main() -> tuple[list[dict[str, Any]], list[str]]:
        emulator = Emulator(Script.parse(SCRIPT, "retail"), on_event=upstream.on_event)
        async with (
            emulator,
            Relay(
                retail, emulator.url, audit=sink, api_key="test", on_action=relay_actions.on_action
            ) as relay,
        ):
            client = openai.AsyncOpenAI(
                api_key="test", websocket_base_url=relay.url.removesuffix("/realtime")
            )
            seen: list[dict[str, Any]] = []
            answers: list[str] = []
            async with client.realtime.connect(model="gpt-realtime") as conn:
                await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
                for turn in TURNS:
                    await conn.conversation.item.create(
                        item={
                            "type": "message",
                            "role": "user",
                            "content": [{"type": "input_text", "text": turn}],
                        }
                    )
                    await conn.response.create()
                    async for event in conn:
                        seen.append(event.model_dump(mode="json"))
                        if event.type == "response.output_text.done":
                            answers.append(event.text)
                            break
                # A client that answers a flow-owned call anyway (the call id the relay's log names):
                await conn.conversation.item.create(
                    item={"type": "function_call_output", "call_id": "call_flow_owned", "output": "{}"}
                )
                await conn.conversation.item.create(
                    item={
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "bye"}],
                    }
                )
                await conn.response.create()
                async for event in conn:
                    seen.append(event.model_dump(mode="json"))
                    if event.type == "response.output_text.done":
                        break
            return seen, answers

    seen, answers = run(main(), timeout=30)
    assert [e for e in seen if e["type"] == "error"] == []
    assert _call_items(seen) == []
    assert len(answers) == len(TURNS) and answers[-1].startswith(SAID_LAST)
    assert answers[1].startswith("I can see order SNP-20230914-001")  # tools ran in the relay
    _assert_the_relay_ran_the_flow(sink)
    # the client's output for a flow call was dropped (never upstream) and noted in the server transcript
    client_outputs = [
        e
        for side, e in upstream.wire
        if side == "client"
        and e["type"] == "conversation.item.create"
        and e["item"].get("call_id") == "call_flow_owned"
    ]
    assert client_outputs == []
    notices = relay_actions.transcript("notice")
    assert any("function_call_output for 'call_flow_owned' dropped" in n for n in notices)
    assert upstream.invalid == []
    # the relay's own outputs did reach the upstream: the calls were answered, just not by the client
    relay_outputs = [
        e
        for side, e in upstream.wire
        if side == "client" and e.get("item", {}).get("type") == "function_call_output"
    ]
    assert len(relay_outputs) >= 8


def test_the_agents_sdk_runner_holds_the_retail_conversation_with_no_errors(retail: CompiledFlow) -> None:
    """As deployed: the relay wants a credential, and the runner's ``api_key`` is the server token."""
    sink = MemorySink()
    relay_actions = Recorder()

    async def main() -> tuple[list[Any], list[str], list[dict[str, Any]]]:
        emulator = Emulator(Script.parse(SCRIPT, "retail"))
        async with (
            emulator,
            Relay(
                retail, emulator.url, audit=sink, on_action=relay_actions.on_action, gate=Gate(TOKEN, None)
            ) as relay,
        ):
            agent = RealtimeAgent(
                name="storefront", instructions="The client's own agent: the flow overrides it."
            )
            runner = RealtimeRunner(agent, config={"model_settings": {"output_modalities": ["text"]}})
            session = await runner.run(model_config={"url": relay.url, "api_key": TOKEN})
            events: list[Any] = []
            answers: list[str] = []
            raw: list[dict[str, Any]] = []
            async with session:
                for turn in TURNS:
                    await session.send_message(turn)
                    async for event in session:
                        events.append(event)
                        if event.type == "raw_model_event" and event.data.type == "raw_server_event":
                            raw.append(event.data.data)
                            if event.data.data.get("type") == "response.output_text.done":
                                answers.append(event.data.data["text"])
                                break
                        if event.type == "error":
                            break
            return events, answers, raw

    events, answers, raw = run(main(), timeout=30)
    kinds = [e.type for e in events]
    assert [e.error for e in events if e.type == "error"] == []
    assert [
        k for k in kinds if k in ("tool_start", "tool_end", "handoff")
    ] == []  # no tool (and no errors) client-side
    assert _call_items(raw) == []
    assert len(answers) == len(TURNS) and answers[-1].startswith(SAID_LAST)
    _assert_the_relay_ran_the_flow(sink)
    # the runner's own agent settings went nowhere: dropped, as the transcript notes
    assert any("client session.update: dropped" in n for n in relay_actions.transcript("notice"))
    assert not any(
        isinstance(a, Transcript) and "function_call_output" in a.text for a in relay_actions.actions
    )
