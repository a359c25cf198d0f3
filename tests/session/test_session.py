"""The sans-I/O session core: handoffs, contracts, guardrails, tools, responses, audit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.compile.pipeline import CompiledFlow
from engine.session import ProtocolProblem, RunTool, Session, Transcript
from engine.session.config import AGENT_MARKER, CLAIMS_HEADING
from engine.session.context import ContextError, initial_context, parse_assignments
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
name = "shop"
entry = "auth"
recovery = "help"
max_handoff_depth = 3

[agents.auth]
tools = ["login"]
handoffs = ["returns", "sales"]

[agents.returns]
requires = ["user_id"]
handoffs = ["sales", "auth"]
max_visits = 2

[agents.sales]
handoffs = ["auth"]

[agents.help]
handoffs = ["auth"]
terminal = true

[tools.login]
description = "Log the caller in."
parameters = { type = "object", properties = { phone = { type = "string" } }, required = ["phone"] }
sets = ["user_id"]

[[handoff]]
from = "auth"
to = "returns"
when = "the caller wants to return an item"
carry = ["user_id"]

[[handoff]]
from = "returns"
to = "sales"
carry = []
"""


@pytest.fixture(scope="module")
def shop() -> CompiledFlow:
    return compiled_from_text(FLOW)


def logged_in(shop: CompiledFlow) -> Session:
    session = new_session(shop)
    session.start()
    actions = session.receive(call("login", {"phone": "555"}, call_id="login1"))
    assert [type(a) for a in actions] == [RunTool]
    session.tool_result("login1", {"user_id": "u-1"})
    return session


def test_start_configures_the_entry_agent_with_its_tools_and_transfers(shop: CompiledFlow) -> None:
    (update,) = sent(new_session(shop).start())
    validate_client_event(update)
    session = update["session"]
    assert session["instructions"].startswith(AGENT_MARKER + "auth")
    names = [t["name"] for t in session["tools"]]
    assert names == ["login", "transfer_to_returns", "transfer_to_sales", "transfer_to_help"]
    returns = session["tools"][1]
    assert "the caller wants to return an item" in returns["description"]
    assert returns["parameters"]["required"] == ["reason"]
    assert "user_id" in returns["parameters"]["properties"]  # a carried key the model may supply


def test_handoff_sends_update_then_output_then_one_response_after_done(shop: CompiledFlow) -> None:
    session = logged_in(shop)
    actions = session.receive(created())
    actions += session.receive(call("transfer_to_returns", {"reason": "wants a refund"}))
    assert sent_types(actions) == ["session.update", "conversation.item.create"]  # no response.create yet
    assert session.agent == "returns" and session.depth == 1
    update = sent(actions)[0]
    assert update["session"]["instructions"].startswith(AGENT_MARKER + "returns")
    assert '"user_id": "u-1"' in update["session"]["instructions"]
    assert set(update["session"]) == {"type", "instructions", "tools", "tool_choice"}  # the invariant
    assert session.start()[0].event["session"]["audio"] == {"output": {"voice": "alloy"}}  # type: ignore[union-attr]
    assert sent_types(session.receive(done())) == ["response.create"]
    (record,) = audits(actions)
    assert (record.kind, record.outcome, record.from_agent, record.to_agent, record.carried) == (
        "handoff",
        "done",
        "auth",
        "returns",
        ("user_id",),
    )
    assert record.reason == "wants a refund" and record.seq == 2  # after the login's tool record
    for event in sent(actions):
        validate_client_event(event)


def test_contract_keeps_uncarried_keys_behind(shop: CompiledFlow) -> None:
    session = logged_in(shop)
    respond_with(session, call("transfer_to_returns", {"reason": "r"}))
    actions = respond_with(session, call("transfer_to_sales", {"reason": "r"}))  # carry = []
    assert session.agent == "sales"
    assert session.visible_context() == {}
    assert "u-1" not in sent(actions)[0]["session"]["instructions"]
    assert audits(actions)[0].carried == ()


def test_handoff_refused_when_target_requirement_is_missing(shop: CompiledFlow) -> None:
    session = new_session(shop)
    session.start()
    actions = respond_with(session, call("transfer_to_returns", {"reason": "refund"}))
    assert session.agent == "auth" and session.depth == 0
    assert "requires user_id" in function_output(actions)["error"]
    assert audits(actions)[0].outcome == "refused"
    assert sent_types(actions)[-1] == "response.create"  # the conversation goes on


