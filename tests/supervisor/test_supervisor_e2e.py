"""Chat-supervisor end to end over real sockets: answered, timeout, barge-in, budget and tool-error paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.compile.pipeline import CompiledFlow, compile_flow
from engine.emulator.script import Script
from engine.runtime.conversation import UserTurn
from engine.runtime.tools import ToolRegistry
from engine.session import MemorySink, Session
from engine.supervisor.factory import make_supervisor
from tests.e2e_helpers import Recorder, converse

FLOW = """
[flow]
name = "desk"
entry = "front"
recovery = "help"

[agents.front]
instructions = "Answer greetings yourself; escalate anything else. Say a short filler first."
handoffs = ["help"]
terminal = true

[agents.help]
terminal = true

[tools.balance]
parameters = {{ type = "object", properties = {{}} }}

[tools.outage]
parameters = {{ type = "object", properties = {{}} }}

[supervisor]
script = "supervisor.toml"
tools = ["balance", "outage"]
timeout_s = {timeout}
max_escalations = {budget}
on_budget_exhausted = "{exhausted}"
fallback_answer = "Sorry, I can't check that right now."
"""

SUPERVISOR = """
[[rule]]
match = "balance"
tools = [{ name = "balance", arguments = {} }]
answer = "Your balance is {balance.amount}."
[[rule]]
match = "outage"
tools = [{ name = "outage", arguments = {} }]
answer = "Status: {outage.status}."
fallback = "I can't see the network status right now."
[[rule]]
match = "slow"
hang = true
[[rule]]
match = "broken"
fail = "backend exploded"
[[rule]]
match = ".*"
answer = "I can help with that."
"""

FRONT_TAIL = """
[[rule]]
agent = "front"
after = "get_next_response_from_supervisor"
output = "over_budget"
say = "I'll answer this one myself."
[[rule]]
agent = "front"
after = "get_next_response_from_supervisor"
say = "{output.nextResponse}"
[[rule]]
agent = "help"
say = "The generalist here."
[[rule]]
say = "Hello!"
"""


def balance() -> dict[str, str]:
    return {"amount": "$42.17"}


def outage() -> dict[str, str]:
    raise ConnectionError("status page unreachable")


def desk(
    tmp_path: Path, *, timeout: float = 5, budget: int = 10, exhausted: str = "answer_alone"
) -> CompiledFlow:
    (tmp_path / "supervisor.toml").write_text(SUPERVISOR)
    path = tmp_path / "desk.toml"
    path.write_text(FLOW.format(timeout=timeout, budget=budget, exhausted=exhausted))
    return compile_flow(path)


def front_script(*topics: str) -> str:
    """One escalation rule per topic so that the relevant context carries the topic word."""
    rules = "".join(
        f'[[rule]]\nagent = "front"\nuser = "(?i)^{t}"\nsay = "One moment."\n'
        f'call = "get_next_response_from_supervisor"\n'
        f'arguments = {{ relevantContextFromLastUserMessage = "{t} question" }}\n'
        for t in topics
    )
    return rules + FRONT_TAIL


def talk(compiled: CompiledFlow, turns: list[UserTurn | str], topics: tuple[str, ...] = ("balance",)) -> Any:
    tools = ToolRegistry({"balance": balance, "outage": outage})
    supervisor = make_supervisor(compiled.doc, tools)
    return converse(compiled, front_script(*topics), turns, tools=tools, supervisor=supervisor)


def escalations(sink: MemorySink) -> list[str]:
    return [r.outcome for r in sink.records if r.kind == "escalation"]


def test_answered_with_a_tool_round_and_spoken_by_the_front_agent(tmp_path: Path) -> None:
    session, rec, sink = talk(desk(tmp_path), ["hi", "balance please"])
    assert rec.transcript("assistant") == ["Hello!", "One moment.", "Your balance is $42.17."]
    (record,) = [r for r in sink.records if r.kind == "escalation"]
    assert record.outcome == "answered" and record.detail["tool_rounds"] == 1
    assert record.detail["latency_s"] > 0 and record.reason == "balance question"
    assert session.status().escalation == "chatting"


def test_timeout_speaks_the_fallback(tmp_path: Path) -> None:
    session, rec, sink = talk(desk(tmp_path, timeout=0.05), ["slow one"], ("slow",))
    assert escalations(sink) == ["timed_out"]
    assert rec.transcript("assistant")[-1] == "Sorry, I can't check that right now."
    assert session.status().escalation == "chatting"


def test_backend_failure_speaks_the_fallback(tmp_path: Path) -> None:
    _, rec, sink = talk(desk(tmp_path), ["broken thing"], ("broken",))
    assert escalations(sink) == ["failed"]
    assert "backend exploded" in next(r for r in sink.records if r.kind == "escalation").detail["why"]
    assert rec.transcript("assistant")[-1] == "Sorry, I can't check that right now."


def test_supervisor_tool_error_uses_the_rule_fallback(tmp_path: Path) -> None:
    _, rec, sink = talk(desk(tmp_path), ["outage today?"], ("outage",))
    assert escalations(sink) == ["answered"]
    assert rec.transcript("assistant")[-1] == "I can't see the network status right now."


def test_barge_in_abandons_the_escalation_and_its_answer_is_never_spoken(tmp_path: Path) -> None:
    turns: list[UserTurn | str] = ["slow one", UserTurn("hello again", interrupt=True)]
    session, rec, sink = talk(desk(tmp_path, timeout=30), turns, ("slow",))
    assert escalations(sink) == ["stale"]
    assert rec.transcript("assistant") == ["One moment.", "Hello!"]
    outputs = [
        e["item"]["output"]
        for side, e in rec.wire
        if side == "client" and e.get("item", {}).get("type") == "function_call_output"
    ]
    assert len(outputs) == 1 and '"cancelled"' in outputs[0]
    assert session.status().escalation == "chatting"


def test_budget_is_bounded_and_counted(tmp_path: Path) -> None:
    _, rec, sink = talk(desk(tmp_path, budget=1), ["balance?", "balance again?"])
    assert escalations(sink) == ["answered", "over_budget"]
    assert rec.transcript("assistant")[-1] == "I'll answer this one myself."


def test_exhausted_budget_can_route_to_recovery(tmp_path: Path) -> None:
    session, rec, sink = talk(desk(tmp_path, budget=1, exhausted="recover"), ["balance?", "balance again?"])
    assert escalations(sink) == ["answered", "over_budget"]
    assert session.agent == "help" and rec.transcript("assistant")[-1] == "The generalist here."


def test_shipped_chat_supervisor_flow_runs_its_script() -> None:
    compiled = compile_flow("flows/chat_supervisor.toml")
    script = Path("flows/scripts/chat_supervisor.toml").read_text()
    tools = ToolRegistry.from_flow(compiled.doc)
    turns: list[UserTurn | str] = [UserTurn(t.user) for t in Script.parse(script, "chat").turns]
    session, rec, sink = converse(
        compiled, script, turns, tools=tools, supervisor=make_supervisor(compiled.doc, tools)
    )
    assert escalations(sink) == ["answered", "answered"]
    assert "$42.17" in rec.transcript("assistant")[2]
    assert isinstance(session, Session) and isinstance(rec, Recorder)


def test_missing_supervisor_script_is_a_clear_error(tmp_path: Path) -> None:
    compiled = desk(tmp_path)
    (tmp_path / "supervisor.toml").unlink()
    with pytest.raises(ValueError, match=r"supervisor\.toml"):
        make_supervisor(compiled.doc, ToolRegistry())
