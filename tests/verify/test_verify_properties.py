"""Properties of the verifier on random small flows, against brute-force oracles written independently here.

The oracles do not use ``engine.verify``: they rebuild the routing edges from the flow, find depths by
growing the set of endpoints of all walks of length 0, 1, 2, ..., and find context availability by
exploring every ``(agent, context)`` state a conversation can be in.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise
from typing import Any

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.flow.diagnostics import Diagnostic
from engine.flow.loader import FlowDocument, SourceMap
from engine.flow.model import Flow
from engine.verify import RULES, verify
from engine.verify.search import strongly_connected

NAMES = [f"a{i}" for i in range(6)]
KEYS = ["k0", "k1", "k2"]
TOOLS = ["t0", "t1"]

Edges = dict[str, set[str]]


@st.composite
def flows(draw: st.DrawFn, noisy: bool = False) -> Flow:
    """A random flow of 1-6 agents; ``noisy`` adds unknown names, duplicates and a supervisor."""
    names = NAMES[: draw(st.integers(1, 6))]
    agent = st.sampled_from([*names, "ghost"] if noisy else names)
    keys = st.lists(st.sampled_from(KEYS), max_size=3, unique=not noisy)
    tool = st.sampled_from([*TOOLS, "t9"] if noisy else TOOLS)
    data: dict[str, Any] = {
        "flow": {
            "name": "random",
            "entry": draw(agent),
            "recovery": draw(agent),
            "max_handoff_depth": draw(st.integers(1, 5)),
            "implicit_fallback": draw(st.booleans()),
            "fallback_carry": draw(keys),
            "initial_context": draw(keys),
        },
        "agents": {
            name: {
                "handoffs": draw(st.lists(agent, max_size=4, unique=not noisy)),
                "tools": draw(st.lists(tool, max_size=2, unique=not noisy)),
                "produces": draw(keys),
                "requires": draw(keys),
                "max_visits": draw(st.none() | st.integers(1, 3)),
                "terminal": draw(st.booleans()),
            }
            for name in names
        },
        "tools": {name: {"sets": draw(keys)} for name in TOOLS},
    }
    edges = [(a, b) for a in names for b in data["agents"][a]["handoffs"]]
    edges = [edge for edge in edges if draw(st.booleans())]  # contracts mostly on declared edges
    edges += [(draw(agent), draw(agent)) for _ in range(draw(st.integers(0, 2)))]
    data["handoff"] = [{"from": a, "to": b, "carry": draw(st.none() | keys)} for a, b in edges]
    if noisy and draw(st.booleans()):
        data["tools"]["transfer_to_a0"] = {}
        data["supervisor"] = {
            "backend": draw(st.sampled_from(["scripted", "openai"])),
            "script": draw(st.none() | st.just("rules.toml")),
            "model": draw(st.sampled_from(["", "gpt-4.1"])),
            "front": draw(st.lists(agent, max_size=2)),
            "tools": draw(st.lists(tool, max_size=2)),
            "max_tool_rounds": draw(st.integers(0, 2)),
        }
    return Flow.model_validate(data)


def lint(flow: Flow) -> list[Diagnostic]:
    return verify(FlowDocument(flow, SourceMap("<random>")))


def declared_edges(flow: Flow) -> Edges:
    agents = flow.agents
    return {a: {b for b in agent.handoffs if b in agents and b != a} for a, agent in agents.items()}


def routing_edges(flow: Flow) -> Edges:
    """Declared handoffs, plus an edge to the recovery agent from every other agent under implicit fallback."""
    edges = declared_edges(flow)
    recovery = flow.flow.recovery
    if flow.flow.implicit_fallback and recovery in flow.agents:
        for a in edges:
            if a != recovery:
                edges[a].add(recovery)
    return edges


def walk_lengths(edges: Edges, start: str) -> dict[str, int]:
    """The shortest walk length from ``start`` to each agent: the endpoints of all walks of length 0, 1, ...

    A shortest walk repeats no agent, so lengths below ``len(edges)`` are enough.
    """
    shortest: dict[str, int] = {}
    ends = {start}
    for length in range(len(edges)):
        for end in ends:
            shortest.setdefault(end, length)
        ends = {b for a in ends for b in edges[a]}
    return shortest


def reverse(edges: Edges) -> Edges:
    back: Edges = {a: set() for a in edges}
    for a, targets in edges.items():
        for b in targets:
            back[b].add(a)
    return back


def found(diagnostics: Iterable[Diagnostic], code: str) -> list[Diagnostic]:
    return [d for d in diagnostics if d.code == code]


@settings(max_examples=100, deadline=None)
@given(flows())
def test_topology_matches_brute_force(flow: Flow) -> None:
    """SB201, SB202 and SB203 find exactly what exhaustive walk enumeration finds (SB206: test_verify_loops)."""
    diagnostics = lint(flow)
    entry, recovery, cap = flow.flow.entry, flow.flow.recovery, flow.flow.max_handoff_depth
    edges = routing_edges(flow)
    declared = declared_edges(flow)

    if entry not in flow.agents:
        assert not {"SB201", "SB202", "SB203", "SB301", "SB302"} & {d.code for d in diagnostics}
        return
    depth = walk_lengths(edges, entry)
    assert {d.agents[0] for d in found(diagnostics, "SB201")} == set(flow.agents) - set(depth)
    beyond = {d.agents[0]: d.extra for d in found(diagnostics, "SB202")}
    assert {a: extra["depth"] for a, extra in beyond.items()} == {a: n for a, n in depth.items() if n > cap}
    for a, extra in beyond.items():
        path = extra["path"]
        assert (path[0], path[-1], len(path) - 1) == (entry, a, depth[a])
        assert all(b in edges[x] for x, b in pairwise(path))

    stranded = {d.agents[0] for d in found(diagnostics, "SB203")}
    if flow.flow.implicit_fallback or recovery not in flow.agents:
        assert stranded == set()
    else:
        home = walk_lengths(reverse(declared), recovery)
        assert stranded == {
            a for a, n in depth.items() if a != recovery and (a not in home or n <= cap < n + home[a])
        }


def through(flow: Flow, a: str, b: str) -> frozenset[str] | None:
    """The keys the edge ``a -> b`` lets through (``None``: all of them)."""
    if b in flow.agents[a].handoffs and a != b:
        contract = next((h for h in flow.handoff if (h.source, h.target) == (a, b)), None)
        return None if contract is None or contract.carry is None else frozenset(contract.carry)
    return frozenset(flow.flow.fallback_carry)


def produced(flow: Flow, a: str) -> frozenset[str]:
    agent = flow.agents[a]
    return frozenset(agent.produces).union(*(flow.tools[t].sets for t in agent.tools if t in flow.tools))


def arrivals(flow: Flow) -> dict[str, set[frozenset[str]]]:
    """Every context a conversation can arrive at each agent with, over all walks from the entry.

    A walk's context is a function of its agents, so exploring the finitely many ``(agent, context)``
    states (at most 6 * 2**3 here) covers every walk of every length: this is the brute-force meaning of
    "on every path", cycles included.
    """
    edges = routing_edges(flow)
    start = (flow.flow.entry, frozenset(flow.flow.initial_context))
    seen = {start}
    todo = [start]
    while todo:
        a, context = todo.pop()
        out = context | produced(flow, a)
        for b in edges[a]:
            passed = through(flow, a, b)
            state = (b, out if passed is None else out & passed)
            if state not in seen:
                seen.add(state)
                todo.append(state)
    by_agent: dict[str, set[frozenset[str]]] = {}
    for a, context in seen:
        by_agent.setdefault(a, set()).add(context)
    return by_agent


def follow(flow: Flow, path: list[str]) -> frozenset[str]:
    """The context on arrival at the end of ``path``, a walk from the entry."""
    context = frozenset(flow.flow.initial_context)
    for a, b in pairwise(path):
        assert b in routing_edges(flow)[a], f"{a} -> {b} is no route"
        out = context | produced(flow, a)
        passed = through(flow, a, b)
        context = out if passed is None else out & passed
    return context


@settings(max_examples=100, deadline=None)
@given(flows())
def test_contracts_match_state_exploration(flow: Flow) -> None:
    """SB301 and SB302 agree with the explicit exploration of every conversation; SB301's path is a witness."""
    diagnostics = lint(flow)
    if flow.flow.entry not in flow.agents:
        return
    states = arrivals(flow)
    must = {a: frozenset.intersection(*contexts) for a, contexts in states.items()}
    lost = {(b, k) for b in must for k in flow.agents[b].requires if k not in must[b]}
    assert {(d.agents[0], d.extra["key"]) for d in found(diagnostics, "SB301")} == lost
    for d in found(diagnostics, "SB301"):
        path = d.extra["path"]
        assert path[0] == flow.flow.entry and path[-1] == d.agents[0]
        assert d.extra["key"] not in follow(flow, path)

    may = {a: frozenset().union(*contexts) | produced(flow, a) for a, contexts in states.items()}
    firsts = {(h.source, h.target): h for h in reversed(flow.handoff)}
    unavailable = {
        (a, b, k)
        for (a, b), contract in firsts.items()
        if a in may and b in declared_edges(flow)[a]
        for k in contract.carry or ()
        if k not in may[a]
    }
    assert {(*d.agents, d.extra["key"]) for d in found(diagnostics, "SB302")} == unavailable