def test_handoff_to_an_agent_that_is_not_an_edge_is_refused(shop: CompiledFlow) -> None:
    session = logged_in(shop)
    respond_with(session, call("transfer_to_returns", {"reason": "r"}))
    respond_with(session, call("transfer_to_sales", {"reason": "r"}))
    actions = respond_with(
        session, call("transfer_to_returns", {"reason": "back"})
    )  # sales -> returns: no edge
    assert session.agent == "sales"
    assert "cannot transfer to 'returns'" in function_output(actions)["error"]
    assert [r.outcome for r in audits(actions)] == ["refused"]


@pytest.mark.parametrize(
    "arguments",
    ["{not json", "[]", json.dumps({}), json.dumps({"reason": 3}), json.dumps({"reason": "r", "extra": 1})],
)
def test_bad_transfer_arguments_are_refused(shop: CompiledFlow, arguments: str) -> None:
    session = logged_in(shop)
    actions = respond_with(session, call("transfer_to_returns", arguments))
    assert session.agent == "auth"
    assert "error" in function_output(actions)


def test_depth_cap_reroutes_to_recovery_and_tells_the_model(shop: CompiledFlow) -> None:
    session = logged_in(shop)
    for target in ("returns", "auth", "returns"):
        respond_with(session, call(f"transfer_to_{target}", {"reason": "hop"}))
    assert session.depth == 3  # = max_handoff_depth
    actions = respond_with(session, call("transfer_to_sales", {"reason": "again"}))
    assert session.agent == "help"
    output = function_output(actions)
    assert output["status"] == "capped" and output["to"] == "help" and "cap (3)" in output["why"]
    (record,) = audits(actions)
    assert (record.outcome, record.to_agent, record.detail["requested"]) == ("capped", "help", "sales")
    assert sent(actions)[0]["session"]["instructions"].startswith(AGENT_MARKER + "help")


def test_visit_budget_reroutes_to_recovery() -> None:
    deep = compiled_from_text(FLOW.replace("max_handoff_depth = 3", "max_handoff_depth = 10"))
    session = logged_in(deep)  # a cap the hops below do not reach: the visit budget alone decides
    for hop in ("returns", "auth", "returns", "auth"):
        respond_with(session, call(f"transfer_to_{hop}", {"reason": hop}))
    assert session.status().visits["returns"] == 2 and session.agent == "auth"
    actions = respond_with(session, call("transfer_to_returns", {"reason": "5"}))
    assert session.agent == "help"
    assert audits(actions)[0].outcome == "recovered"


def test_recovery_agent_at_the_cap_stays_put() -> None:
    session = logged_in(compiled_from_text(FLOW.replace("max_handoff_depth = 3", "max_handoff_depth = 1")))
    respond_with(session, call("transfer_to_help", {"reason": "fallback"}))
    assert session.agent == "help" and session.depth == 1  # at the cap
    actions = respond_with(session, call("transfer_to_auth", {"reason": "back"}))
    assert session.agent == "help"
    assert "staying with 'help'" in function_output(actions)["error"]


def test_tool_call_runs_and_its_result_sets_declared_context(shop: CompiledFlow) -> None:
    session = new_session(shop)
    session.start()
    actions = session.receive(created()) + session.receive(call("login", {"phone": "1"}, call_id="c1"))
    assert actions == [RunTool("c1", "login", {"phone": "1"}, "auth", 10.0)]
    assert sent_types(session.receive(done())) == []  # waits for the tool result
    result = session.tool_result("c1", {"user_id": "u-9", "other": 1})
    assert session.known_context() == {"user_id": "u-9"}
    assert sent_types(result) == ["session.update", "conversation.item.create", "response.create"]


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("nope", {}, "unknown tool 'nope'"),
        ("login", {}, "bad arguments for 'login'"),
        ("login", {"phone": 5}, "bad arguments for 'login'"),
    ],
)
def test_unknown_tool_or_bad_arguments_yield_error_output_and_audit(
    shop: CompiledFlow, name: str, arguments: dict[str, Any], message: str
) -> None:
    session = new_session(shop)
    actions = respond_with(session, call(name, arguments))
    assert message in function_output(actions)["error"]
    assert [(r.kind, r.outcome) for r in audits(actions)] == [("tool", "refused")]
    assert sent_types(actions)[-1] == "response.create"


def test_tool_that_raises_yields_error_output_and_audit(shop: CompiledFlow) -> None:
    session = new_session(shop)
    session.receive(created())
    session.receive(call("login", {"phone": "1"}, call_id="c1"))
    session.receive(done())
    actions = session.tool_result("c1", error="RuntimeError: database down")
    assert function_output(actions) == {"error": "the tool failed"}  # the exception is for the audit only
    assert [(r.kind, r.outcome, r.reason) for r in audits(actions)] == [
        ("tool", "failed", "RuntimeError: database down")
    ]
    assert session.idle is False and sent_types(actions)[-1] == "response.create"


