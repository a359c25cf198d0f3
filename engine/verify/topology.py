"""SB201–SB206: reachability, the depth cap, fallback coverage, dead ends and unbudgeted loops.

Everything is a BFS or an SCC pass over the shared graph, so the whole module is O(V + E).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import pairwise

from engine.flow.diagnostics import Diagnostic
from engine.flow.positions import PathKey
from engine.verify.loops import unbudgeted_loops
from engine.verify.scope import Scope
from engine.verify.search import ELIDED, bfs, shorten, show


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
    """SB206: one warning per strongly connected component of 2+ unbudgeted agents (see ``loops.py``).

    Sound: walks are bounded exactly when no such component exists, i.e. when every cycle of moves passes
    through an agent whose ``max_visits`` the runtime enforces. Moves include the implicit fallback and the
    guardrail's reroute, because both take a conversation to the recovery agent, whose handoffs can lead
    it straight back; the recovery agent's own ``max_visits`` does not count, since a guardrail reroutes to
    it whatever its visits. Each finding shows the shortest cycle through the component's first agent (in
    file order), points at that agent's table, relates the moves of the other agents on the cycle, and
    suggests a budget for the agent on the most routes through the component (in-degree times out-degree
    within it, a linear stand-in for "on the most cycles"; the first in file order on a tie). O(V + E).
    """
    agents, recovery = scope.flow.agents, scope.recovery
    moves = scope.moves
    inner = moves.unbudgeted
    order = {name: i for i, name in enumerate(agents)}
    for found in unbudgeted_loops(moves):
        component = set(found)
        members = sorted(component, key=order.__getitem__)
        first = members[0]
        within = bfs([first], _inside(inner, component))
        back = min((a for a in component if first in inner[a]), key=within.depth.__getitem__)
        cycle = shorten([*within.route(back), first])
        steps = [(a, b) for a, b in pairwise(cycle) if ELIDED not in (a, b)]
        notes = [_how(scope, a, b) for a, b in steps if moves.succ[a][b] != "handoff"]
        if recovery in component and agents[recovery].max_visits is not None:
            notes.append(
                f"max_visits on recovery agent '{recovery}' does not count: "
                "guardrails reroute there whatever its visits"
            )
        target = _best_budget(inner, component, members, recovery)
        yield scope.diagnostic(
            "SB206",
            f"handoff loop {show(cycle)} has no agent with a max_visits budget"
            + (f" ({'; '.join(notes)})" if notes else ""),
            ("agents", first),
            tuple(members),
            {"cycle": cycle, "agents": members, "budget_on": target},
            help=f"add max_visits = 3 to '{target}'",
            related=[_step(scope, a, b) for a, b in steps if a != first],
        )


def _inside(succ: dict[str, list[str]], component: set[str]) -> Callable[[str], Iterator[str]]:
    return lambda node: (target for target in succ[node] if target in component)


def _best_budget(
    inner: dict[str, list[str]], component: set[str], members: list[str], recovery: str | None
) -> str:
    """The member (not the recovery agent) with the most routes through it inside ``component``."""
    into = dict.fromkeys(members, 0)
    out = dict.fromkeys(members, 0)
    for source in members:
        for target in inner[source]:
            if target in component:
                out[source] += 1
                into[target] += 1
    return max((m for m in members if m != recovery), key=lambda m: into[m] * out[m])


def _how(scope: Scope, source: str, target: str) -> str:
    """Why ``source -> target`` is a move although it is not a declared handoff."""
    if scope.moves.succ[source][target] == "fallback":
        return f"{source} -> {target} is the implicit fallback"
    via = scope.flow.agents[source].handoffs[_budgeted_handoff(scope, source)]
    return f"{source} -> {target} is the reroute of a transfer to '{via}' past its budget"


def _budgeted_handoff(scope: Scope, source: str) -> int:
    """The index of ``source``'s first handoff to a budgeted agent."""
    budget = scope.moves.budget
    return next(i for i, t in enumerate(scope.flow.agents[source].handoffs) if t in budget)


def _step(scope: Scope, source: str, target: str) -> tuple[PathKey, str]:
    """Where the move ``source -> target`` is made, and a note saying so."""
    how = scope.moves.succ[source][target]
    if how == "handoff":
        return ("agents", source, "handoffs", scope.flow.agents[source].handoffs.index(target)), (
            f"'{source}' hands off to '{target}' here"
        )
    if how == "fallback":
        return ("agents", source), f"'{source}' falls back to recovery agent '{target}' (implicit_fallback)"
    i = _budgeted_handoff(scope, source)
    via = scope.flow.agents[source].handoffs[i]
    return ("agents", source, "handoffs", i), (
        f"a transfer to '{via}' past its budget reroutes '{source}' to recovery agent '{target}'"
    )


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
