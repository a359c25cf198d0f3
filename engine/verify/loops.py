"""Loops and their budgets: the graph a conversation can move along, its unbudgeted cycles, the walk bound.

*Moves* are the handoffs the runtime can make: every declared handoff, the implicit fallback to the
recovery agent, and the guardrail's reroute to the recovery agent (an agent that declares a handoff to a
budgeted agent is rerouted there once that budget is spent, even with ``implicit_fallback = false``).
The fallback and the reroute matter: ``front -> recovery -> front`` over the fallback is as much a
ping-pong as one over declared handoffs.

*Budgeted* agents are those whose ``max_visits`` the runtime enforces: every agent with ``max_visits``
except the recovery agent, which a guardrail reroutes to whatever its visits (its budget bounds nothing).
A walk respects the budgets when it visits each budgeted agent at most ``max_visits`` times (the entry's
first visit counts). Walks are bounded exactly when the moves among unbudgeted agents are acyclic, i.e.
when every cycle passes through a budgeted agent; the depth cap is not taken into account.

The moves are plain adjacency dicts searched with ``search.py``'s BFS and Tarjan (tested against networkx's
``strongly_connected_components``), several times faster to walk than a networkx graph.

Cost: building the moves, the SCCs of the unbudgeted part (Tarjan) and the walk bound (one pass over them
in topological order) are each O(V + E).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from engine.flow.model import Flow
from engine.verify.graph import FALLBACK, routing_graph
from engine.verify.search import bfs, strongly_connected

Move = Literal["handoff", "fallback", "reroute"]


@dataclass(frozen=True)
class Moves:
    """Every move between agents, and the budgets that bound them."""

    succ: dict[str, dict[str, Move]]
    """``{source: {target: how}}`` in file order; a declared handoff wins over the fallback or a reroute."""
    budget: dict[str, int]
    """The enforced ``max_visits`` of each budgeted agent."""

    @classmethod
    def of(cls, flow: Flow, adjacency: dict[str, dict[str, dict[str, Any]]] | None = None) -> Moves:
        """The moves of ``flow``; ``adjacency`` is its routing graph as plain dicts, when already built."""
        if adjacency is None:
            adjacency = dict(routing_graph(flow).adjacency())
        agents, recovery = flow.agents, flow.flow.recovery
        budget = {
            name: agent.max_visits
            for name, agent in agents.items()
            if agent.max_visits is not None and name != recovery
        }
        succ: dict[str, dict[str, Move]] = {}
        for source, targets in adjacency.items():
            moves: dict[str, Move] = {
                target: "fallback" if data["kind"] == FALLBACK else "handoff"
                for target, data in targets.items()
            }
            if (
                source != recovery
                and recovery in agents
                and recovery not in moves
                and any(t in budget for t in moves)
            ):
                moves[recovery] = "reroute"
            succ[source] = moves
        return cls(succ, budget)

    @cached_property
    def unbudgeted(self) -> dict[str, list[str]]:
        """The moves among unbudgeted agents, as adjacency lists."""
        budget = self.budget
        return {
            source: [target for target in targets if target not in budget]
            for source, targets in self.succ.items()
            if source not in budget
        }


def unbudgeted_loops(moves: Moves) -> list[list[str]]:
    """The strongly connected components of 2+ unbudgeted agents: each holds a cycle no budget bounds."""
    return [component for component in strongly_connected(moves.unbudgeted) if len(component) > 1]


def walk_bound(flow: Flow, moves: Moves | None = None) -> int | None:
    """An upper bound on the handoffs of any budget-respecting walk from the entry agent, or ``None`` when
    the entry is unknown or reaches an unbudgeted cycle (then walks are unbounded).

    Between two visits to budgeted agents a walk stays among unbudgeted agents, which (reachable from the
    entry, without an unbudgeted cycle) form a DAG, so each such run is a path. With ``run(v)`` the agents on
    the longest unbudgeted path from ``v`` and ``after(b)`` the longest run that can follow budgeted agent
    ``b`` (the longest ``run`` of its unbudgeted successors), a walk visits at most::

        run(entry) + sum over reachable budgeted b of max_visits(b) * (1 + after(b))

    agents (``run(entry)`` is 0 for a budgeted entry), and makes one handoff fewer. This is never more than
    ``(B + 1) * (L + 2) - 2`` for ``B`` the sum of the reachable budgets and ``L`` the longest unbudgeted path
    in handoffs.
    """
    entry = flow.flow.entry
    if entry not in flow.agents:
        return None
    if moves is None:
        moves = Moves.of(flow)
    reached = bfs([entry], moves.succ.__getitem__).depth
    budget = moves.budget
    inner = {
        source: [target for target in moves.succ[source] if target not in budget]
        for source in reached
        if source not in budget
    }
    run: dict[str, int] = {}
    for component in strongly_connected(inner):  # sinks first: a reverse topological order
        if len(component) > 1:
            return None
        [node] = component
        run[node] = 1 + max((run[target] for target in inner[node]), default=0)
    visits = run.get(entry, 0)
    for name in reached:
        if name in budget:
            after = max((run[t] for t in moves.succ[name] if t not in budget), default=0)
            visits += budget[name] * (1 + after)
    return visits - 1