Loss = tuple[str, str] | str | None
"""Where a walk lost a key for the last time: the declared edge whose contract dropped it, ``"fallback"``,
``"initial"`` (it never had it), or ``None`` (it has it)."""


def lose(flow: Flow, key: str, a: str, b: str, has: bool, loss: Loss) -> tuple[bool, Loss]:
    """Whether the key is still there after the move ``a -> b``, and its last loss then."""
    out = has or key in produced(flow, a)
    passed = through(flow, a, b)
    if out and (passed is None or key in passed):
        return True, None
    if out:
        return False, (a, b) if b in declared_edges(flow)[a] else "fallback"
    return False, loss


def losses_of(flow: Flow, key: str) -> dict[str, set[Loss]]:
    """For each agent, every last loss of ``key`` over the walks that arrive there without it: explores every
    ``(agent, has key, last loss)`` state (finitely many: the losses are edges)."""
    edges = routing_edges(flow)
    has = key in flow.flow.initial_context
    start = (flow.flow.entry, has, None if has else "initial")
    seen = {start}
    todo = [start]
    while todo:
        a, has, loss = todo.pop()
        for b in edges[a]:
            state = (b, *lose(flow, key, a, b, has, loss))
            if state not in seen:
                seen.add(state)
                todo.append(state)
    by_agent: dict[str, set[Loss]] = {}
    for a, has, loss in seen:
        if not has:
            by_agent.setdefault(a, set()).add(loss)
    return by_agent


