"""SB206 and the walk bound against brute force: the cycles no budget bounds, and the longest walk the budgets
allow, found by exploring every walk. The oracles rebuild the moves from the flow without ``engine.verify``."""

from __future__ import annotations

from functools import cache
from itertools import pairwise
from pathlib import Path

from hypothesis import assume, given, settings

from engine.flow.loader import load_flow
from engine.flow.model import Flow
from engine.verify.loops import walk_bound
from tests.verify.test_verify_properties import (
    Edges,
    declared_edges,
    flows,
    found,
    lint,
    routing_edges,
    walk_lengths,
)

FLOWS = Path(__file__).resolve().parents[2] / "flows"


def budgets(flow: Flow) -> dict[str, int]:
    """The budgets the runtime enforces: ``max_visits`` of every agent but the recovery agent."""
    recovery = flow.flow.recovery
    return {
        a: agent.max_visits
        for a, agent in flow.agents.items()
        if agent.max_visits is not None and a != recovery
    }


def moves(flow: Flow) -> Edges:
    """Declared handoffs, the implicit fallback, and the guardrail's reroute to the recovery agent of every
    agent with a handoff to a budgeted agent."""
    edges = routing_edges(flow)
    recovery, budget = flow.flow.recovery, budgets(flow)
    if recovery in flow.agents:
        for a, targets in declared_edges(flow).items():
            if a != recovery and targets & budget.keys():
                edges[a].add(recovery)
    return edges


def unbudgeted(flow: Flow) -> Edges:
    budget = budgets(flow)
    return {
        a: {b for b in targets if b not in budget} for a, targets in moves(flow).items() if a not in budget
    }


@settings(max_examples=200, deadline=None)
@given(flows())
def test_sb206_fires_iff_the_unbudgeted_moves_have_a_cycle(flow: Flow) -> None:
    """One finding per set of mutually reachable unbudgeted agents on a cycle; its cycle is made of moves."""
    loops = found(lint(flow), "SB206")
    edges = unbudgeted(flow)
    reach = {a: set(walk_lengths(edges, a)) for a in edges}
    on_cycle = {a for a in edges if any(a in reach[b] for b in edges[a])}
    assert bool(loops) == bool(on_cycle)
    assert {frozenset(d.agents) for d in loops} == {
        frozenset(b for b in reach[a] if a in reach[b]) for a in on_cycle
    }
    order = list(flow.agents)
    for d in loops:
        cycle = d.extra["cycle"]
        assert cycle[0] == cycle[-1] == min(d.agents, key=order.index)
        assert all(b in edges[a] for a, b in pairwise(cycle))
        target = d.extra["budget_on"]
        assert target in d.agents and target != flow.flow.recovery
        assert d.help == f"add max_visits = 3 to '{target}'"


def longest_walk(flow: Flow) -> int:
    """The most handoffs of any walk from the entry that visits no budgeted agent more than its budget: a
    depth-first search of every such walk (memoised on the agent and the visits so far)."""
    edges, budget = moves(flow), budgets(flow)
    names = sorted(budget)

    @cache
    def longest(agent: str, visits: tuple[int, ...]) -> int:
        best = 0
        for b in edges[agent]:
            after = visits
            if b in budget:
                i = names.index(b)
                if visits[i] == budget[b]:
                    continue
                after = (*visits[:i], visits[i] + 1, *visits[i + 1 :])
            best = max(best, 1 + longest(b, after))
        return best

    entry = flow.flow.entry
    return longest(entry, tuple(int(name == entry) for name in names))


def simple_bound(flow: Flow) -> int:
    """``(B + 1) * (L + 2) - 2``: B the reachable budgets, L the longest unbudgeted path in handoffs."""
    reached = walk_lengths(moves(flow), flow.flow.entry)
    edges = unbudgeted(flow)
    total = sum(n for a, n in budgets(flow).items() if a in reached)

    def agents_on_path(a: str) -> int:
        return 1 + max((agents_on_path(b) for b in edges[a]), default=0)

    longest = max((agents_on_path(a) for a in edges if a in reached), default=0) - 1
    return (total + 1) * (longest + 2) - 2


@settings(max_examples=200, deadline=None)
@given(flows())
def test_walk_bound_bounds_every_budget_respecting_walk(flow: Flow) -> None:
    assume(not found(lint(flow), "SB206"))
    bound = walk_bound(flow)
    if flow.flow.entry not in flow.agents:
        assert bound is None
        return
    assert bound is not None
    assert longest_walk(flow) <= bound <= simple_bound(flow)


def test_walk_bound_of_the_shipped_flows_is_tight() -> None:
    """simple_handoff: greeter (3 visits) -> haiku_writer -> generalist, three times: 9 agents, 8 handoffs."""
    simple = load_flow(FLOWS / "simple_handoff.toml").flow
    assert walk_bound(simple) == longest_walk(simple) == 8
    chat = load_flow(FLOWS / "chat_supervisor.toml").flow
    assert walk_bound(chat) == longest_walk(chat) == 5


def test_walk_bound_is_none_when_a_loop_is_unbudgeted() -> None:
    flow = load_flow(FLOWS / "broken" / "sb206_unbudgeted_loop.toml").flow
    assert walk_bound(flow) is None
    unknown = flow.model_copy(update={"flow": flow.flow.model_copy(update={"entry": "nobody"})})
    assert walk_bound(unknown) is None
