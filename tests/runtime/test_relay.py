"""The relay (`switchboard serve`): an unchanged OpenAI SDK client -> relay (flow core) -> emulator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import openai
import pytest
from websockets.asyncio.client import ClientConnection, connect

from engine.compile.pipeline import CompiledFlow, compile_document
from engine.emulator.script import Script
from engine.emulator.server import Emulator
from engine.flow.loader import parse_flow
from engine.runtime.relay import Relay
from engine.session import MemorySink
from engine.session.context import ContextError
from tests.e2e_helpers import Recorder
from tests.realtime_schema import run
from tests.runtime.relay_helpers import next_event

FLOW = """
[flow]
name = "desk"
entry = "front"
recovery = "help"

[agents.front]
instructions = "You are the front desk."
tools = ["login"]
handoffs = ["billing"]

[agents.billing]
instructions = "You are billing."
requires = ["user_id"]
handoffs = ["front"]
terminal = true

[agents.help]
terminal = true

[tools.login]
parameters = { type = "object", properties = { phone = { type = "string" } }, required = ["phone"] }
sets = ["user_id"]
impl = "tests.runtime.test_relay:login"
"""

SCRIPT = """
[[rule]]
agent = "front"
user = "login"
call = "login"
arguments = { phone = "42" }
[[rule]]
agent = "front"
after = "login"
call = "transfer_to_billing"
arguments = { reason = "logged in, wants billing" }
[[rule]]
agent = "billing"
after = "transfer_to_billing"
say = "Billing here, how can I help?"
[[rule]]
say = "Hello."
"""


def login(phone: str) -> dict[str, str]:
    return {"user_id": f"u-{phone}"}


@pytest.fixture(scope="module")
def desk() -> CompiledFlow:
    return compile_document(parse_flow(FLOW, "desk.toml"))


def test_an_unchanged_sdk_client_gets_handoffs_run_by_the_relay(desk: CompiledFlow) -> None:
    upstream_wire = Recorder()
    sink = MemorySink()

    async def main() -> list[Any]:
        emulator = Emulator(Script.parse(SCRIPT, "relay"), on_event=upstream_wire.on_event)
        async with emulator, Relay(desk, emulator.url, audit=sink, api_key="test") as relay:
            client = openai.AsyncOpenAI(
                api_key="test", websocket_base_url=relay.url.removesuffix("/realtime")
            )
            seen: list[Any] = []
            async with client.realtime.connect(model="gpt-realtime") as conn:
                await conn.session.update(
                    session={
                        "type": "realtime",
                        "output_modalities": ["text"],
                        "instructions": "CLIENT INSTRUCTIONS",
                    }
                )
                await conn.conversation.item.create(
                    item={
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "login pls"}],
                    }
                )
                await conn.response.create()
                async for event in conn:
                    seen.append(event)
                    if event.type == "response.output_text.done":
                        break
            return seen

    seen = run(main())
    assert upstream_wire.invalid == []
    assert seen[-1].text == "Billing here, how can I help?"
    types = [e.type for e in seen]
    assert types.count("response.done") == 2 and "session.updated" in types
    assert [(r.kind, r.outcome, r.to_agent) for r in sink.records] == [
        ("tool", "ok", None),
        ("handoff", "done", "billing"),
        ("end", "ended", None),
    ]
    updates = [
        e["session"] for side, e in upstream_wire.wire if side == "client" and e["type"] == "session.update"
    ]
    assert all("CLIENT INSTRUCTIONS" not in json.dumps(u) for u in updates)  # the flow owns instructions
    assert updates[-1]["instructions"].startswith("# agent: billing")
    modalities = [u["output_modalities"] for u in updates if "output_modalities" in u]
    assert modalities[-1] == ["text"]  # the client's own settings go through


def test_malformed_client_frames_get_an_error_and_the_connection_stays(desk: CompiledFlow) -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        emulator = Emulator(Script.parse(SCRIPT, "relay"))
        async with emulator, Relay(desk, emulator.url, audit=MemorySink()) as relay:
            async with connect(relay.url) as ws:
                await ws.send("{not json")
                error = await next_event(ws, "error")
                await ws.send(
                    json.dumps(
                        {
                            "type": "conversation.item.create",
                            "item": {
                                "type": "message",
                                "role": "user",
                                "content": [{"type": "input_text", "text": "hi"}],
                            },
                        }
                    )
                )
                await ws.send(json.dumps({"type": "response.create"}))
                done = await next_event(ws, "response.output_text.done")
                return error, done

    error, done = run(main())
    assert error["error"]["type"] == "invalid_request_error" and "JSON" in error["error"]["message"]
    assert done["text"] == "Hello."


def test_unreachable_upstream_is_reported_to_the_client(desk: CompiledFlow) -> None:
    async def main() -> tuple[dict[str, Any], int | None]:
        async with Relay(desk, "ws://127.0.0.1:9/v1/realtime", audit=MemorySink()) as relay:
            async with connect(relay.url) as ws:
                error = await next_event(ws, "error")
                await ws.wait_closed()
                return error, ws.close_code

    error, code = run(main())
    message = error["error"]["message"]
    assert error["error"]["code"] == "upstream_error" and "reference err_" in message
    assert "127.0.0.1:9" not in message  # the upstream's URL (and any HTTP body) stays in the server log
    assert code == 1011


CONTEXT_SCRIPT = """
[[rule]]
agent = "front"
user = "bill"
call = "transfer_to_billing"
arguments = { reason = "billing" }
[[rule]]
agent = "billing"
after = "transfer_to_billing"
say = "Billing here."
[[rule]]
agent = "front"
after = "transfer_to_billing"
say = "Please log in first."
"""


def test_initial_context_comes_from_the_server_side_hook_per_connection() -> None:
    """The hook reads the connection's URL; a trusted user_id opens billing; a failing hook refuses only its
    own connection, and a client's frames can never set trusted context."""
    flow = FLOW.replace('recovery = "help"', 'recovery = "help"\ninitial_context = ["user_id"]', 1)
    compiled = compile_document(parse_flow(flow, "desk.toml"))
    sink = MemorySink()

    def hook(client: Any) -> dict[str, str]:
        caller = client.request.path.rpartition("caller=")[2]
        if caller == "boom":
            raise RuntimeError("directory down: secret detail")
        return {"user_id": f"u-{caller}"}

    async def say(url: str, text: str) -> dict[str, Any]:
        async with connect(url) as ws:
            item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
            await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
            await ws.send(json.dumps({"type": "response.create"}))
            return await next_event(ws, "response.output_text.done")

    async def main() -> tuple[dict[str, Any], dict[str, Any], int | None]:
        emulator = Emulator(Script.parse(CONTEXT_SCRIPT, "relay"))
        async with emulator, Relay(compiled, emulator.url, audit=sink, context=hook) as relay:
            async with connect(relay.url + "?caller=boom") as ws:
                refused = await next_event(ws, "error")
                await ws.wait_closed()
            answer = await say(relay.url + "?caller=42", "bill me")
            return refused, answer, ws.close_code

    refused, answer, code = run(main())
    assert refused["error"]["code"] == "invalid_initial_context" and code == 1008
    assert "secret detail" not in json.dumps(refused)  # the hook's exception stays on the server
    assert answer["text"] == "Billing here."
    assert next((r.kind, r.outcome, r.to_agent) for r in sink.records) == ("handoff", "done", "billing")