def test_never_two_response_creates_in_flight(shop: CompiledFlow) -> None:
    session = new_session(shop)
    first = session.user_text("hello")
    assert sent_types(first).count("response.create") == 1
    second = session.user_text("are you there?")
    assert "response.create" not in sent_types(second)
    assert sent_types(session.receive(created()) + session.receive(done())) == ["response.create"]
    assert sent_types(session.receive(done())) == []


def test_refused_response_create_is_retried_after_the_active_one(shop: CompiledFlow) -> None:
    session = new_session(shop)
    session.user_text("hi")
    error = {
        "type": "error",
        "event_id": "e",
        "error": {
            "type": "invalid_request_error",
            "message": "busy",
            "code": "conversation_already_has_active_response",
        },
    }
    session.receive(error)
    assert sent_types(session.receive(done())) == ["response.create"]


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"type": "response.function_call_arguments.done", "name": "x", "arguments": "{}"}, "call_id"),
        ({"type": "response.done"}, "response"),
        ({"type": "response.done", "response": {"status": "completed"}}, "response.id"),
        ({"type": 7}, "type"),
        ("not an object", ""),
    ],
)
def test_malformed_server_events_name_the_event_and_field(shop: CompiledFlow, event: Any, field: str) -> None:
    session = new_session(shop)
    (problem,) = session.receive(event)
    assert isinstance(problem, ProtocolProblem) and problem.field == field
    assert session.agent == "auth"  # nothing changed
    assert session.receive(created()) == []  # and the session goes on


def test_transcript_and_history_record_both_sides(shop: CompiledFlow) -> None:
    session = new_session(shop)
    session.user_text("hi")
    actions = session.receive(
        {
            "type": "response.output_text.done",
            "event_id": "e",
            "response_id": "r",
            "item_id": "i",
            "output_index": 0,
            "content_index": 0,
            "text": "hello!",
        }
    )
    assert actions == [Transcript("assistant", "auth", "hello!")]
    assert session.history() == [("user", "hi"), ("assistant", "hello!")]


# -- properties ------------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["auth", "returns", "sales", "help", "ghost", "login"]),
            st.sampled_from(["plain", "claim", "malformed"]),
        ),
        max_size=30,
    )
)
def test_random_calls_respect_cap_requirements_and_states(
    shop: CompiledFlow, steps: list[tuple[str, str]]
) -> None:
    """Never past the depth cap, never in an agent without its required keys as TRUSTED values (a claim the
    model makes in a transfer never counts), always in an agent state."""
    session = new_session(shop)
    session.start()
    arguments = {"plain": {"reason": "x"}, "claim": {"reason": "x", "user_id": "claimed"}, "malformed": "{"}
    for target, shape in steps:
        if target == "login":
            session.receive(call("login", {"phone": "1"}, call_id="L"))
            if "L" in session.status().pending_tools:
                session.tool_result("L", {"user_id": "u"})
            continue
        session.receive(call(f"transfer_to_{target}", arguments[shape]))
        assert session.depth <= shop.flow.flow.max_handoff_depth
        assert session.agent in shop.flow.agents
        for key in shop.flow.agents[session.agent].requires:
            assert session.visible_context().get(key) == "u"
        assert session.status().agent == session.agent


def test_client_session_update_loses_what_the_flow_owns(shop: CompiledFlow) -> None:
    session = new_session(shop)
    (send,) = session.client_event(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "instructions": "mine",
                "tools": [],
                "tool_choice": "none",
                "model": "x",
                "output_modalities": ["audio"],
                "audio": {"output": {"speed": 1.1}},
            },
        }
    )
    assert sent([send]) == [
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "output_modalities": ["audio"],
                "audio": {"output": {"speed": 1.1}},
            },
        }
    ]
    assert session.modalities == ("audio",)
    assert (
        session.client_event({"type": "session.update", "session": {"type": "realtime", "tools": []}}) == []
    )


def test_client_user_message_and_response_create_are_tracked(shop: CompiledFlow) -> None:
    session = new_session(shop)
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
    actions = session.client_event({"type": "conversation.item.create", "item": item})
    assert sent_types(actions) == ["conversation.item.create"] and session.history() == [("user", "hello")]
    assert sent_types(session.client_event({"type": "response.create"})) == ["response.create"]
    assert session.status().response_in_flight
    session.receive(call("login", {"phone": "1"}, call_id="c"))
    assert sent_types(session.tool_result("c", {"user_id": "u"})) == [
        "session.update",
        "conversation.item.create",
    ]
    assert sent_types(session.receive(done())) == ["response.create"]  # ours, only after the client's is done


