"""The routing graph two ways: the adjacency dicts lint walks and the ``networkx`` graph the renderer draws."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.flow.model import Flow
from engine.verify.graph import handoff_adjacency, handoff_graph, routing_adjacency, routing_graph
from tests.verify.test_verify_properties import flows


@given(st.one_of(flows(), flows(noisy=True)))
def test_the_adjacency_dicts_are_the_networkx_graph(flow: Flow) -> None:
    for adjacency, graph in ((routing_adjacency, routing_graph), (handoff_adjacency, handoff_graph)):
        built = graph(flow)
        assert list(built.nodes) == list(flow.agents)
        assert adjacency(flow) == {source: dict(targets) for source, targets in built.adjacency()}
        # the same order too: the compiler declares transitions, and the renderer draws edges, in this order
        assert [(s, t) for s, ts in adjacency(flow).items() for t in ts] == list(built.edges)
        assert all(built.nodes[name]["agent"] is agent for name, agent in flow.agents.items())