def test_a_fixed_context_with_an_undeclared_key_is_refused_at_start_up(desk: CompiledFlow) -> None:
    with pytest.raises(ContextError, match="'user_id' is not declared"):
        Relay(desk, "ws://127.0.0.1:9/v1/realtime", audit=MemorySink(), context={"user_id": "u-1"})


@asynccontextmanager
async def relayed(frames: list[str]) -> AsyncIterator[ClientConnection]:
    """A client connected through a relay of ``FLOW`` to an upstream that sends ``frames`` at once, then
    keeps the connection until the relay closes it."""
    from websockets.asyncio.server import serve

    async def upstream(ws: Any) -> None:
        for frame in frames:
            await ws.send(frame)
        async for _ in ws:
            pass

    async with serve(upstream, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with Relay(
            compile_document(parse_flow(FLOW, "desk.toml")),
            f"ws://127.0.0.1:{port}/v1/realtime",
            audit=MemorySink(),
        ) as relay:
            async with connect(relay.url) as ws:
                yield ws


async def upstream_events(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    """The next ``count`` events the client gets that came from the upstream (``event_id`` ``ev_…``)."""
    seen: list[dict[str, Any]] = []
    while len(seen) < count:
        event = json.loads(await ws.recv())
        if str(event.get("event_id", "")).startswith("ev_"):
            seen.append(event)
    return seen


def test_an_event_the_relay_does_not_change_goes_down_as_the_frame_it_came_in() -> None:
    """Pass-through is not re-encoded: the client gets the upstream's frame byte for byte (spacing, key
    order), while an event the relay edits (a redacted session) is encoded anew."""
    odd = '{"type" : "rate_limits.updated",  "event_id":"ev_1", "rate_limits" : []}'

    async def main() -> str:
        async with relayed([odd]) as ws:
            async for frame in ws:
                if "rate_limits" in str(frame):
                    return str(frame)
        raise AssertionError("no rate_limits.updated")

    assert run(main()) == odd


def test_a_burst_of_decoded_and_undecoded_events_reaches_the_client_in_upstream_order() -> None:
    """Deltas skip the relay's queue and events the client sees unchanged go down ahead of the core (both
    sent by its upstream reader): mixed with events the core reads, in a burst, the client still sees the
    upstream's order."""
    import random

    rng = random.Random(7)
    kinds = ["response.output_text.delta", "rate_limits.updated", "response.output_text.done"]
    burst = [
        json.dumps({"type": rng.choice(kinds), "event_id": f"ev_{i}", "response_id": "r", "delta": "x"})
        for i in range(300)
    ]

    async def main() -> list[str]:
        async with relayed(burst) as ws:
            return [event["event_id"] for event in await upstream_events(ws, len(burst))]

    assert run(main()) == [f"ev_{i}" for i in range(300)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_events_the_reader_sends_ahead_of_the_core_never_overtake_those_the_core_edits(seed: int) -> None:
    """The upstream reader sends an event the client sees unchanged straight down, ahead of the core; an
    event the relay edits or hides (a redacted session, a function-call item, a ``response.done`` listing a
    call) waits for the pump. In a random burst of both, the client sees the upstream's order, minus the
    hidden ones, and never a function call."""
    import random

    rng = random.Random(seed)
    message = {"type": "message", "id": "msg_1", "role": "assistant", "content": []}
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "lookup", "arguments": "{}"}
    makers = [
        lambda: {"type": "response.output_text.delta", "response_id": "r", "delta": "x"},
        lambda: {"type": "rate_limits.updated", "rate_limits": []},
        lambda: {"type": "response.output_text.done", "response_id": "r", "text": "x"},
        lambda: {"type": "conversation.item.added", "item": message},
        lambda: {"type": "conversation.item.added", "item": call},  # hidden
        lambda: {"type": "response.done", "response": {"id": "r", "output": [message]}},
        lambda: {"type": "response.done", "response": {"id": "r", "output": [message, call]}},  # edited
        lambda: {"type": "session.updated", "session": {"type": "realtime", "instructions": "secret"}},
    ]
    burst = [{**rng.choice(makers)(), "event_id": f"ev_{i}"} for i in range(300)]
    expected = [e["event_id"] for e in burst if e.get("item", {}).get("type") != "function_call"]

    async def main() -> list[dict[str, Any]]:
        async with relayed([json.dumps(event) for event in burst]) as ws:
            return await upstream_events(ws, len(expected))

    seen = run(main())
    assert [e["event_id"] for e in seen] == expected
    assert not any("function_call" in json.dumps(e) or "secret" in json.dumps(e) for e in seen)


def test_a_hostile_upstream_s_odd_events_do_not_stop_the_reader_that_forwards_first() -> None:
    """The reader asks of every decoded event whether the client sees it unchanged: an ``item_id`` that is
    a list (unhashable), an ``item`` that is a number or a ``response`` that is a string must not raise
    there (the conversation would end); each goes down as it came, and so does what follows."""
    odd = [
        {"type": "conversation.item.deleted", "item_id": ["fc_1"]},
        {"type": "conversation.item.added", "item": 5},
        {"type": "response.done", "response": "nope"},
        {"type": "response.output_item.done", "item": {"type": ["function_call"]}},
        {"type": "rate_limits.updated", "rate_limits": []},
    ]
    burst = [json.dumps({**event, "event_id": f"ev_{i}"}) for i, event in enumerate(odd)]

    async def main() -> list[str]:
        async with relayed(burst) as ws:
            return [event["event_id"] for event in await upstream_events(ws, len(burst))]

    assert run(main()) == [f"ev_{i}" for i in range(len(odd))]