def test_a_model_supplied_value_is_a_claim_that_never_satisfies_requires(shop: CompiledFlow) -> None:
    """The retail bypass: the model names a user_id before anyone logged in; 'returns' must stay shut."""
    session = new_session(shop)
    session.start()
    actions = respond_with(session, call("transfer_to_returns", {"reason": "r", "user_id": "u-said"}))
    assert session.agent == "auth" and session.depth == 0
    error = function_output(actions)["error"]
    assert "requires user_id" in error and "claim, not a fact" in error
    (record,) = audits(actions)
    assert record.outcome == "refused" and record.detail["claimed"] == {"user_id": "u-said"}
    assert session.known_context() == {} and session.visible_claims() == {}


def test_a_claim_travels_marked_unverified_and_a_tool_value_replaces_it(shop: CompiledFlow) -> None:
    claims = new_session(shop)
    claims.start()
    respond_with(claims, call("login", {"phone": "1"}, call_id="L"))
    claims.tool_result("L", {"user_id": "u-1"})  # trusted: a later claim for the key is ignored
    respond_with(claims, call("transfer_to_returns", {"reason": "r", "user_id": "u-other"}))
    assert claims.known_context() == {"user_id": "u-1"} and claims.visible_claims() == {}

    fresh = new_session(compiled_from_text(FLOW.replace('requires = ["user_id"]', 'tools = ["login"]')))
    fresh.start()
    actions = respond_with(fresh, call("transfer_to_returns", {"reason": "r", "user_id": "u-said"}))
    assert fresh.agent == "returns"
    assert fresh.visible_context() == {} and fresh.visible_claims() == {"user_id": "u-said"}
    (record,) = audits(actions)
    assert record.carried == () and record.detail == {"history": "keep", "claimed": {"user_id": "u-said"}}
    instructions = sent(actions)[0]["session"]["instructions"]
    assert CLAIMS_HEADING in instructions and '"user_id": "u-said"' in instructions
    assert "# Known context" not in instructions
    fresh.receive(call("login", {"phone": "1"}, call_id="L2"))
    fresh.tool_result("L2", {"user_id": "u-real"})
    assert fresh.visible_context() == {"user_id": "u-real"} and fresh.visible_claims() == {}


def test_a_rerouted_transfer_keeps_no_claim(shop: CompiledFlow) -> None:
    capped = new_session(compiled_from_text(FLOW.replace("max_handoff_depth = 3", "max_handoff_depth = 2")))
    for hop in ("sales", "auth"):  # to the cap: the next transfer is rerouted
        respond_with(capped, call(f"transfer_to_{hop}", {"reason": hop}))
    respond_with(capped, call("transfer_to_returns", {"reason": "r", "user_id": "u-said"}))
    assert capped.agent == "help" and capped.known_context() == {} and capped.visible_claims() == {}


def test_per_flow_plans_do_not_keep_compiled_classes_alive() -> None:
    import gc
    import weakref

    from engine.compile import clear_cache

    refs = []
    for i in range(5):
        compiled = compiled_from_text(FLOW.replace('name = "shop"', f'name = "shop{i}"'))
        Session(compiled, "c", clock=lambda: 0.0).start()
        refs.append(weakref.ref(compiled.machine))
        del compiled
    clear_cache()
    gc.collect()
    assert [r() for r in refs] == [None] * 5


def test_initial_context_must_be_declared_by_the_flow(shop: CompiledFlow) -> None:
    with pytest.raises(ContextError, match=r"'user_id' is not declared by flow 'shop'.*initial_context"):
        new_session(shop, initial_context={"user_id": "u-1"})
    declared = compiled_from_text(
        FLOW.replace('recovery = "help"', 'recovery = "help"\ninitial_context = ["user_id"]')
    )
    session = new_session(declared, initial_context={"user_id": "u-1"})
    session.start()
    respond_with(session, call("transfer_to_returns", {"reason": "r"}))
    assert session.agent == "returns"  # an application-supplied value is trusted
    with pytest.raises(ContextError, match="did you mean 'user_id'"):
        new_session(declared, initial_context={"userid": "u-1"})


def test_context_assignments_parse_and_check_completeness(shop: CompiledFlow) -> None:
    assert parse_assignments(["a=1", "b==2", "c="]) == {"a": "1", "b": "=2", "c": ""}
    for bad in (["novalue"], ["=v"], ["a=1", "a=2"]):
        with pytest.raises(ContextError):
            parse_assignments(bad)
    declared = compiled_from_text(
        FLOW.replace('recovery = "help"', 'recovery = "help"\ninitial_context = ["user_id"]')
    )
    with pytest.raises(ContextError, match="--context user_id=VALUE"):
        initial_context(declared.flow, {})
    assert initial_context(declared.flow, {}, complete=False) == {}
