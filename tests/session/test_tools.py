"""Tool calls in the sans-I/O core: one audit record per call, generic errors to the model, timeouts handed to
the I/O layer, and the per-agent budgets (calls per user turn, refused calls in a row) that end a loop."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.compile.pipeline import CompiledFlow
from engine.session import RunTool, Session
from engine.session.audit import PAYLOAD_LIMIT, AuditRecord, audit_payload
from engine.session.tally import tally
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
name = "tools"
entry = "front"
recovery = "help"
max_tool_calls_per_turn = 3
max_refused_calls = 2
tool_timeout_s = 5

[agents.front]
tools = ["lookup", "slow"]
handoffs = ["back"]

[agents.back]
tools = ["lookup"]
handoffs = ["front"]
max_tool_calls_per_turn = 5
max_refused_calls = 1

[agents.help]
tools = ["lookup"]
terminal = true

[tools.lookup]
parameters = { type = "object", properties = { q = { type = "string" } }, required = ["q"] }

[tools.slow]
timeout_s = 0.5
"""

SPEECH = {"type": "input_audio_buffer.speech_started", "event_id": "e", "audio_start_ms": 0, "item_id": "i"}


@pytest.fixture(scope="module")
def flow() -> CompiledFlow:
    return compiled_from_text(FLOW)


def run_lookup(session: Session, call_id: str, result: Any = None) -> list[Any]:
    """One ``lookup`` call, run and answered: the actions of the answer."""
    (run,) = session.receive(call("lookup", {"q": "x"}, call_id=call_id))
    assert isinstance(run, RunTool)
    return session.tool_result(call_id, {"found": call_id} if result is None else result)


def budgets(flow: CompiledFlow, agent: str) -> tuple[int, int]:
    """The agent's calls per turn and refused calls in a row, as the flow sets them."""
    own, settings = flow.flow.agents[agent], flow.flow.flow
    return (
        own.max_tool_calls_per_turn or settings.max_tool_calls_per_turn,
        own.max_refused_calls or settings.max_refused_calls,
    )


def tool_records(actions: list[Any]) -> list[AuditRecord]:
    return [r for r in audits(actions) if r.kind == "tool"]


# -- audit and errors ---------------------------------------------------------------------------------------


def test_a_successful_call_is_audited_with_its_arguments_result_and_latency(flow: CompiledFlow) -> None:
    session = new_session(flow)
    session.receive(call("lookup", {"q": "order 7"}, call_id="c1"))
    actions = session.tool_result("c1", {"status": "shipped"})
    (record,) = tool_records(actions)
    assert (record.outcome, record.from_agent, record.reason) == ("ok", "front", "")
    assert record.detail["tool"] == "lookup" and record.detail["call_id"] == "c1"
    assert record.detail["arguments"] == {"q": "order 7"}
    assert record.detail["result"] == {"status": "shipped"}
    assert record.detail["latency_s"] > 0  # the test clock ticks once per reading
    assert function_output(actions) == {"status": "shipped"}


def test_payloads_past_the_limit_are_kept_truncated() -> None:
    small = {"a": [1, 2, 3]}
    assert audit_payload(small) == small
    big = {"text": "x" * (PAYLOAD_LIMIT * 3)}
    kept = audit_payload(big)
    assert isinstance(kept, str) and len(kept) == PAYLOAD_LIMIT and kept.endswith("…")
    assert kept.startswith('{"text": "xxx')


def test_a_huge_result_reaches_the_model_whole_and_the_audit_truncated(flow: CompiledFlow) -> None:
    session = new_session(flow)
    result = {"rows": ["row"] * 5000}
    actions = run_lookup(session, "c1", result)
    assert function_output(actions) == result
    (record,) = tool_records(actions)
    assert len(record.to_json()) < 3 * PAYLOAD_LIMIT


@pytest.mark.parametrize(
    ("outcome", "told"),
    [
        ("failed", "the tool failed"),
        ("timed_out", "the tool timed out"),
        ("refused", "the tool is not available right now"),
    ],
)
def test_a_call_without_result_tells_the_model_a_generic_text(
    flow: CompiledFlow, outcome: Any, told: str
) -> None:
    session = new_session(flow)
    session.receive(created())
    session.receive(call("lookup", {"q": "x"}, call_id="c1"))
    session.receive(done())
    error = "PricingServiceDown: pricing service timed out after 3s"
    actions = session.tool_result("c1", error=error, outcome=outcome)
    assert function_output(actions) == {"error": told}
    assert "Pricing" not in json.dumps(sent(actions))  # the exception never goes on the wire
    (record,) = tool_records(actions)
    assert (record.outcome, record.reason) == (outcome, error)
    assert record.detail["arguments"] == {"q": "x"} and "result" not in record.detail
    assert sent_types(actions)[-1] == "response.create"


