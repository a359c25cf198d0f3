"""The flow as a graph: the one graph the verifier checks, the compiler builds and the renderer draws.

As plain adjacency dicts (:func:`routing_adjacency`: what lint walks) or as a ``networkx`` graph
(:func:`routing_graph`: what the renderer and the tests query). ``networkx`` is imported only for the
latter: importing it takes ~0.13 s, a third of a small flow's whole ``switchboard lint``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.flow.model import Flow

if TYPE_CHECKING:
    import networkx as nx

HANDOFF = "handoff"
FALLBACK = "fallback"

Adjacency = dict[str, dict[str, dict[str, Any]]]
"""``{source: {target: edge data}}``, every agent a key, in declaration order (what ``nx.DiGraph`` holds)."""


def handoff_adjacency(flow: Flow) -> Adjacency:
    """One ``kind="handoff"`` edge per declared handoff to a known agent (no self-loops); edge attribute
    ``contract`` is the declared :class:`Handoff` or ``None``. Unknown targets and self-handoffs are left
    out (the verifier reports them)."""
    contracts = flow.contracts
    return {
        name: {
            target: {"kind": HANDOFF, "contract": contracts.get((name, target))}
            for target in dict.fromkeys(agent.handoffs)
            if target in flow.agents and target != name
        }
        for name, agent in flow.agents.items()
    }


def routing_adjacency(flow: Flow) -> Adjacency:
    """The handoff edges plus the implicit fallback edges (``kind="fallback"``): every route the runtime allows."""
    adjacency = handoff_adjacency(flow)
    recovery = flow.flow.recovery
    for name in fallback_sources(flow):
        adjacency[name][recovery] = {"kind": FALLBACK, "contract": None}
    return adjacency


def handoff_graph(flow: Flow) -> nx.DiGraph:
    """:func:`handoff_adjacency` as a graph; node attribute ``agent`` holds the :class:`Agent`."""
    return _digraph(flow, handoff_adjacency(flow))


def routing_graph(flow: Flow) -> nx.DiGraph:
    """:func:`routing_adjacency` as a graph; node attribute ``agent`` holds the :class:`Agent`."""
    return _digraph(flow, routing_adjacency(flow))


def _digraph(flow: Flow, adjacency: Adjacency) -> nx.DiGraph:
    import networkx as nx  # here, not at the top: lint never needs it (see the module doc)

    graph = nx.DiGraph()
    graph.add_nodes_from((name, {"agent": agent}) for name, agent in flow.agents.items())
    graph.add_edges_from(
        (source, target, data) for source, targets in adjacency.items() for target, data in targets.items()
    )
    return graph


def has_fallback(flow: Flow, agent: str) -> bool:
    """Whether ``agent`` gets the implicit route straight to the recovery agent (not declared, not opted out)."""
    recovery = flow.flow.recovery
    return (
        flow.flow.implicit_fallback
        and recovery in flow.agents
        and agent != recovery
        and recovery not in flow.agents[agent].handoffs
    )


def fallback_sources(flow: Flow) -> list[str]:
    """Agents that get the implicit route straight to the recovery agent (none when the flow opts out)."""
    return [name for name in flow.agents if has_fallback(flow, name)]
