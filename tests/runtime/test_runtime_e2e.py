"""End to end over real sockets on loopback: the session core, the client, the emulator, tools and audit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.compile.pipeline import CompiledFlow, compile_document, compile_flow
from engine.emulator.script import Script
from engine.emulator.server import Faults
from engine.flow.loader import parse_flow
from engine.runtime.audit_file import JsonlSink, read_jsonl
from engine.runtime.client import UpstreamDropped
from engine.runtime.conversation import ConversationError, UserTurn
from engine.runtime.tools import ToolRegistry
from engine.session import MemorySink
from engine.session.audit import AuditRecord
from engine.wire.protocol import ProtocolError
from tests.e2e_helpers import converse as _converse

FLOW = """
[flow]
name = "desk"
entry = "front"
recovery = "help"
max_handoff_depth = 2

[agents.front]
tools = ["login", "explode"]
handoffs = ["billing"]
max_visits = 2

[agents.billing]
requires = ["user_id"]
handoffs = ["front"]

[agents.help]
terminal = true

[tools.login]
parameters = { type = "object", properties = { phone = { type = "string" } }, required = ["phone"] }
sets = ["user_id"]

[tools.explode]
"""


def login(phone: str) -> dict[str, str]:
    return {"user_id": f"u-{phone}"}


async def explode() -> None:
    raise RuntimeError("the database is down")


@pytest.fixture(scope="module")
def desk() -> CompiledFlow:
    return compile_document(parse_flow(FLOW, "desk.toml"))


def converse(compiled: CompiledFlow, script: str, turns: list[UserTurn | str], **kwargs: Any) -> Any:
    kwargs.setdefault("tools", ToolRegistry({"login": login, "explode": explode}))
    return _converse(compiled, script, turns, **kwargs)


def outcomes(sink: MemorySink, kind: str = "handoff") -> list[str]:
    return [r.outcome for r in sink.records if r.kind == kind]


HANDOFF_SCRIPT = """
[[rule]]
agent = "front"
user = "bill"
call = "transfer_to_billing"
arguments = { reason = "billing question" }
[[rule]]
agent = "front"
user = "login"
call = "login"
arguments = { phone = "42" }
[[rule]]
after = "login"
say = "You are logged in."
[[rule]]
agent = "front"
after = "transfer_to_billing"
output = "refused"
say = "Please log in first."
[[rule]]
agent = "billing"
after = "transfer_to_billing"
say = "Billing here."
[[rule]]
agent = "billing"
user = "back"
call = "transfer_to_front"
arguments = { reason = "done with billing" }
[[rule]]
after = "transfer_to_front"
say = "Hello."
[[rule]]
agent = "help"
say = "Hello."
[[rule]]
agent = "billing"
user = "(?i)help"
call = "transfer_to_help"
arguments = { reason = "needs a generalist" }
[[rule]]
user = "hop"
call = "transfer_to_nowhere"
arguments = { reason = "no such agent" }
"""


def test_handoffs_refusals_and_the_depth_cap_over_sockets(desk: CompiledFlow) -> None:
    turns = ["bill me", "login please", "bill me", "back please", "bill me"]
    session, rec, sink = converse(desk, HANDOFF_SCRIPT, turns)
    # refused (no user_id yet), done, done, then the third handoff is past max_handoff_depth = 2: capped
    assert outcomes(sink) == ["refused", "done", "done", "capped"]
    assert session.agent == "help"
    assert rec.transcript("assistant") == [
        "Please log in first.",
        "You are logged in.",
        "Billing here.",
        "Hello.",
        "Hello.",
    ]
    updates = [e for side, e in rec.wire if side == "client" and e["type"] == "session.update"]
    assert [u["session"]["instructions"].splitlines()[0] for u in updates] == [
        "# agent: front",
        "# agent: front",
        "# agent: billing",
        "# agent: front",
        "# agent: help",
    ]
    assert updates[0]["session"]["audio"]["output"]["voice"] == "alloy"
    assert all("audio" not in u["session"] and "model" not in u["session"] for u in updates[1:])
    voices = {
        e["session"]["audio"]["output"]["voice"] for side, e in rec.wire if e["type"] == "session.updated"
    }
    assert voices == {"alloy"}  # the voice set once stays across the handoffs
    # the order the issue asks for: session.update, then the output, then response.create after response.done
    kinds = [(side, e["type"]) for side, e in rec.wire]
    transfer = next(
        i
        for i, (_, e) in enumerate(rec.wire)
        if e.get("name") == "transfer_to_billing"
        and e["type"] == "response.function_call_arguments.done"
        and i > 40
    )
    after = [k for k in kinds[transfer:] if k[0] == "client"][:3]
    assert after == [
        ("client", "session.update"),
        ("client", "conversation.item.create"),
        ("client", "response.create"),
    ]


def test_undeclared_transfer_is_refused_and_the_conversation_goes_on(desk: CompiledFlow) -> None:
    session, rec, sink = converse(desk, HANDOFF_SCRIPT, ["hop now", "login please"])
    (record,) = sink.records[:1]
    assert (record.kind, record.outcome, record.to_agent) == ("handoff", "refused", "nowhere")
    assert "cannot transfer to 'nowhere'" in record.detail["why"]
    assert session.agent == "front"
    assert rec.transcript("assistant")[-1] == "You are logged in."


def test_visit_budget_reroutes_over_sockets(desk: CompiledFlow) -> None:
    flow = compile_document(
        parse_flow(
            FLOW.replace("max_handoff_depth = 2", "max_handoff_depth = 9").replace(
                "max_visits = 2", "max_visits = 1"
            ),
            "desk.toml",
        )
    )
    session, _, sink = converse(flow, HANDOFF_SCRIPT, ["login please", "bill me", "back please"])
    assert outcomes(sink) == ["done", "recovered"]
    assert session.agent == "help"


TOOL_SCRIPT = """
[[rule]]
user = "explode"
call = "explode"
[[rule]]
user = "ghost"
call = "ghost_tool"
[[rule]]
user = "bad"
call = "login"
arguments = { phone = 7 }
[[rule]]
output = "error"
say = "Something went wrong, sorry."
"""


@pytest.mark.parametrize(
    ("turn", "kind", "outcome", "message", "told"),
    [
        ("explode", "tool", "failed", "RuntimeError: the database is down", "the tool failed"),
        ("ghost", "tool", "refused", "unknown tool 'ghost_tool'", "unknown tool 'ghost_tool'"),
        ("bad args", "tool", "refused", "bad arguments for 'login'", "bad arguments for 'login'"),
    ],
)
def test_tool_errors_reach_the_model_and_the_audit(
    desk: CompiledFlow, turn: str, kind: str, outcome: str, message: str, told: str
) -> None:
    """A refusal tells the model why; a tool's own exception goes to the audit only."""
    _session, rec, sink = converse(desk, TOOL_SCRIPT, [turn])
    (record,) = [r for r in sink.records if r.kind == kind]
    assert record.outcome == outcome and message in record.reason
    outputs = [
        e["item"]["output"]
        for side, e in rec.wire
        if side == "client" and e.get("item", {}).get("type") == "function_call_output"
    ]
    assert len(outputs) == 1 and told in outputs[0]
    if outcome == "failed":
        assert not any("database" in json.dumps(e) for side, e in rec.wire if side == "client")
    assert rec.transcript("assistant") == ["Something went wrong, sorry."]