def last_loss(flow: Flow, key: str, path: list[str]) -> Loss:
    has = key in flow.flow.initial_context
    loss: Loss = None if has else "initial"
    for a, b in pairwise(path):
        has, loss = lose(flow, key, a, b, has, loss)
    return loss


@settings(max_examples=150, deadline=None)
@given(flows())
def test_sb301_reports_each_last_place_a_key_is_lost(flow: Flow) -> None:
    """One SB301 per agent, required key and distinct last loss over all walks (all fallback edges are one
    loss, as they share a fix); a key nothing provides gets one finding instead; each path shows its loss."""
    diagnostics = found(lint(flow), "SB301")
    if flow.flow.entry not in flow.agents:
        return
    provided = {*flow.flow.initial_context}.union(
        *(a.produces for a in flow.agents.values()), *(t.sets for t in flow.tools.values())
    )
    by_key = {k: losses_of(flow, k) for a in flow.agents.values() for k in a.requires}
    expected = set()
    for b, agent in flow.agents.items():
        for k in agent.requires:
            lost = by_key[k].get(b, set())
            expected |= {(b, k, "unproduced")} if lost and k not in provided else {(b, k, x) for x in lost}
    names = {"initial_context": "initial", "fallback_carry": "fallback", "unproduced": "unproduced"}
    shown = [
        (d.agents[0], d.extra["key"], names.get(d.extra["cause"]) or tuple(d.extra["lost_on"]))
        for d in diagnostics
    ]
    assert sorted(shown, key=str) == sorted(expected, key=str)
    for d, (_, key, loss) in zip(diagnostics, shown, strict=True):
        assert key not in follow(flow, d.extra["path"])
        assert last_loss(flow, key, d.extra["path"]) == ("initial" if loss == "unproduced" else loss)


@settings(max_examples=100, deadline=None)
@given(flows(noisy=True))
def test_verify_never_raises_and_reports_by_the_catalogue(flow: Flow) -> None:
    diagnostics = lint(flow)
    assert diagnostics == sorted(diagnostics, key=lambda d: (d.location, d.code))
    for d in diagnostics:
        rule = RULES[d.code]
        assert (d.severity, d.rule) == (rule.severity, rule.name)
        assert set(d.agents) <= set(flow.agents), d


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(NAMES), st.sets(st.sampled_from(NAMES)), min_size=1))
def test_strongly_connected_components_match_networkx(succ: dict[str, set[str]]) -> None:
    graph = {a: sorted(b for b in targets if b in succ) for a, targets in succ.items()}
    ours = {frozenset(c) for c in strongly_connected(graph)}
    assert ours == {frozenset(c) for c in nx.strongly_connected_components(nx.DiGraph(graph))}
