"""SB201–SB206: reachability, the depth cap, fallback coverage, dead ends and unbudgeted loops.

Everything is a BFS or an SCC pass over the shared graph, so the whole module is O(V + E).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from engine.flow.diagnostics import Diagnostic
from engine.verify.scope import Scope, quoted
from engine.verify.search import bfs, shorten, show, strongly_connected


def check(scope: Scope) -> Iterator[Diagnostic]:
    yield from _dead_ends(scope)
    yield from _loops(scope)
    if scope.entry is not None:
        yield from _reach(scope, scope.entry)
        if scope.recovery is not None and not scope.flow.flow.implicit_fallback:
            yield from _stranded(scope, scope.entry, scope.recovery)


def _leaves(name: str, handoffs: list[str]) -> bool:
    """Whether an agent declares a handoff other than to itself (an unknown target is SB101's business)."""
    return any(target != name for target in handoffs)


def _dead_ends(scope: Scope) -> Iterator[Diagnostic]:
    """SB205 for every non-terminal agent without a handoff; SB204 instead for the recovery agent."""
    recovery = scope.recovery
    for name, agent in scope.flow.agents.items():
        if agent.terminal or _leaves(name, agent.handoffs):
            continue
        if name == recovery:
            yield scope.diagnostic(
                "SB204",
                f"recovery agent '{name}' is not terminal and hands off to no other agent: "
                "conversations routed there can neither continue nor end",
                ("agents", name),
                (name,),
            )
        else:
            yield scope.diagnostic(
                "SB205",
                f"agent '{name}' is not terminal but declares no handoff (a dead end)",
                ("agents", name),
                (name,),
            )


def _loops(scope: Scope) -> Iterator[Diagnostic]:
    """SB206: one warning per handoff cycle (an SCC of 2+ agents) in which no agent has ``max_visits``."""
    agents = scope.flow.agents
    order = {name: i for i, name in enumerate(agents)}
    succ = scope.declared
    for found in strongly_connected(succ):
        component = set(found)
        if len(component) < 2 or any(agents[a].max_visits is not None for a in component):
            continue
        members = sorted(component, key=order.__getitem__)
        first = members[0]
        within = bfs([first], _inside(succ, component))
        back = min((a for a in component if first in succ[a]), key=within.depth.__getitem__)
        cycle = shorten([*within.route(back), first])
        yield scope.diagnostic(
            "SB206",
            f"handoff loop {show(cycle)} has no max_visits budget "
            f"(set max_visits on one of {quoted(members)})",
            ("agents", first),
            tuple(members),
            {"cycle": cycle, "agents": members},
        )


def _inside(succ: dict[str, list[str]], component: set[str]) -> Callable[[str], Iterator[str]]:
    return lambda node: (target for target in succ[node] if target in component)


def _reach(scope: Scope, entry: str) -> Iterator[Diagnostic]:
    """SB201 for every agent the entry cannot reach; SB202 for every agent only reachable past the cap."""
    tree = scope.from_entry
    cap = scope.flow.flow.max_handoff_depth
    for name in scope.flow.agents:
        if name not in tree:
            yield scope.diagnostic(
                "SB201",
                f"agent '{name}' cannot be reached from entry agent '{entry}'",
                ("agents", name),
                (name,),
            )
        elif tree.depth[name] > cap:
            depth = tree.depth[name]
            route = tree.route(name)
            yield scope.diagnostic(
                "SB202",
                f"agent '{name}' is {depth} handoffs from entry agent '{entry}' at best "
                f"({show(route)}), more than max_handoff_depth = {cap}",
                ("agents", name),
                (name,),
                {"depth": depth, "max_handoff_depth": cap, "path": route},
            )


def _stranded(scope: Scope, entry: str, recovery: str) -> Iterator[Diagnostic]:
    """SB203 without the implicit fallback: d(A) + r(A) <= max_handoff_depth for every reachable agent A.

    d is the shortest depth from entry, r the shortest declared route to recovery (a reverse BFS). An agent
    past the cap (SB202) is reported here only when it has no route to recovery at all.
    """
    tree = scope.from_entry
    pred: dict[str, list[str]] = {name: [] for name in scope.declared}
    for source, targets in scope.declared.items():
        for target in targets:
            pred[target].append(source)
    home = bfs([recovery], pred.__getitem__)
    cap = scope.flow.flow.max_handoff_depth
    for name in scope.flow.agents:
        if name not in tree or name == recovery:
            continue
        depth = tree.depth[name]
        if name not in home:
            yield scope.diagnostic(
                "SB203",
                f"agent '{name}' has no route to recovery agent '{recovery}' (implicit_fallback is off)",
                ("agents", name),
                (name, recovery),
                {"depth": depth, "to_recovery": None, "max_handoff_depth": cap},
            )
            continue
        back = home.depth[name]
        if depth <= cap < depth + back:
            route = shorten([*tree.route(name), *home.route(name)[-2::-1]])
            yield scope.diagnostic(
                "SB203",
                f"agent '{name}' is stranded: {depth} handoffs from entry agent '{entry}' plus {back} to "
                f"recovery agent '{recovery}' exceed max_handoff_depth = {cap} ({show(route)})",
                ("agents", name),
                (name, recovery),
                {"depth": depth, "to_recovery": back, "max_handoff_depth": cap, "path": route},
            )
