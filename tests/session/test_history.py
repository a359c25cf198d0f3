"""History policy at a handoff, in the sans-I/O core: item tracking, deletions, the out-of-band summary,
timeouts on the core's own clock. Every client event the core sends is checked against openai.types."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.compile.pipeline import CompiledFlow
from engine.session import Session
from engine.session.actions import Action, Send, Transcript
from engine.session.history import SUMMARY_PREFIX, SUMMARY_PURPOSE
from tests.realtime_schema import validate_client_event
from tests.session_helpers import audits, call, compiled_from_text, created, done, sent, sent_types

FLOW = """
[flow]
name = "desk"
entry = "front"
recovery = "help"
history = "{history}"

[agents.front]
tools = ["login"]
handoffs = ["billing"]

[agents.billing]
requires = ["user_id"]
handoffs = ["front"]

[agents.help]
terminal = true

[tools.login]
sets = ["user_id"]

[[handoff]]
from = "front"
to = "billing"
carry = ["user_id"]
"""


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def flow(history: str) -> CompiledFlow:
    return compiled_from_text(FLOW.format(history=history))


def session(history: str, clock: Clock | None = None, **kwargs: Any) -> Session:
    s = Session(flow(history), "c1", clock=clock or Clock(), history_timeout_s=2.0, **kwargs)
    s.start()
    return s


def added(item_id: str, kind: str = "message", **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"id": item_id, "type": kind, **fields}
    if kind == "message":
        item.setdefault("role", "user")
        item.setdefault("content", [{"type": "input_text", "text": f"text of {item_id}"}])
    return {"type": "conversation.item.added", "event_id": "ev", "previous_item_id": None, "item": item}


def deleted(item_id: str) -> dict[str, Any]:
    return {"type": "conversation.item.deleted", "event_id": "ev", "item_id": item_id}


def checked(actions: list[Action]) -> list[Action]:
    for event in sent(actions):
        validate_client_event(event)
    return actions


def logged_in_with_items(s: Session, n: int = 3) -> None:
    """``n`` earlier items, then ``user_id`` is known (the login tool ran)."""
    for i in range(n):
        s.receive(added(f"i{i}", role="user" if i % 2 == 0 else "assistant"))
    s.receive(created("r0"))
    s.receive(call("login", {}, call_id="login1"))
    s.tool_result("login1", {"user_id": "user-7"})
    s.receive(done("r0"))


def transfer(s: Session) -> list[Action]:
    """The model calls ``transfer_to_billing`` (its item is reported first, as the server does)."""
    s.receive(created("r1"))
    s.receive(added("t1", "function_call", call_id="ct", name="transfer_to_billing", arguments=""))
    event = call("transfer_to_billing", {"reason": "billing question"}, call_id="ct")
    event["item_id"] = "t1"
    return checked(s.receive(event))


def test_keep_hands_off_at_once_and_deletes_nothing() -> None:
    s = session("keep")
    logged_in_with_items(s)
    actions = transfer(s)
    assert sent_types(actions) == ["session.update", "conversation.item.create"]
    assert s.agent == "billing" and audits(actions)[0].detail == {"history": "keep"}


def test_reset_deletes_every_earlier_item_and_configures_the_next_agent_once_all_are_confirmed() -> None:
    s = session("reset")
    logged_in_with_items(s)
    actions = transfer(s)
    deletes = sent(actions)
    assert [e["item_id"] for e in deletes] == ["i0", "i1", "i2"]  # not the transfer call t1
    assert {e["type"] for e in deletes} == {"conversation.item.delete"}
    assert s.agent == "front" and not s.idle and s.deadline == 102.0
    assert checked(s.receive(deleted("i0"))) == [] and checked(s.receive(deleted("i2"))) == []
    assert checked(s.receive(done("r1"))) == []  # the response is done, the handoff still waits
    actions = checked(s.receive(deleted("i1")))
    assert sent_types(actions) == ["session.update", "conversation.item.create", "response.create"]
    update = sent(actions)[0]["session"]
    assert set(update) == {"type", "instructions", "tools", "tool_choice"}
    assert update["instructions"].startswith("# agent: billing")
    (record,) = audits(actions)
    assert (record.outcome, record.to_agent) == ("done", "billing")
    assert record.detail == {"history": "reset", "removed": 3, "history_s": 0.0}
    assert s.agent == "billing" and s.item_ids() == ["t1"] and s.history() == []


@settings(max_examples=60, deadline=None)
@given(st.permutations(["i0", "i1", "i2", "i3"]), st.lists(st.sampled_from(["x", "t1", "i9"]), max_size=4))
def test_reset_completes_exactly_at_the_last_confirmation(order: list[str], noise: list[str]) -> None:
    """In any order, with unrelated deletions in between, the handoff happens once, at the last one."""
    s = session("reset")
    logged_in_with_items(s, 4)
    transfer(s)
    s.receive(done("r1"))
    updates = []
    for n, item_id in enumerate(order):
        for other in noise:
            assert s.receive(deleted(other)) == [] or other == "t1"
        actions = s.receive(deleted(item_id))
        updates.append("session.update" in sent_types(actions))
        assert s.agent == ("billing" if n == len(order) - 1 else "front")
    assert updates == [False, False, False, True]


def test_a_second_transfer_while_the_history_is_reset_is_refused() -> None:
    s = session("reset")
    logged_in_with_items(s)
    transfer(s)
    actions = checked(s.receive(call("transfer_to_help", {"reason": "again"}, call_id="c2")))
    (record,) = audits(actions)
    assert (record.outcome, record.detail["why"]) == ("refused", "another handoff is still under way")
    for item_id in ("i0", "i1", "i2"):
        s.receive(deleted(item_id))
    assert s.agent == "billing" and s.depth == 1


def test_deletions_not_confirmed_in_time_send_the_conversation_to_recovery() -> None:
    clock = Clock()
    s = session("reset", clock)
    logged_in_with_items(s)
    transfer(s)
    s.receive(deleted("i0"))
    clock.now = 101.9
    assert s.tick() == [] and s.time_left() == pytest.approx(0.1)
    clock.now = 102.0
    actions = checked(s.tick())
    (record,) = audits(actions)
    assert (record.outcome, record.to_agent) == ("recovered", "help")
    assert "2 item deletions not confirmed within 2s" in record.detail["why"]
    assert s.agent == "help" and s.deadline is None
    output = json.loads(
        next(e for e in sent(actions) if e["type"] == "conversation.item.create")["item"]["output"]
    )
    assert output["status"] == "recovered"


def test_a_failed_deletion_fails_loudly_but_a_missing_item_counts_as_deleted() -> None:
    s = session("reset")
    logged_in_with_items(s, 2)
    deletes = sent(transfer(s))
    missing = {
        "type": "error",
        "event_id": "ev",
        "error": {
            "type": "invalid_request_error",
            "code": "item_not_found",
            "message": "gone",
            "event_id": deletes[0]["event_id"],
        },
    }
    assert s.receive(missing) == []
    broken = {
        "type": "error",
        "event_id": "ev",
        "error": {
            "type": "server_error",
            "code": None,
            "message": "boom",
            "event_id": deletes[1]["event_id"],
        },
    }
    (record,) = audits(s.receive(broken))
    assert record.outcome == "recovered" and "upstream error: boom" in record.detail["why"]


def oob_created(response_id: str = "oob") -> dict[str, Any]:
    event = created(response_id)
    event["response"]["metadata"] = {"switchboard": SUMMARY_PURPOSE}
    return event


def oob_done(text: str, response_id: str = "oob", status: str = "completed") -> dict[str, Any]:
    event = done(response_id)
    message = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}
    event["response"].update(status=status, output=[message])
    return event


def test_summary_asks_out_of_band_then_adds_one_item_and_deletes_the_originals() -> None:
    s = session("summary")
    logged_in_with_items(s)
    assert sent(transfer(s)) == []  # the transfer's response is still in flight
    (request,) = sent(checked(s.receive(done("r1"))))
    params = request["response"]
    assert params["conversation"] == "none" and params["metadata"]["switchboard"] == SUMMARY_PURPOSE
    assert [m["role"] for m in params["input"]] == ["user", "assistant", "user"]
    assert '{"user_id": "user-7"}' in params["instructions"]
    assert s.receive(oob_created()) == [] and s.status().response_in_flight is False
    text_done = {
        "type": "response.output_text.done",
        "event_id": "ev",
        "response_id": "oob",
        "text": "a note",
    }
    assert s.receive(text_done) == []  # not a line of the transcript, not history
    actions = checked(s.receive(oob_done("The caller has a billing question.")))
    create, *deletes = sent(actions)
    assert create["previous_item_id"] == "root" and create["item"]["role"] == "system"
    assert create["item"]["content"][0]["text"] == SUMMARY_PREFIX + "The caller has a billing question."
    assert [e["item_id"] for e in deletes] == ["i0", "i1", "i2"]
    actions = []
    for item_id in ("i0", "i1", "i2"):
        actions += s.receive(deleted(item_id))
    assert sent_types(actions) == ["session.update", "conversation.item.create", "response.create"]
    assert audits(actions)[0].detail["history"] == "summary"
    assert all(a.kind != "assistant" for a in actions if isinstance(a, Transcript))


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (oob_done("The caller user-7 wants billing.", status="completed"), None),
        (oob_done("", status="failed"), "ended failed with no text"),
    ],
)
def test_a_bad_summary_falls_back_to_reset(answer: dict[str, Any], why: str | None) -> None:
    text = FLOW.format(history="summary").replace('carry = ["user_id"]', "carry = []")
    text = text.replace('requires = ["user_id"]\n', "")
    s = Session(compiled_from_text(text), "c1", clock=Clock())
    logged_in_with_items(s)
    transfer(s)
    s.receive(done("r1"))
    s.receive(oob_created())
    actions = checked(s.receive(answer))
    assert sent_types(actions) == ["conversation.item.delete"] * 3
    notice = next(a for a in actions if isinstance(a, Transcript))
    assert "reset instead" in notice.text
    for item_id in ("i0", "i1", "i2"):
        actions = s.receive(deleted(item_id))
    detail = audits(actions)[0].detail
    assert detail["history"] == "reset" and detail["requested_history"] == "summary"
    assert (why or "repeated the value of 'user_id'") in detail["fallback"]


def test_no_summary_in_time_falls_back_to_reset_on_the_core_clock() -> None:
    clock = Clock()
    s = session("summary", clock)
    logged_in_with_items(s)
    transfer(s)
    s.receive(done("r1"))
    s.receive(oob_created())
    clock.now = 102.5
    actions = checked(s.tick())
    assert sent_types(actions) == ["conversation.item.delete"] * 3 and s.deadline == 104.5
    for item_id in ("i0", "i1", "i2"):
        actions = s.receive(deleted(item_id))
    assert audits(actions)[0].detail["fallback"] == "no summary within 2s"
    assert sent_types(actions)[-1] == "response.create" and s.status().response_in_flight
    late = oob_done("too late")  # the summary's answer after all: ignored, not taken for the response
    assert s.is_internal(late) and s.receive(late) == []
    assert s.status().response_in_flight and s.agent == "billing"


def test_without_earlier_items_there_is_nothing_to_wait_for() -> None:
    s = session("reset")
    s.receive(created("r0"))
    s.receive(call("login", {}, call_id="login1"))
    s.tool_result("login1", {"user_id": "user-7"})
    s.receive(done("r0"))
    assert "session.update" in sent_types(transfer(s))
    assert s.agent == "billing"


def test_every_sent_event_is_a_send() -> None:
    """The core's history work goes out as plain client events (the runtime sends them in order)."""
    s = session("reset")
    logged_in_with_items(s, 1)
    assert all(isinstance(a, Send | Transcript) for a in transfer(s))


def test_a_summary_in_flight_is_not_confused_by_an_event_with_an_odd_response_id() -> None:
    """With the summary's response in flight, a relay asks of every server event whether it is the core's
    own: a hostile upstream's ``response_id`` or ``response.id`` that is a list must not raise there."""
    s = session("summary", Clock())
    logged_in_with_items(s)
    transfer(s)
    s.receive(done("r1"))
    s.receive(oob_created())
    assert s._summaries  # the summary's response is in flight
    assert not s.is_internal({"type": "response.output_text.delta", "response_id": ["x"], "delta": "x"})
    assert not s.is_internal({"type": "response.done", "response": {"id": ["x"]}})
