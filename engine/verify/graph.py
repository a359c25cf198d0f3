"""The flow as a ``networkx`` graph: the one graph the verifier checks, the compiler builds and the renderer draws."""

from __future__ import annotations

import networkx as nx

from engine.flow.model import Flow

HANDOFF = "handoff"
FALLBACK = "fallback"


def handoff_graph(flow: Flow) -> nx.DiGraph:
    """Agents as nodes; one ``kind="handoff"`` edge per declared handoff to a known agent (no self-loops).

    Node attribute ``agent`` holds the :class:`Agent`; edge attribute ``contract`` the declared
    :class:`Handoff` or ``None``. Unknown targets and self-handoffs are left out (the verifier reports them).
    """
    graph = nx.DiGraph()
    graph.add_nodes_from((name, {"agent": agent}) for name, agent in flow.agents.items())
    contracts = flow.contracts
    graph.add_edges_from(
        (name, target, {"kind": HANDOFF, "contract": contracts.get((name, target))})
        for name, agent in flow.agents.items()
        for target in dict.fromkeys(agent.handoffs)
        if target in flow.agents and target != name
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


def routing_graph(flow: Flow) -> nx.DiGraph:
    """The handoff graph plus the implicit fallback edges (``kind="fallback"``): every route the runtime allows."""
    graph = handoff_graph(flow)
    recovery = flow.flow.recovery
    graph.add_edges_from(
        (name, recovery, {"kind": FALLBACK, "contract": None}) for name in fallback_sources(flow)
    )
    return graph
