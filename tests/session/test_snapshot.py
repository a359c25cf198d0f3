"""Snapshots: a session restored at any step, then fed the same remaining inputs, does what the original
does — action for action, audit records and sequence numbers included."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.session import Session
from engine.session.actions import Action, Escalate, RunTool
from engine.session.history import SUMMARY_PURPOSE
from engine.session.snapshot import SnapshotError
from tests.session_helpers import call, compiled_from_text, created, done

FLOW = """
[flow]
name = "durable"
entry = "front"
recovery = "help"
max_handoff_depth = 4
sensitive = ["pin"]

[agents.front]
instructions = "Front desk."
tools = ["verify"]
produces = ["user_id", "account"]
handoffs = ["billing", "orders"]
max_visits = 3

[agents.billing]
instructions = "Billing."
requires = ["user_id"]
handoffs = ["front"]
terminal = true

[agents.orders]
instructions = "Orders."
handoffs = ["front"]
max_visits = 2
terminal = true

[agents.help]
handoffs = ["front"]
terminal = true

[tools.verify]
parameters = { type = "object", properties = { pin = { type = "string" } }, required = ["pin"] }
sets = ["user_id", "account"]

[[handoff]]
from = "front"
to = "billing"
carry = ["user_id"]
history = "reset"

[[handoff]]
from = "front"
to = "orders"
carry = ["user_id", "account"]
history = "summary"

[supervisor]
backend = "scripted"
script = "rules.toml"
max_escalations = 2
"""

COMPILED = compiled_from_text(FLOW)


def item_added(item_id: str, role: str = "user", text: str = "hi") -> dict[str, Any]:
    item = {"id": item_id, "type": "message", "role": role, "content": [{"type": "input_text", "text": text}]}
    return {"type": "conversation.item.added", "event_id": "ev", "previous_item_id": None, "item": item}


def deleted(item_id: str) -> dict[str, Any]:
    return {"type": "conversation.item.deleted", "event_id": "ev", "item_id": item_id}


def text_done(text: str) -> dict[str, Any]:
    return {
        "type": "response.output_text.done",
        "event_id": "ev",
        "response_id": "resp",
        "item_id": "i",
        "output_index": 0,
        "content_index": 0,
        "text": text,
    }


STEPS = st.one_of(
    st.tuples(st.just("user"), st.sampled_from(["hi", "my pin is 4321", "bill me"])),
    st.tuples(st.just("created"), st.sampled_from(["r1", "r2"])),
    st.tuples(st.just("summary_created"), st.sampled_from(["s1"])),
    st.tuples(st.just("claim"), st.sampled_from(["billing", "orders"])),
    st.tuples(st.just("verified"), st.just("4321")),
    st.tuples(st.just("done"), st.sampled_from(["r1", "r2", "s1"])),
    st.tuples(st.just("transfer"), st.sampled_from(["front", "billing", "orders", "help", "nowhere"])),
    st.tuples(st.just("verify"), st.sampled_from(["4321", ""])),
    st.tuples(st.just("escalate"), st.sampled_from(["what is my bill?"])),
    st.tuples(st.just("item"), st.sampled_from(["i1", "i2", "i3"])),
    st.tuples(st.just("deleted"), st.sampled_from(["i1", "i2", "i3"])),
    st.tuples(st.just("retext"), st.sampled_from(["i1", "i2"])),
    st.tuples(st.just("transcribed"), st.sampled_from(["i1", "i3"])),
    st.tuples(st.just("text"), st.sampled_from(["Sure.", "Your pin 4321 is fine."])),
    st.tuples(st.just("tool_result"), st.sampled_from(["ok", "error"])),
    st.tuples(st.just("answer"), st.sampled_from(["answered", "failed"])),
    st.tuples(st.just("tick"), st.just("")),
)


def apply(session: Session, step: tuple[str, str], n: int) -> list[Action]:
    """One input; ids derive from the step's position so the original and the restored copy get the same."""
    kind, value = step
    if kind == "user":
        return session.user_text(value)
    if kind == "created":
        return session.receive(created(value))
    if kind == "summary_created":  # the out-of-band summary response a `summary` handoff asked for
        event = created(value)
        event["response"]["metadata"] = {"switchboard": SUMMARY_PURPOSE}
        return session.receive(event)
    if kind == "claim":  # a transfer that states a carried key: a claim, not a fact
        return session.receive(
            call(f"transfer_to_{value}", {"reason": "step", "user_id": "u-9"}, call_id=f"c{n}")
        )
    if kind == "done":
        return session.receive(done(value))
    if kind == "transfer":
        return session.receive(call(f"transfer_to_{value}", {"reason": "step"}, call_id=f"c{n}"))
    if kind == "verify":
        return session.receive(call("verify", {"pin": value} if value else {}, call_id=f"c{n}"))
    if kind == "escalate":
        args = {"relevantContextFromLastUserMessage": value}
        return session.receive(call("get_next_response_from_supervisor", args, call_id=f"c{n}"))
    if kind == "item":
        return session.receive(item_added(value))
    if kind == "deleted":
        return session.receive(deleted(value))
    if kind == "retext":  # conversation.item.done brings a known item's final text
        return session.receive({**item_added(value, text=f"final {n}"), "type": "conversation.item.done"})
    if kind == "transcribed":
        return session.receive(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "event_id": "ev",
                "item_id": value,
                "content_index": 0,
                "transcript": f"said {n}",
            }
        )
    if kind == "text":
        return session.receive(text_done(value))
    if kind == "tool_result":
        pending = session.status().pending_tools
        if not pending:
            return []
        if value == "ok":
            return session.tool_result(pending[0], {"user_id": "u-1", "pin": "4321"})
        return session.tool_result(pending[0], error="boom")
    if kind == "answer":
        escalation = session.status().pending_escalation
        if escalation is None:
            return []
        if value == "answered":
            return session.supervisor_result(escalation, "Your bill is $5.")
        return session.supervisor_result(escalation, None, error="down")
    return session.tick()