def test_tool_without_implementation_is_an_error_output(desk: CompiledFlow) -> None:
    _, _, sink = converse(desk, TOOL_SCRIPT, ["explode"], tools=ToolRegistry())
    (record,) = [r for r in sink.records if r.kind == "tool"]
    assert "has no implementation" in record.reason


@pytest.mark.parametrize("malformed", ["json", "no_type", "missing_field"])
def test_malformed_upstream_event_is_reported_and_the_session_survives(
    desk: CompiledFlow, malformed: str
) -> None:
    faults = Faults(malformed_after=1, malformed=malformed)  # type: ignore[arg-type]
    session, rec, _ = converse(desk, HANDOFF_SCRIPT, ["login please", "bill me"], faults=faults)
    problems = [
        a for a in rec.actions if isinstance(a, ProtocolError) or type(a).__name__ == "ProtocolProblem"
    ]
    assert len(problems) == 1
    expected = {"json": "JSON", "no_type": "type", "missing_field": "response.function_call_arguments.done"}
    assert expected[malformed] in str(problems[0])  # names the event and the field
    if malformed == "missing_field":
        assert "call_id" in str(problems[0])
    assert session.agent == "billing"  # the second turn still went through


def test_upstream_drop_mid_response_is_a_clear_error_and_the_audit_log_is_intact(
    desk: CompiledFlow, tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    sink = JsonlSink(path)
    with pytest.raises(ConversationError) as info:
        converse(
            desk,
            HANDOFF_SCRIPT,
            ["login please", "bill me", "back please"],
            audit=sink,
            faults=Faults(drop_in_response=4, drop_after_events=3),
        )
    sink.close()
    assert isinstance(info.value.__cause__, UpstreamDropped)
    assert "upstream closed" in str(info.value)
    records = [r for _, r in read_jsonl(path)]
    assert all(isinstance(r, AuditRecord) for r in records)
    kept = [(r.kind, r.outcome) for r in records if isinstance(r, AuditRecord)]
    assert kept == [("tool", "ok"), ("handoff", "done")]  # login, then front -> billing: kept


def test_no_two_responses_overlap_on_the_wire(desk: CompiledFlow) -> None:
    _, rec, _ = converse(desk, HANDOFF_SCRIPT, ["bill me", "login please", "bill me", "back please"])
    open_responses = 0
    for side, event in rec.wire:
        if side == "server" and event["type"] == "response.created":
            open_responses += 1
            assert open_responses == 1
        elif side == "server" and event["type"] == "response.done":
            open_responses -= 1
        elif side == "server" and event["type"] == "error":
            pytest.fail(f"the emulator refused a client event: {event}")


def test_shipped_retail_flow_runs_its_script(tmp_path: Path) -> None:
    compiled = compile_flow("flows/retail.toml")
    script = Path("flows/scripts/retail.toml").read_text()
    turns: list[UserTurn | str] = [UserTurn(t.user) for t in Script.parse(script, "retail").turns]
    session, _rec, sink = converse(compiled, script, turns, tools=ToolRegistry.from_flow(compiled.doc))
    assert outcomes(sink).count("done") >= 3 and "refused" in outcomes(sink) and "capped" in outcomes(sink)
    assert session.agent == "generalist"
    assert session.known_context()["user_id"] == "user-2061351246"


BYPASS_SCRIPT = """
[[rule]]
agent = "authentication"
user = "(?i)return"
call = "transfer_to_returns"
arguments = { reason = "wants a return", user_id = "user-9999999999" }
[[rule]]
agent = "authentication"
after = "transfer_to_returns"
say = "I need to verify you first."
[[rule]]
agent = "returns"
user = "(?i)orders"
call = "lookup_orders"
arguments = { phone_number = "(206) 135-1246" }
[[rule]]
user = "."
say = "ok"
"""


def test_retail_bypass_with_a_model_supplied_user_id_is_refused_and_audited() -> None:
    """The model claims a user_id before authenticating: returns stays shut and lookup_orders never runs."""
    compiled = compile_flow("flows/retail.toml")
    turns: list[UserTurn | str] = [UserTurn("I want a return"), UserTurn("show my orders")]
    session, rec, sink = converse(compiled, BYPASS_SCRIPT, turns, tools=ToolRegistry.from_flow(compiled.doc))
    assert session.agent == "authentication" and session.known_context() == {}
    (refused,) = [r for r in sink.records if r.kind == "handoff"]
    assert (refused.outcome, refused.to_agent) == ("refused", "returns")
    assert refused.detail["claimed"] == {"user_id": "user-9999999999"}
    assert not any("lookup_orders" in line for line in rec.transcript("tool"))
    updates = [e for side, e in rec.wire if side == "client" and e["type"] == "session.update"]
    assert not any("user-9999999999" in e["session"].get("instructions", "") for e in updates)


def test_initial_context_is_trusted_and_opens_an_agent_that_requires_it() -> None:
    text = Path("flows/retail.toml").read_text()
    text = text.replace(
        'recovery = "generalist"', 'recovery = "generalist"\ninitial_context = ["user_id"]', 1
    )
    compiled = compile_document(parse_flow(text, "retail.toml", base_dir=Path("flows")))
    script = BYPASS_SCRIPT.replace(', user_id = "user-9999999999"', "")
    turns: list[UserTurn | str] = [UserTurn("I want a return")]
    session, _rec, sink = converse(
        compiled,
        script,
        turns,
        tools=ToolRegistry.from_flow(compiled.doc),
        initial_context={"user_id": "user-2061351246"},
    )
    assert session.agent == "returns"
    assert [r.outcome for r in sink.records if r.kind == "handoff"] == ["done"]
