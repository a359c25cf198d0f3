"""History policy and session invariants over real sockets: the core, the client, the relay and the emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.compile.pipeline import CompiledFlow, compile_document
from engine.emulator.script import Script
from engine.emulator.server import Emulator, Faults
from engine.emulator.session import text_of
from engine.flow.loader import parse_flow
from engine.runtime.relay import Relay
from engine.runtime.tools import ToolRegistry
from engine.session import MemorySink
from engine.session.history import SUMMARY_PREFIX
from tests.e2e_helpers import Recorder, converse
from tests.realtime_schema import Wire, run, user_message

FLOW = """
[flow]
name = "desk"
entry = "front"
recovery = "help"

[agents.front]
tools = ["login"]
handoffs = ["billing"]

[agents.billing]
requires = ["user_id"]
handoffs = ["front"]
terminal = true

[agents.help]
terminal = true

[tools.login]
parameters = {{ type = "object", properties = {{ phone = {{ type = "string" }} }}, required = ["phone"] }}
sets = ["user_id"]

[[handoff]]
from = "front"
to = "billing"
carry = ["user_id"]
history = "{history}"
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
heard = "1988-10-12"
say = "LEAK: you were born on 1988-10-12."
[[rule]]
agent = "billing"
after = "transfer_to_billing"
say = "Billing here."
"""

TURNS = ["Hi, I need help with a bill.", "login please: born 1988-10-12, card 4321"]


def login(phone: str) -> dict[str, str]:
    return {"user_id": f"u-{phone}"}


def desk(history: str) -> CompiledFlow:
    return compile_document(parse_flow(FLOW.format(history=history), "desk.toml"))


def talk(history: str, script: str = SCRIPT) -> tuple[Recorder, MemorySink]:
    _, rec, sink = converse(
        desk(history),
        script,
        list(TURNS),
        tools=ToolRegistry({"login": login}),
        session_options={"history_timeout_s": 1e9},
    )
    return rec, sink


def texts(items: list[dict[str, Any]]) -> str:
    return "\n".join(f"{text_of(i)} {i.get('arguments', '')} {i.get('output', '')}" for i in items)


def handoff_detail(sink: MemorySink) -> dict[str, Any]:
    (record,) = [r for r in sink.records if r.kind == "handoff"]
    assert (record.outcome, record.to_agent) == ("done", "billing")
    return record.detail


def test_keep_lets_the_next_agent_read_the_earlier_turns() -> None:
    """The control: with ``keep`` the billing rule that matches on earlier text fires."""
    rec, sink = talk("keep")
    assert rec.transcript("assistant")[-1] == "LEAK: you were born on 1988-10-12."
    assert handoff_detail(sink) == {"history": "keep"}


def test_reset_removes_the_earlier_items_so_the_next_agent_cannot_read_them() -> None:
    rec, sink = talk("reset")
    assert rec.transcript("assistant")[-1] == "Billing here."  # the `heard` rule did not fire
    _, items = rec.emulator_state
    assert "1988" not in texts(items) and "4321" not in texts(items)
    # what stays: the transfer call (its reason) and its output, then billing's reply
    assert [(i["type"], i.get("name")) for i in items] == [
        ("function_call", "transfer_to_billing"),
        ("function_call_output", None),
        ("message", None),
    ]
    detail = handoff_detail(sink)
    assert detail["history"] == "reset" and detail["removed"] == 5
    client = [e for side, e in rec.wire if side == "client"]
    deletes = [e for e in client if e["type"] == "conversation.item.delete"]
    confirmed = [e for side, e in rec.wire if side == "server" and e["type"] == "conversation.item.deleted"]
    assert len(deletes) == len(confirmed) == 5
    # the next agent is configured only once every deletion is confirmed
    last_confirmation = max(
        i for i, (_, e) in enumerate(rec.wire) if e["type"] == "conversation.item.deleted"
    )
    billing_update = next(
        i
        for i, (side, e) in enumerate(rec.wire)
        if side == "client"
        and e["type"] == "session.update"
        and e["session"]["instructions"].startswith("# agent: billing")
    )
    assert last_confirmation < billing_update


def test_summary_keeps_one_summary_item_written_without_the_dropped_details() -> None:
    rec, sink = talk("summary")
    assert rec.transcript("assistant")[-1] == "Billing here."
    _, items = rec.emulator_state
    summaries = [i for i in items if i.get("role") == "system"]
    assert len(summaries) == 1 and items[0] is not None and items[0]["role"] == "system"
    expected = "(emulator summary) 3 earlier messages: 2 from the caller, 1 from the agent."
    assert text_of(summaries[0]) == SUMMARY_PREFIX + expected
    assert "1988" not in texts(items)  # ... the conversation keeps only its note
    assert handoff_detail(sink)["history"] == "summary"
    requests = [
        e["response"]
        for side, e in rec.wire
        if side == "client" and e["type"] == "response.create" and e.get("response")
    ]
    (summary_request,) = requests
    assert summary_request["conversation"] == "none"
    assert '{"user_id": "u-42"}' in summary_request["instructions"]
    assert [m["role"] for m in summary_request["input"]] == ["user", "assistant", "user"]
    assert "1988-10-12" in json.dumps(summary_request["input"])  # the summariser reads the turns ...
    # the out-of-band answer is not part of the conversation, nor a line of the transcript
    assert not any("(emulator summary)" in line for line in rec.transcript("assistant"))


def test_a_summary_that_repeats_a_dropped_value_falls_back_to_reset() -> None:
    leaky = (
        SCRIPT
        + """