@settings(max_examples=150)
@given(st.lists(STEPS, max_size=30), st.data())
def test_a_restored_session_does_what_the_original_does(
    steps: list[tuple[str, str]], data: st.DataObject
) -> None:
    now = [0.0]
    original = Session(COMPILED, "conv-1", clock=lambda: now[0], initial_context={})
    original.start()
    cut = data.draw(st.integers(0, len(steps)))
    for n, step in enumerate(steps[:cut]):
        now[0] = float(n)
        apply(original, step, n)
        assert json.loads(original.snapshot_json()) == original.snapshot()  # its caches kept up to date
    record = json.loads(json.dumps(original.snapshot()))  # JSON-able, and nothing shared with the original
    restored = Session.restore(COMPILED, record, clock=lambda: now[0])
    assert restored.status() == original.status() and restored.known_context() == original.known_context()
    for n, step in enumerate(steps[cut:], cut):
        now[0] = float(n)
        expected, got = apply(original, step, n), apply(restored, step, n)
        assert got == expected, (n, step)
        assert restored.status() == original.status()
        assert json.loads(restored.snapshot_json()) == restored.snapshot()
    assert restored.snapshot() == original.snapshot()


def test_a_snapshot_of_another_flow_or_version_is_refused() -> None:
    session = Session(COMPILED, "conv-1", clock=lambda: 0.0)
    record = session.snapshot()
    other = compiled_from_text(FLOW.replace("max_handoff_depth = 4", "max_handoff_depth = 5"))
    with pytest.raises(SnapshotError, match="another flow"):
        Session.restore(other, record, clock=lambda: 0.0)
    with pytest.raises(SnapshotError, match="version"):
        Session.restore(COMPILED, {**record, "version": 99}, clock=lambda: 0.0)
    with pytest.raises(SnapshotError, match="malformed"):
        Session.restore(COMPILED, {**record, "depth": None}, clock=lambda: 0.0)
    with pytest.raises(SnapshotError, match="malformed"):
        Session.restore(COMPILED, {**record, "agent": "ghost"}, clock=lambda: 0.0)


def test_a_restored_session_keeps_pending_work() -> None:
    session = Session(COMPILED, "conv-1", clock=lambda: 0.0)
    session.start()
    session.user_text("my pin is 4321")
    session.receive(created("r1"))
    actions = session.receive(call("verify", {"pin": "4321"}, call_id="c1"))
    assert any(isinstance(a, RunTool) for a in actions)
    restored = Session.restore(COMPILED, json.loads(json.dumps(session.snapshot())), clock=lambda: 0.0)
    assert restored.status().pending_tools == ("c1",)
    assert restored.tool_result("c1", {"user_id": "u-1"}) == session.tool_result("c1", {"user_id": "u-1"})
    assert restored.known_context() == {"user_id": "u-1"}
    escalating = restored.receive(
        call("get_next_response_from_supervisor", {"relevantContextFromLastUserMessage": "x"}, call_id="c2")
    )
    assert any(isinstance(a, Escalate) for a in escalating)


def test_a_transcript_completing_during_a_history_job_changes_the_original_as_the_restored() -> None:
    """Found by the property above: the job held the conversation's own items, so a later transcript changed
    the original's job and not a restored copy's (whose items came from the record)."""
    steps = [("summary_created", "s1"), ("user", "hi"), ("item", "i3"), ("claim", "orders")]
    original = Session(COMPILED, "conv-1", clock=lambda: 0.0, initial_context={})
    original.start()
    for n, step in enumerate(steps):
        apply(original, step, n)
    restored = Session.restore(COMPILED, json.loads(original.snapshot_json()), clock=lambda: 0.0)
    assert original.snapshot()["job"] is not None  # the handoff's history job is under way
    assert apply(restored, ("transcribed", "i3"), 4) == apply(original, ("transcribed", "i3"), 4)
    assert restored.snapshot() == original.snapshot()


def test_an_upstream_item_with_a_lone_surrogate_still_snapshots_and_restores() -> None:
    """Hostile upstream: ``"\\ud800"`` is valid JSON that decodes to a lone surrogate; the stored snapshot
    (cached per item) must still be JSON that encodes, stores and restores."""
    session = Session(COMPILED, "conv-1", clock=lambda: 0.0, initial_context={})
    session.start()
    session.receive(
        json.loads(
            '{"type": "conversation.item.added", "event_id": "e", "item": '
            '{"id": "i1", "type": "message", "role": "user", '
            '"content": [{"type": "input_text", "text": "a\\ud800b"}]}}'
        )
    )
    text = session.snapshot_json()
    text.encode("utf-8")  # storable as is (SQLite, Redis)
    restored = Session.restore(COMPILED, json.loads(text), clock=lambda: 0.0)
    assert restored.snapshot() == session.snapshot()
