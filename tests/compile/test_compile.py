"""The compiler: one state per agent, strict machines, cached classes that do not leak."""

from __future__ import annotations

import gc
import weakref

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statemachine import registry
from statemachine.exceptions import TransitionNotAllowed

from engine.compile import RECOVER, clear_cache, compile_handoff_machine, transfer_event
from engine.compile.escalation import EscalationMachine
from engine.compile.pipeline import compile_document, compile_flow
from engine.flow.diagnostics import FlowError
from engine.flow.model import Flow
from engine.verify.graph import routing_graph


def make_flow(
    edges: dict[str, list[str]],
    *,
    entry: str = "a",
    recovery: str = "r",
    name: str = "t",
    **settings_: object,
) -> Flow:
    agents = {n: {"handoffs": hs} for n, hs in edges.items()}
    return Flow.model_validate(
        {"flow": {"name": name, "entry": entry, "recovery": recovery, **settings_}, "agents": agents}
    )


def test_one_state_per_agent_and_transitions_follow_handoffs() -> None:
    flow = make_flow({"a": ["b"], "b": ["a"], "r": ["a"]})
    machine = compile_handoff_machine(flow)()
    assert machine.agent == "a"
    assert {s.value for s in machine.states} == {"a", "b", "r"}
    machine.send(transfer_event("b"))
    assert machine.agent == "b"
    machine.send(RECOVER)
    assert machine.agent == "r"


def test_strict_machine_raises_on_undeclared_transfer_and_unknown_event() -> None:
    flow = make_flow({"a": ["b"], "b": ["r"], "r": ["a"]}, implicit_fallback=False)
    machine = compile_handoff_machine(flow)()
    with pytest.raises(TransitionNotAllowed):
        machine.send(transfer_event("r"))  # a -> r is not declared and the fallback is off
    with pytest.raises(TransitionNotAllowed):
        machine.send("no_such_event")
    assert machine.agent == "a"


def test_implicit_fallback_gives_every_agent_a_route_to_recovery() -> None:
    flow = make_flow({"a": ["b"], "b": ["a"], "r": ["a"]})
    machine = compile_handoff_machine(flow)()
    machine.send(transfer_event("r"))
    assert machine.agent == "r"


def test_recover_is_not_defined_from_the_recovery_agent() -> None:
    flow = make_flow({"a": ["r"], "r": ["a"]}, entry="r")
    machine = compile_handoff_machine(flow)()
    with pytest.raises(TransitionNotAllowed):
        machine.send(RECOVER)


def test_classes_are_cached_per_flow_and_distinct_across_flows() -> None:
    one = make_flow({"a": ["r"], "r": ["a"]})
    same = make_flow({"a": ["r"], "r": ["a"]})
    other = make_flow({"a": ["r"], "r": ["a"]}, max_handoff_depth=3)
    assert compile_handoff_machine(one) is compile_handoff_machine(same)
    assert compile_handoff_machine(one) is not compile_handoff_machine(other)


def test_compiled_classes_stay_out_of_the_global_registry_and_are_freed() -> None:
    clear_cache()
    before = dict(registry._REGISTRY)
    refs = []
    for i in range(80):  # more than the cache holds
        cls = compile_handoff_machine(make_flow({"a": ["r"], "r": ["a"]}, name=f"leak{i}"))
        refs.append(weakref.ref(cls))
        del cls
    assert registry._REGISTRY == before
    clear_cache()
    gc.collect()
    assert sum(ref() is not None for ref in refs) == 0


def test_pipeline_refuses_a_flow_with_errors() -> None:
    with pytest.raises(FlowError) as info:
        compile_flow("flows/broken/sb201_unreachable_agent.toml")
    assert [d.code for d in info.value.diagnostics] == ["SB201"]


def test_pipeline_compiles_shipped_flows() -> None:
    for path in ("flows/retail.toml", "flows/simple_handoff.toml", "flows/chat_supervisor.toml"):
        compiled = compile_flow(path)
        assert compiled.machine().agent == compiled.flow.flow.entry


