"""Layout helpers of the DOT writer: ranks by handoff distance, and bundles of handoffs between groups.

``dot`` ranks nodes by the longest path after breaking cycles with a depth-first search; on a dense flow full
of cycles that path runs through most agents (a 200-agent flow got 400 ranks and took minutes to route).
Laying out every edge that leads back towards the entry reversed (``dir=back``: the arrow still points at the
real target) makes the ranks the handoff distance from the entry, a handful even for hundreds of agents.
"""

from __future__ import annotations

import graphviz

from engine.render import style as st
from engine.render.view import Diagram, Edge, EdgeKind


def handoff_distances(diagram: Diagram) -> dict[str, int]:
    """Handoffs from the entry agent to each agent it reaches through declared handoffs (breadth first)."""
    if diagram.entry is None:
        return {}
    out: dict[str, list[str]] = {}
    for e in diagram.edges:
        if e.kind is EdgeKind.HANDOFF:
            out.setdefault(e.source, []).append(e.target)
            if e.both:
                out.setdefault(e.target, []).append(e.source)
    levels = {diagram.entry: 0}
    frontier = [diagram.entry]
    while frontier:
        following: list[str] = []
        for name in frontier:
            for target in out.get(name, []):
                if target not in levels:
                    levels[target] = levels[name] + 1
                    following.append(target)
        frontier = following
    return levels


def points_back(edge: Edge, levels: dict[str, int]) -> bool:
    """The edge leads closer to the entry agent (laid out reversed, drawn with the arrow at its target)."""
    src, dst = levels.get(edge.source), levels.get(edge.target)
    return src is not None and dst is not None and dst < src


def bundle(diagram: Diagram, edges: list[Edge]) -> tuple[list[Edge], dict[tuple[str, str], list[Edge]]]:
    """Handoffs between two groups (either way), bundled by pair of groups where there are two or more."""
    group = {n.name: n.group for n in diagram.nodes}
    order = {g: i for i, g in enumerate(diagram.groups)}
    found: dict[tuple[str, str], list[Edge]] = {}
    single: list[Edge] = []
    for e in edges:
        tail, head = group[e.source], group[e.target]
        if e.kind is EdgeKind.HANDOFF and tail is not None and head is not None and tail != head:
            key = (tail, head) if order[tail] < order[head] else (head, tail)
            found.setdefault(key, []).append(e)
        else:
            single.append(e)
    for key in [k for k, v in found.items() if len(v) < 2]:
        single += found.pop(key)
    return single, found


def cluster_name(index: int) -> str:
    return f"cluster_{index + 1}"


def bundle_edge(
    g: graphviz.Digraph,
    edges: list[Edge],
    one_way: bool,
    clusters: tuple[str, str],
    levels: dict[str, int] | None,
    cold: bool = False,
) -> None:
    """One edge between two clusters standing for ``edges`` (listed in its tooltip).

    It is drawn between the ends of the first edge, clipped at the cluster borders; ``one_way``: every edge
    goes from the first cluster to the second (otherwise the bundle has arrows at both ends). ``cold``: a
    traffic overlay is on and none of the edges carried traffic (drawn lighter).
    """
    count = sum(2 if e.both else 1 for e in edges)
    routes = "; ".join(f"{e.source} {'↔' if e.both else '→'} {e.target}" for e in edges)
    tooltip = f"{count} handoff{'s' * (count != 1)}: {routes}"
    (a, b), (tail, head) = (edges[0].source, edges[0].target), clusters
    direction = "forward" if one_way else "both"
    if levels is not None and a in levels and b in levels and levels[b] < levels[a]:
        a, b, tail, head = b, a, head, tail
        direction = "back" if one_way else "both"
    g.edge(
        a,
        b,
        ltail=tail,
        lhead=head,
        label=f"<<B>{count}</B>>",
        penwidth=f"{1 + min(count, 12) / 4:g}",
        color=st.faded(st.BUNDLE_LINE) if cold else st.BUNDLE_LINE,
        fontcolor=st.faded(st.BUNDLE_LINE, st.COLD_TEXT_ALPHA) if cold else st.BUNDLE_LINE,
        tooltip=tooltip,
        labeltooltip=tooltip,
        dir=direction,
    )
