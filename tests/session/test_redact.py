"""Sensitive keys: masked in audit records and transcript lines by name and by value; carried only by name."""

from __future__ import annotations

from typing import Any

from engine.session import Audit, Transcript
from engine.session.audit import AuditRecord
from engine.session.redact import MASK, Redactor
from tests.session_helpers import audits, call, compiled_from_text, new_session, respond_with, sent

FLOW = """
[flow]
name = "bank"
entry = "auth"
recovery = "help"
sensitive = ["dob"]

[agents.auth]
tools = ["verify"]
handoffs = ["cards", "loans"]

[agents.cards]
handoffs = ["help"]
terminal = true

[agents.loans]
terminal = true

[agents.help]
terminal = true

[tools.verify]
parameters = { type = "object", properties = { card = { type = "string" }, dob = { type = "string" } } }
sets = ["user_id", "dob"]
sensitive = ["card"]

[[handoff]]
from = "auth"
to = "cards"
carry = ["user_id", "dob"]
"""


def last_instructions(actions: list[Any]) -> str:
    updates = [e for e in sent(actions) if e["type"] == "session.update"]
    text: str = updates[-1]["session"]["instructions"]
    return text


def test_values_are_masked_by_name_at_any_depth_and_by_value_in_text() -> None:
    redact = Redactor(["card"])
    redact.learn({"args": [{"card": "4321"}], "card": 7, "flag": True})
    assert redact.data({"x": {"card": "anything"}, "note": "card 4321 ok", "n": 4321}) == {
        "x": {"card": MASK},
        "note": f"card {MASK} ok",
        "n": 4321,
    }
    record = AuditRecord("c", 1, 0.0, "handoff", "done", "a", reason="said 4321", detail={"card": "4321"})
    line = Transcript("tool", "a", "verify -> 4321", {"card": "4321"})
    audit, transcript = redact.actions([Audit(record), line])
    assert isinstance(audit, Audit) and audit.record.reason == f"said {MASK}"
    assert audit.record.detail == {"card": MASK}
    assert transcript == Transcript("tool", "a", f"verify -> {MASK}", {"card": MASK})
    assert Redactor([]).actions([line]) == [line]  # no sensitive names: nothing to do


def test_sensitive_values_never_reach_records_or_lines_but_the_carrying_agent_sees_them() -> None:
    session = new_session(compiled_from_text(FLOW))
    session.start()
    actions = respond_with(session, call("verify", {"card": "4321", "dob": "1988-10-12"}, call_id="v"))
    actions += session.tool_result("v", {"user_id": "u-1", "dob": "1988-10-12", "echo": "card 4321"})
    actions += respond_with(session, call("transfer_to_cards", {"reason": "dob 1988-10-12, card 4321"}))
    shown = repr([a for a in actions if isinstance(a, Audit | Transcript)])
    assert "4321" not in shown and "1988-10-12" not in shown
    tool, handoff = audits(actions)
    assert tool.kind == "tool" and tool.detail["arguments"] == {"card": MASK, "dob": MASK}
    assert handoff.reason == f"dob {MASK}, card {MASK}"
    assert '"dob": "1988-10-12"' in last_instructions(actions)  # carried by name: visible


def test_a_sensitive_key_does_not_travel_on_an_edge_without_a_carry_list() -> None:
    session = new_session(compiled_from_text(FLOW))
    session.start()
    respond_with(session, call("verify", {"card": "4321"}, call_id="v"))
    session.tool_result("v", {"user_id": "u-1", "dob": "1988-10-12"})
    actions = respond_with(session, call("transfer_to_loans", {"reason": "loan"}))  # no contract: all but dob
    assert session.agent == "loans" and session.visible_context() == {"user_id": "u-1"}
    assert "1988-10-12" not in last_instructions(actions)