def test_a_refused_call_is_audited_with_its_raw_arguments(flow: CompiledFlow) -> None:
    session = new_session(flow)
    actions = respond_with(session, call("lookup", "{not json"))
    (record,) = tool_records(actions)
    assert record.outcome == "refused" and record.detail["arguments"] == "{not json"
    assert "not valid JSON" in function_output(actions)["error"]  # a refusal tells the model why


def test_each_call_carries_its_tools_timeout_or_the_flows(flow: CompiledFlow) -> None:
    session = new_session(flow)
    (slow,) = session.receive(call("slow", call_id="s"))
    (lookup,) = session.receive(call("lookup", {"q": "x"}, call_id="l"))
    assert isinstance(slow, RunTool) and isinstance(lookup, RunTool)
    assert (slow.timeout_s, lookup.timeout_s) == (0.5, 5.0)


def test_finish_audits_the_tools_still_running(flow: CompiledFlow) -> None:
    session = new_session(flow)
    session.receive(call("lookup", {"q": "x"}, call_id="c1"))
    records = audits(session.finish())
    assert [(r.kind, r.outcome) for r in records] == [("tool", "failed"), ("end", "ended")]
    assert "ended before the tool answered" in records[0].reason
    assert session.status().pending_tools == ()


# -- budgets ------------------------------------------------------------------------------------------------


def test_past_the_per_turn_budget_a_call_is_not_run_and_the_agent_recovers(flow: CompiledFlow) -> None:
    session = new_session(flow)
    session.user_text("look things up")
    for i in range(3):
        run_lookup(session, f"c{i}")
    assert session.status().tool_calls_left == 0
    actions = session.receive(call("lookup", {"q": "x"}, call_id="c3"))
    assert not any(isinstance(a, RunTool) for a in actions)
    records = audits(actions)
    assert [(r.kind, r.outcome, r.from_agent, r.to_agent) for r in records] == [
        ("tool", "refused", "front", None),
        ("handoff", "recovered", "front", "help"),
    ]
    assert "budget (3 calls per user turn)" in records[0].reason
    assert records[1].reason == "max_tool_calls_per_turn"
    assert session.agent == "help"
    output = function_output(actions)
    assert output["status"] == "recovered" and "talking to 'help'" in output["message"]
    assert sent_types(actions)[0] == "session.update"


@pytest.mark.parametrize("new_turn", ["text", "speech"])
def test_a_user_turn_renews_the_budget(flow: CompiledFlow, new_turn: str) -> None:
    session = new_session(flow)
    for i in range(3):
        run_lookup(session, f"a{i}")
    if new_turn == "text":
        session.user_text("and one more")
    else:
        session.receive(SPEECH)
    assert session.status().tool_calls_left == 3
    run_lookup(session, "b0")
    assert session.agent == "front"


def test_an_agent_overrides_the_flows_budgets(flow: CompiledFlow) -> None:
    session = new_session(flow)
    respond_with(session, call("transfer_to_back", {"reason": "go"}))
    assert session.agent == "back" and session.status().tool_calls_left == 5
    for i in range(5):
        run_lookup(session, f"c{i}")
    assert session.agent == "back"
    respond_with(session, call("lookup", {"q": "x"}))
    assert session.agent == "help"


def test_refused_calls_in_a_row_send_the_conversation_to_recovery(flow: CompiledFlow) -> None:
    session = new_session(flow)
    session.user_text("hi")
    for _ in range(2):  # max_refused_calls = 2 are tolerated
        respond_with(session, call("lookup", {"q": 7}))
    assert session.agent == "front" and session.status().refused_in_a_row == 2
    actions = respond_with(session, call("lookup", {"q": 7}))
    records = audits(actions)
    assert [(r.kind, r.outcome) for r in records] == [("tool", "refused"), ("handoff", "recovered")]
    assert records[1].reason == "max_refused_calls"
    assert "3 refused calls in a row (the budget is 2)" in records[1].detail["why"]
    assert session.agent == "help" and session.status().refused_in_a_row == 0


def test_an_accepted_call_ends_a_run_of_refusals() -> None:
    session = new_session(compiled_from_text(FLOW.replace("max_tool_calls_per_turn = 3", "")))
    session.user_text("hi")
    respond_with(session, call("ghost"))
    respond_with(session, call("ghost"))
    run_lookup(session, "ok")
    assert session.status().refused_in_a_row == 0
    respond_with(session, call("ghost"))
    assert session.agent == "front"


def test_refused_transfers_count_as_refused_calls(flow: CompiledFlow) -> None:
    session = new_session(flow)
    session.user_text("hi")
    respond_with(session, call("transfer_to_back", "{"))
    respond_with(session, call("transfer_to_nowhere", {"reason": "x"}))
    actions = respond_with(session, call("transfer_to_back", {"reason": 5}))
    assert [(r.kind, r.outcome) for r in audits(actions)] == [
        ("handoff", "refused"),
        ("handoff", "recovered"),
    ]
    assert session.agent == "help"