def test_escalation_machine_transitions_and_budget_guard() -> None:
    m = EscalationMachine(2)
    assert not m.is_escalated
    for event in ("resolve", "time_out", "abandon", "fail"):
        with pytest.raises(TransitionNotAllowed):
            m.send(event)  # only `escalate` leaves `chatting`
    m.send("escalate")
    assert m.is_escalated
    with pytest.raises(TransitionNotAllowed):
        m.send("escalate")  # no nested escalation
    m.send("resolve")
    m.send("escalate")
    m.send("time_out")
    assert m.used == 2 and not m.has_budget()
    with pytest.raises(TransitionNotAllowed):
        m.send("escalate")  # guard: the budget is used up
    assert not m.is_escalated


@pytest.mark.parametrize("event", ["resolve", "time_out", "abandon", "fail"])
def test_every_escalation_exit_returns_to_chatting(event: str) -> None:
    m = EscalationMachine(1)
    m.send("escalate")
    m.send(event)
    assert not m.is_escalated and m.chatting.is_active


@st.composite
def random_flows(draw: st.DrawFn) -> Flow:
    n = draw(st.integers(2, 7))
    names = [f"n{i}" for i in range(n)]
    edges = {name: sorted(set(draw(st.lists(st.sampled_from(names), max_size=3))) - {name}) for name in names}
    return make_flow(
        edges, entry="n0", recovery=draw(st.sampled_from(names)), implicit_fallback=draw(st.booleans())
    )


@settings(max_examples=60, deadline=None)
@given(flow=random_flows(), walk=st.lists(st.integers(0, 50), max_size=25))
def test_random_transfers_stay_on_the_routing_graph(flow: Flow, walk: list[int]) -> None:
    """Firing random transfers: allowed ones follow a routing edge, others raise and change nothing."""
    graph = routing_graph(flow)
    machine = compile_handoff_machine(flow)()
    names = list(flow.agents)
    for step in walk:
        target, here = names[step % len(names)], machine.agent
        if graph.has_edge(here, target):
            machine.send(transfer_event(target))
            assert machine.agent == target
        else:
            with pytest.raises(TransitionNotAllowed):
                machine.send(transfer_event(target))
            assert machine.agent == here


def test_a_verified_document_compiles(parse_toml) -> None:  # type: ignore[no-untyped-def]
    doc = parse_toml("""
        [flow]
        name = "ok"
        entry = "a"
        recovery = "r"
        [agents.a]
        handoffs = ["r"]
        [agents.r]
        terminal = true
    """)
    compiled = compile_document(doc)
    assert compiled.machine().agent == "a"


@st.composite
def random_documents(draw: st.DrawFn) -> Flow:
    n = draw(st.integers(2, 7))
    names = [f"n{i}" for i in range(n)]
    edges = {name: sorted(set(draw(st.lists(st.sampled_from(names), max_size=3))) - {name}) for name in names}
    agents = {
        name: {"handoffs": hs, "terminal": not hs or draw(st.booleans()), "max_visits": 3}
        for name, hs in edges.items()
    }
    data = {
        "flow": {
            "name": "r",
            "entry": "n0",
            "recovery": draw(st.sampled_from(names)),
            "max_handoff_depth": draw(st.integers(1, 8)),
            "implicit_fallback": draw(st.booleans()),
        },
        "agents": agents,
    }
    return Flow.model_validate(data)


@settings(max_examples=80, deadline=None)
@given(flow=random_documents(), walk=st.lists(st.integers(0, 50), max_size=25))
def test_accepted_flows_compile_and_walks_never_reach_unreachable_agents(flow: Flow, walk: list[int]) -> None:
    """Every flow the verifier accepts compiles; no handoff walk of any compiled machine reaches an SB201 agent.

    ``recover`` is left out of the walk: it is the runtime's guardrail, fired only to reroute a handoff.
    """
    from engine.flow.loader import FlowDocument, SourceMap
    from engine.verify import verify

    findings = verify(FlowDocument(flow, SourceMap("random.toml")))
    unreachable = {a for d in findings if d.code == "SB201" for a in d.agents}
    if not any(d.severity == "error" for d in findings):
        assert compile_document(FlowDocument(flow, SourceMap("random.toml"))).machine().agent == "n0"
    machine = compile_handoff_machine(flow)()
    names = list(flow.agents)
    for step in walk:
        try:
            machine.send(transfer_event(names[step % len(names)]))
        except TransitionNotAllowed:
            pass
        assert machine.agent not in unreachable
