"""Resuming a conversation on a fresh upstream (:meth:`Session.resume`): the agent, its context and the
messages come back; in-flight work does not; another flow follows the documented rule."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from engine.session import Session
from engine.session.audit import flow_hash
from tests.session.test_snapshot import COMPILED, FLOW, STEPS, apply, deleted, item_added
from tests.session_helpers import audits, call, compiled_from_text, created, done, sent


def clock() -> float:
    return 1000.0


def at_billing() -> Session:
    """A conversation moved to billing after a verified pin, with two messages the server holds."""
    session = Session(COMPILED, "conv_r", clock=clock)
    session.start()
    session.user_text("my pin is 4321")
    session.receive(item_added("msg_1", "user", "my pin is 4321"))
    session.receive(created("r1"))
    for action in session.receive(call("verify", {"pin": "4321"}, call_id="c1")):
        if type(action).__name__ == "RunTool":
            session.tool_result("c1", {"user_id": "u-1", "account": "a-1"})
    session.receive(call("transfer_to_billing", {"reason": "bill"}, call_id="c2"))
    session.receive(deleted("msg_1"))  # the handoff's history = "reset" done: billing takes over
    session.receive(done("r1"))
    session.receive(item_added("msg_2", "assistant", "Billing here."))
    return session


def test_a_resumed_conversation_reconfigures_its_agent_and_recreates_its_messages() -> None:
    original = at_billing()
    assert original.agent == "billing"
    resumed, actions = Session.resume(COMPILED, original.snapshot(), clock=clock)
    assert resumed.agent == "billing" and resumed.depth == original.depth
    update, *creates = sent(actions)
    assert update["type"] == "session.update"
    assert "Billing." in update["session"]["instructions"]
    assert "u-1" in update["session"]["instructions"]  # the carried, trusted context
    assert [(e["item"]["id"], e["item"]["role"]) for e in creates] == [
        (i.id, i.role) for i in original._items.values() if i.type == "message"
    ]
    (record,) = audits(actions)
    assert (record.kind, record.outcome, record.to_agent) == ("resume", "resumed", "billing")
    assert record.seq == original.snapshot()["seq"] + 1  # the sequence goes on, no number reused
    assert resumed.idle  # nothing in flight: the next user turn may come


@given(st.lists(STEPS, max_size=25))
def test_whatever_was_in_flight_a_resumed_session_is_idle_at_the_same_agent(
    steps: list[tuple[str, str]],
) -> None:
    ticks = itertools.count()
    session = Session(COMPILED, "conv_h", clock=lambda: float(next(ticks)))
    session.start()
    for n, step in enumerate(steps):
        apply(session, step, n)
    record = session.snapshot()
    resumed, actions = Session.resume(COMPILED, record, clock=clock)
    assert resumed.agent == record["agent"] and resumed.idle and resumed.deadline is None
    assert resumed.visible_context() == session.visible_context()
    assert sent(actions)[0]["type"] == "session.update"
    assert audits(actions)[0].seq == record["seq"] + 1


def edited(change: str) -> Any:
    return compiled_from_text(FLOW.replace('instructions = "Billing."', change))


def test_another_flow_keeps_the_agent_while_it_and_its_requires_still_hold() -> None:
    snapshot = at_billing().snapshot()
    newer = edited('instructions = "Billing, reworded."')
    assert flow_hash(newer.flow) != snapshot["flow_hash"]
    resumed, actions = Session.resume(newer, snapshot, clock=clock)
    (record,) = audits(actions)
    assert resumed.agent == "billing" and record.outcome == "resumed"
    assert record.detail["flow_hash_was"] == snapshot["flow_hash"] and "still hold" in record.reason


def test_another_flow_without_the_agent_s_contract_goes_to_the_recovery_agent() -> None:
    snapshot = at_billing().snapshot()
    text = FLOW.replace('requires = ["user_id"]', 'requires = ["user_id", "vip"]', 1)
    text = text.replace('sets = ["user_id", "account"]', 'sets = ["user_id", "account", "vip"]')
    text = text.replace('produces = ["user_id", "account"]', 'produces = ["user_id", "account", "vip"]')
    text = text.replace(
        'carry = ["user_id"]\nhistory = "reset"', 'carry = ["user_id", "vip"]\nhistory = "reset"'
    )
    resumed, actions = Session.resume(compiled_from_text(text), snapshot, clock=clock)
    (record,) = audits(actions)
    assert resumed.agent == "help" and record.outcome == "recovered"
    assert record.from_agent == "billing" and "recovery agent" in record.reason


def test_records_written_after_the_last_snapshot_are_never_renumbered() -> None:
    """The process died after writing records its snapshot does not count: the audit sink's highest
    sequence wins, so no ``(conversation_id, seq)`` is written twice."""
    snapshot = at_billing().snapshot()
    _, actions = Session.resume(COMPILED, snapshot, clock=clock, seen_seq=snapshot["seq"] + 3)
    assert audits(actions)[0].seq == snapshot["seq"] + 4


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@given(key=st.sampled_from(sorted(at_billing().snapshot())), value=JSON)
def test_a_tampered_snapshot_resumes_or_is_refused_never_crashes(key: str, value: Any) -> None:
    """A store is outside the process: whatever one field of a snapshot holds, ``resume`` gives a session or
    a :class:`SnapshotError`, nothing else."""
    from engine.session.snapshot import SnapshotError

    record = {**at_billing().snapshot(), key: value}
    try:
        session, actions = Session.resume(COMPILED, record, clock=clock)
    except SnapshotError:
        return
    assert session.agent in COMPILED.flow.agents
    assert sent(actions)[0]["type"] == "session.update"
