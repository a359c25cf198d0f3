"""The chat-supervisor pattern in the sans-I/O core: escalate, resolve, time out, barge in, budget, drift."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.compile.pipeline import CompiledFlow
from engine.flow.model import ESCALATION_TOOL
from engine.session import Session
from engine.session.actions import CancelEscalation, Escalate
from tests.realtime_schema import validate_client_event
from tests.session_helpers import (
    audits,
    call,
    compiled_from_text,
    created,
    done,
    function_output,
    new_session,
    respond_with,
    sent,
    sent_types,
)

FLOW = """
[flow]
name = "desk"
entry = "front"
recovery = "help"
initial_context = ["account"]

[agents.front]
tools = ["lookup"]
handoffs = ["help"]
terminal = true

[agents.help]
terminal = true

[tools.lookup]
parameters = { type = "object", properties = {} }
sets = ["account"]

[supervisor]
script = "unused.toml"
front = ["front"]
max_escalations = {budget}
on_budget_exhausted = "{exhausted}"
timeout_s = 2
"""


def desk(budget: int = 3, exhausted: str = "answer_alone") -> CompiledFlow:
    return compiled_from_text(FLOW.replace("{budget}", str(budget)).replace("{exhausted}", exhausted))


@pytest.fixture(scope="module")
def flow() -> CompiledFlow:
    return desk()


def escalate(session: Session, context: str = "what is my bill?") -> Escalate:
    session.user_text(context)
    actions = session.receive(created()) + session.receive(
        call(ESCALATION_TOOL, {"relevantContextFromLastUserMessage": context}, call_id="esc-call")
    )
    (request,) = [a for a in actions if isinstance(a, Escalate)]
    assert session.status().escalation == "escalated"
    assert sent_types(session.receive(done())) == []  # the filler was said; nothing owed until the answer
    return request


def test_front_agent_is_offered_the_escalation_tool(flow: CompiledFlow) -> None:
    (update,) = sent(new_session(flow).start())
    validate_client_event(update)
    names = [t["name"] for t in update["session"]["tools"]]
    assert ESCALATION_TOOL in names


def test_escalate_snapshots_transcript_and_context(flow: CompiledFlow) -> None:
    session = new_session(flow, initial_context={"account": "A-1"})
    action = escalate(session)
    request = action.request
    assert request.relevant_context == "what is my bill?"
    assert request.transcript == (("user", "what is my bill?"),)
    assert request.context == {"account": "A-1"} and request.version == session.status().version
    assert action.timeout_s == 2 and not session.idle


def test_resolve_answers_through_function_output_and_a_response(flow: CompiledFlow) -> None:
    session = new_session(flow)
    request = escalate(session).request
    actions = session.supervisor_result(request.escalation_id, "Your bill is $42.", tool_rounds=1)
    assert function_output(actions) == {"status": "answered", "nextResponse": "Your bill is $42."}
    assert sent_types(actions)[-1] == "response.create"
    (record,) = audits(actions)
    assert (record.kind, record.outcome) == ("escalation", "answered")
    assert record.detail["tool_rounds"] == 1 and record.detail["latency_s"] > 0
    assert session.status().escalation == "chatting"


def test_the_supervisors_tool_exceptions_reach_the_audit_record_only(flow: CompiledFlow) -> None:
    session = new_session(flow)
    request = escalate(session).request
    errors = ("lookup: PricingServiceDown: timed out after 3s",)
    actions = session.supervisor_result(request.escalation_id, "Sorry.", tool_rounds=1, tool_errors=errors)
    (record,) = audits(actions)
    assert record.detail["tool_errors"] == list(errors)
    assert "PricingServiceDown" not in json.dumps(sent(actions))


def test_timeout_speaks_the_fallback_answer(flow: CompiledFlow) -> None:
    session = new_session(flow)
    request = escalate(session).request
    actions = session.supervisor_result(request.escalation_id, timed_out=True)
    output = function_output(actions)
    assert output["status"] == "timed_out" and output["nextResponse"] == flow.flow.supervisor.fallback_answer  # type: ignore[union-attr]
    assert audits(actions)[0].outcome == "timed_out"


def test_backend_failure_speaks_the_fallback_answer(flow: CompiledFlow) -> None:
    session = new_session(flow)
    request = escalate(session).request
    actions = session.supervisor_result(request.escalation_id, error="tool lookup failed")
    assert function_output(actions)["status"] == "failed"
    assert audits(actions)[0].detail["why"] == "tool lookup failed"


def test_barge_in_cancels_and_a_late_answer_is_never_spoken(flow: CompiledFlow) -> None:
    session = new_session(flow)
    request = escalate(session).request
    actions = session.user_text("actually, never mind")
    assert CancelEscalation(request.escalation_id) in actions
    assert function_output(actions)["status"] == "cancelled"
    assert [r.outcome for r in audits(actions)] == ["stale"]
    assert sent_types(actions).count("response.create") == 1  # for the new user turn only
    late = session.supervisor_result(request.escalation_id, "Your bill is $42.")
    assert sent(late) == [] and audits(late) == []


def test_speech_started_is_a_barge_in(flow: CompiledFlow) -> None:
    session = new_session(flow)
    escalate(session)
    actions = session.receive(
        {"type": "input_audio_buffer.speech_started", "event_id": "e", "audio_start_ms": 0, "item_id": "i"}
    )
    assert any(isinstance(a, CancelEscalation) for a in actions)
    assert "response.create" not in sent_types(actions)  # server VAD answers the new speech


def test_state_drift_marks_the_answer_stale(flow: CompiledFlow) -> None:
    session = new_session(flow)
    request = escalate(session).request
    session.receive(call("lookup", {}, call_id="t1"))
    session.tool_result("t1", {"account": "A-2"})  # the context changed while the supervisor worked
    actions = session.supervisor_result(request.escalation_id, "Answer on old state")
    assert function_output(actions)["status"] == "stale"
    assert "Answer on old state" not in str(sent(actions))
    assert audits(actions)[0].outcome == "stale"


def test_second_escalation_while_pending_is_refused(flow: CompiledFlow) -> None:
    session = new_session(flow)
    escalate(session)
    actions = session.receive(call(ESCALATION_TOOL, {"relevantContextFromLastUserMessage": "again"}))
    assert "already pending" in function_output(actions)["error"]


def test_exhausted_budget_answers_alone_and_is_counted() -> None:
    session = new_session(desk(budget=1))
    request = escalate(session).request
    session.supervisor_result(request.escalation_id, "ok")
    actions = respond_with(session, call(ESCALATION_TOOL, {"relevantContextFromLastUserMessage": "more"}))
    assert function_output(actions)["status"] == "over_budget"
    assert [r.outcome for r in audits(actions)] == ["over_budget"]
    assert session.agent == "front"


def test_exhausted_budget_can_hand_off_to_recovery() -> None:
    session = new_session(desk(budget=1, exhausted="recover"))
    request = escalate(session).request
    session.supervisor_result(request.escalation_id, "ok")
    actions = respond_with(session, call(ESCALATION_TOOL, {"relevantContextFromLastUserMessage": "more"}))
    assert session.agent == "help"
    assert [(r.kind, r.outcome) for r in audits(actions)] == [
        ("escalation", "over_budget"),
        ("handoff", "recovered"),
    ]


def test_non_front_agent_cannot_escalate(flow: CompiledFlow) -> None:
    session = new_session(flow)
    respond_with(session, call("transfer_to_help", {"reason": "x"}))
    actions = respond_with(session, call(ESCALATION_TOOL, {"relevantContextFromLastUserMessage": "x"}))
    assert "unknown tool" in function_output(actions)["error"]


# -- property: random interleavings ---------------------------------------------------------------------

STEP = st.sampled_from(["user", "escalate", "answer", "late", "timeout", "created", "done", "speech"])


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(STEP, max_size=40))
def test_random_interleavings_keep_the_invariants(flow: CompiledFlow, steps: list[str]) -> None:
    """Never two responses in flight, never a stale answer spoken, back in `chatting` whenever idle."""
    session = new_session(flow)
    session.start()
    in_flight = False  # what the server would see
    answered: set[str] = set()
    cancelled: set[str] = set()
    for step in steps:
        pending = session.status().pending_escalation
        if step == "user":
            actions = session.user_text("hi")
        elif step == "escalate":
            actions = session.receive(call(ESCALATION_TOOL, {"relevantContextFromLastUserMessage": "q"}))
        elif step in ("answer", "timeout") and pending is not None:
            eid = pending
            actions = session.supervisor_result(eid, f"answer {eid}", timed_out=step == "timeout")
            answered.add(eid)
        elif step == "late" and cancelled:
            eid = sorted(cancelled)[0]
            actions = session.supervisor_result(eid, f"answer {eid}")
            assert sent(actions) == []
        elif step == "created":
            actions = session.receive(created()) if in_flight else []
        elif step == "done":
            actions = session.receive(done()) if in_flight else []
            in_flight = False if in_flight else in_flight
        elif step == "speech":
            actions = session.receive(
                {
                    "type": "input_audio_buffer.speech_started",
                    "event_id": "e",
                    "audio_start_ms": 0,
                    "item_id": "i",
                }
            )
        else:
            continue
        cancelled |= {a.escalation_id for a in actions if isinstance(a, CancelEscalation)}
        for event in sent(actions):
            if event["type"] == "response.create":
                assert not in_flight, "two responses in flight"
                in_flight = True
            if event.get("item", {}).get("type") == "function_call_output":
                for eid in cancelled - answered:
                    assert f"answer {eid}" not in event["item"]["output"], "a stale answer was spoken"
        if session.idle:
            assert session.status().escalation == "chatting"