def test_the_recovery_agent_past_its_budget_asks_for_no_new_response(flow: CompiledFlow) -> None:
    """Nowhere left to go: the call is answered and no response is requested, so a loop stops."""
    session = new_session(flow)
    session.user_text("hi")
    for _ in range(3):
        respond_with(session, call("lookup", {"q": 7}))
    assert session.agent == "help"
    session.user_text("still there?")
    session.receive(created())
    for i in range(3):
        run_lookup(session, f"h{i}")
    assert sent_types(session.receive(done())) == ["response.create"]  # owed for those results
    actions = respond_with(session, call("lookup", {"q": "x"}, call_id="h3"))
    assert "budget" in function_output(actions)["error"]
    assert [(r.kind, r.outcome) for r in audits(actions)] == [("tool", "refused")]
    assert sent_types(actions) == ["conversation.item.create"]  # and no response.create
    assert session.idle and session.agent == "help"


# -- properties ---------------------------------------------------------------------------------------------

CALLS = ["lookup", "lookup", "slow", "ghost", "transfer_to_back", "transfer_to_front", "transfer_to_help"]
KINDS = ["user", "speech", "result", "result", "created", "done", *["call"] * 6]
Step = tuple[str, int, int]


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(KINDS),
            st.integers(0, len(CALLS) - 1),
            st.integers(0, 3),
        ),
        max_size=80,
    )
)
def test_random_event_orders_never_run_more_calls_per_turn_than_the_budget(
    flow: CompiledFlow, steps: list[Step]
) -> None:
    """Whatever the order of calls, results, responses and user turns: no agent runs more tools in a user
    turn than its budget, refusals in a row stay within theirs, each call is answered once, and every tool
    that ran has exactly one audit record (with its call id) once the conversation is finished."""
    session = new_session(flow)
    session.start()
    ids = itertools.count()
    ran: Counter[str] = Counter()
    run_ids: list[str] = []
    answered: Counter[str] = Counter()
    records: list[AuditRecord] = []
    outcomes = itertools.cycle(["ok", "failed", "timed_out", "refused"])

    def play(actions: list[Any]) -> None:
        records.extend(audits(actions))
        for event in sent(actions):
            if event.get("item", {}).get("type") == "function_call_output":
                answered[event["item"]["call_id"]] += 1
        for action in actions:
            if isinstance(action, RunTool):
                ran[action.agent] += 1
                run_ids.append(action.call_id)
                assert ran[action.agent] <= budgets(flow, action.agent)[0]

    for kind, index, form in steps:
        if kind in ("user", "speech"):
            ran.clear()
            play(session.user_text("hi") if kind == "user" else session.receive(SPEECH))
        elif kind == "call":
            name = CALLS[index]
            arguments: dict[str, Any] | str = {"q": "x", "reason": "r"} if form else "{"  # 0: malformed
            play(session.receive(call(name, arguments, call_id=f"c{next(ids)}")))
        elif kind == "result":
            pending = session.status().pending_tools
            if pending:
                call_id = pending[index % len(pending)]
                outcome = next(outcomes)
                if outcome == "ok":
                    play(session.tool_result(call_id, {"n": index}))
                else:
                    play(session.tool_result(call_id, error="boom", outcome=outcome))  # type: ignore[arg-type]
        else:
            play(session.receive(created() if kind == "created" else done()))
        status = session.status()
        assert status.refused_in_a_row <= budgets(flow, status.agent)[1]
        assert 0 <= status.tool_calls_left <= budgets(flow, status.agent)[0]
    play(session.finish())
    assert all(n == 1 for n in answered.values())
    tool_ids = Counter(r.detail["call_id"] for r in records if r.kind == "tool")
    assert all(tool_ids[call_id] == 1 for call_id in run_ids)


# -- the tally ----------------------------------------------------------------------------------------------


def test_the_tally_counts_tool_outcomes_per_tool_and_conversation(flow: CompiledFlow) -> None:
    session = new_session(flow)
    actions = run_lookup(session, "a")
    session.receive(call("lookup", {"q": "x"}, call_id="b"))
    actions += session.tool_result("b", error="boom")
    actions += respond_with(session, call("ghost"))
    counted = tally(audits(actions + session.finish()))
    assert counted.tools == {"lookup": Counter({"ok": 1, "failed": 1}), "ghost": Counter({"refused": 1})}
    (conversation,) = counted.conversations.values()
    assert conversation.tool_calls == Counter({"ok": 1, "failed": 1, "refused": 1})
    assert conversation.tool_failures == 2 and conversation.refusals == 0  # handoff refusals only