[[rule]]
out_of_band = true
say = "The caller, u-42, wants billing."
"""
    )
    flow = FLOW.replace('carry = ["user_id"]', "carry = []").replace('requires = ["user_id"]\n', "")
    _, rec, sink = converse(
        compile_document(parse_flow(flow.format(history="summary"), "desk.toml")),
        leaky,
        list(TURNS),
        tools=ToolRegistry({"login": login}),
        session_options={"history_timeout_s": 1e9},
    )
    detail = handoff_detail(sink)
    assert detail["history"] == "reset" and detail["requested_history"] == "summary"
    assert "user_id" in detail["fallback"]
    _, items = rec.emulator_state
    assert not any(i.get("role") == "system" for i in items) and "u-42" not in texts(items)
    assert rec.transcript("assistant")[-1] == "Billing here."


def test_deletions_never_confirmed_time_out_on_the_session_clock_and_go_to_recovery() -> None:
    """The pump ticks the core at its deadline: the handoff fails loudly instead of hanging."""
    script = SCRIPT + '\n[[rule]]\nagent = "help"\nsay = "Help desk here."\n'
    _, rec, sink = converse(
        desk("reset"),
        script,
        list(TURNS),
        tools=ToolRegistry({"login": login}),
        faults=Faults(silent_deletes=True),
        session_options={"history_timeout_s": 0.5},
    )
    (record,) = [r for r in sink.records if r.kind == "handoff"]
    assert (record.outcome, record.from_agent, record.to_agent) == ("recovered", "front", "help")
    assert "item deletions not confirmed within 0.5s" in record.detail["why"]
    assert record.detail["requested"] == "billing"
    assert rec.transcript("assistant")[-1] == "Help desk here."


CHAIN = """
[flow]
name = "chain"
entry = "a"
recovery = "d"

[agents.a]
handoffs = ["b"]
[agents.b]
handoffs = ["c"]
[agents.c]
handoffs = ["d"]
[agents.d]
terminal = true
"""

CHAIN_SCRIPT = """
[[rule]]
agent = "a"
user = "go"
call = "transfer_to_b"
arguments = { reason = "next" }
[[rule]]
agent = "b"
after = "transfer_to_b"
call = "transfer_to_c"
arguments = { reason = "next" }
[[rule]]
agent = "c"
after = "transfer_to_c"
call = "transfer_to_d"
arguments = { reason = "next" }
[[rule]]
agent = "d"
say = "done"
"""


@pytest.mark.parametrize("history", ["keep", "reset", "summary"])
def test_a_client_set_pcmu_input_format_survives_three_handoffs(history: str) -> None:
    compiled = compile_document(
        parse_flow(CHAIN.replace('recovery = "d"', f'recovery = "d"\nhistory = "{history}"'), "chain.toml")
    )
    upstream = Recorder()
    sink = MemorySink()
    pcmu = {"type": "audio/pcmu"}

    async def main() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        emulator = Emulator(Script.parse(CHAIN_SCRIPT, "chain"), on_event=upstream.on_event)
        nonlocal client_saw
        async with emulator, Relay(compiled, emulator.url, audit=sink, api_key="test") as relay:
            wire = await Wire.open(relay.url)
            session = {
                "type": "realtime",
                "output_modalities": ["text"],
                "audio": {
                    "input": {"format": pcmu, "turn_detection": None},
                    "output": {"format": pcmu},
                },
            }
            await wire.send({"type": "session.update", "session": session})
            await wire.send(user_message("go"))
            await wire.send({"type": "response.create"})
            await wire.until("response.output_text.done", text="done")
            client_saw = wire.received
            await wire.close()
            return emulator.state()

    client_saw: list[dict[str, Any]] = []
    effective, items = run(main())
    assert upstream.invalid == []
    assert [(r.from_agent, r.to_agent, r.outcome) for r in sink.records if r.kind == "handoff"] == [
        ("a", "b", "done"),
        ("b", "c", "done"),
        ("c", "d", "done"),
    ]
    assert effective["instructions"].startswith("# agent: d")
    assert effective["audio"]["input"]["format"] == pcmu
    assert effective["audio"]["output"]["format"] == pcmu
    assert effective["audio"]["input"]["turn_detection"] is None
    assert effective["audio"]["output"]["voice"] == "alloy"  # the flow's voice, set once
    handoff_updates = [
        e["session"] for side, e in upstream.wire if side == "client" and e["type"] == "session.update"
    ][-3:]
    assert all(set(u) == {"type", "instructions", "tools", "tool_choice"} for u in handoff_updates)
    assert json.dumps(effective["audio"]).count("pcmu") == 2
    # the relay keeps its own summary responses from the client; deletions it passes down
    summaries = [e for side, e in upstream.wire if side == "server" and e["type"] == "response.created"]
    summaries = [e for e in summaries if (e["response"].get("metadata") or {}).get("switchboard")]
    assert len(summaries) == (3 if history == "summary" else 0)
    assert not any((e.get("response", {}).get("metadata") or {}).get("switchboard") for e in client_saw)
    assert not any(
        "emulator summary" in json.dumps(e) for e in client_saw if e["type"].startswith("response.")
    )
    deleted = sum(1 for e in client_saw if e["type"] == "conversation.item.deleted")
    assert (deleted > 0) == (history != "keep")
    roles = [i.get("role") for i in items if i["type"] == "message"]
    assert (
        roles
        == {"keep": ["user", "assistant"], "reset": ["assistant"], "summary": ["system", "assistant"]}[
            history
        ]
    )
