"""The DOT writer: a :class:`Diagram` becomes a ``graphviz.Digraph`` (pure: no files, no ``dot`` binary)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import graphviz

from engine.flow.diagnostics import Diagnostic, Severity
from engine.flow.model import Flow
from engine.render import style as st
from engine.render.legend import legend
from engine.render.text import clip, wrap
from engine.render.view import (
    Diagram,
    Edge,
    EdgeKind,
    Escalation,
    FallbackAll,
    Node,
    Role,
    build_diagram,
    merge_pairs,
)

START, ANY_AGENT = "__start", "__any_agent"
SUPERVISOR, CHATTING, ESCALATED = "__supervisor", "__chatting", "__escalated"


def layout_of(diagram: Diagram) -> st.Layout:
    return st.layout_for(len(diagram.nodes), len(diagram.edges))


def flow_digraph(flow: Flow, diagnostics: Sequence[Diagnostic] = (), layout: st.Layout | None = None,
                 ) -> graphviz.Digraph:
    """The ``graphviz.Digraph`` of ``flow`` (agents flagged by ``diagnostics`` drawn in a warning colour)."""
    return diagram_digraph(build_diagram(flow, diagnostics), layout)


def dot_source(flow: Flow, diagnostics: Sequence[Diagnostic] = (), layout: st.Layout | None = None) -> str:
    """The DOT text of ``flow``: deterministic for the same flow, diagnostics and ``graphviz`` package."""
    return str(flow_digraph(flow, diagnostics, layout).source)


def diagram_digraph(diagram: Diagram, layout: st.Layout | None = None) -> graphviz.Digraph:
    layout = layout or layout_of(diagram)
    g = graphviz.Digraph(diagram.name)
    g.attr(rankdir="TB", newrank="true", compound="true", fontname=st.FONT, fontsize="10", labelloc="b",
           labeljust="l", outputorder="edgesfirst", pad="0.2", **layout.graph_attr)
    g.attr("node", fontname=st.FONT, fontsize="11", fontcolor=st.INK, shape="box", style="rounded,filled",
           margin="0.12,0.06", penwidth="1.2")
    g.attr("edge", fontname=st.FONT, fontsize="9", fontcolor=st.MUTED, color=st.HANDOFF_LINE, arrowsize="0.7")

    by_group: dict[str | None, list[Node]] = {}
    for node in diagram.nodes:
        by_group.setdefault(node.group, []).append(node)
    for node in by_group.get(None, []):
        _agent(g, node, layout)
    for i, group in enumerate(diagram.groups):
        with g.subgraph(name=_cluster(i)) as c:
            c.attr(label=f"<<B>{escape(group)}</B>>", style="rounded,dashed", color="#9aa5b1", fontcolor=st.MUTED,
                   labeljust="l", labelloc="t")
            for node in by_group[group]:
                _agent(c, node, layout)

    if diagram.entry is not None:
        g.node(START, "", shape="circle", style="filled", fillcolor=st.INK, color=st.INK, width="0.18",
               fixedsize="true", tooltip="conversations start here")
        g.edge(START, diagram.entry, color=st.ENTRY_LINE, penwidth="1.6", tooltip="entry")
    colours = {n.name: st.EDGE_COLOURS[i % len(st.EDGE_COLOURS)] for i, n in enumerate(diagram.nodes)}
    levels = handoff_distances(diagram) if layout.rank_by_distance else None
    edges = list(diagram.edges)
    if not layout.when_lines and not layout.carry_labels:
        edges = merge_pairs(edges, labelled=lambda e: False)
    single, bundles = _bundle(diagram, edges) if layout.bundle_groups else (edges, {})
    for edge in single:
        _edge(g, edge, layout, colours[edge.source], levels)
    group_of = {n.name: n.group for n in diagram.nodes}
    cluster = {group: _cluster(i) for i, group in enumerate(diagram.groups)}
    for bundle in bundles.values():
        tail, head = group_of[bundle[0].source], group_of[bundle[0].target]
        assert tail is not None and head is not None
        one_way = all(group_of[e.source] == tail and not e.both for e in bundle)
        _bundle_edge(g, bundle, one_way, (cluster[tail], cluster[head]), levels)
    if diagram.fallback_all is not None:
        _fallback_all(g, diagram.fallback_all, layout)
    g.attr(label=legend(diagram, layout, bundled=bool(bundles)))
    if diagram.escalation is not None:
        _escalation(g, diagram.escalation)
    return g


def _agent(g: graphviz.Digraph, node: Node, layout: st.Layout) -> None:
    fill, line = st.AGENT_FILL, st.AGENT_LINE
    if Role.ENTRY in node.roles:
        fill, line = st.ENTRY_FILL, st.ENTRY_LINE
    if Role.RECOVERY in node.roles:
        fill, line = st.RECOVERY_FILL, st.RECOVERY_LINE
    if node.severity is Severity.ERROR:
        fill, line = st.ERROR_FILL, st.ERROR_LINE
    elif node.severity is Severity.WARNING:
        fill, line = st.WARNING_FILL, st.WARNING_LINE
    emphasised = bool({Role.ENTRY, Role.RECOVERY} & node.roles) or node.severity is not None
    lines = [f"<B>{escape(node.name)}</B>"]
    if node.description:
        desc = "<BR/>".join(escape(t) for t in clip(node.description, layout.description_width,
                                                   layout.description_lines))
        lines.append(f'<FONT POINT-SIZE="9" COLOR="{st.MUTED}">{desc}</FONT>')
    tags = _tags(node)
    if tags:
        lines.append(f'<FONT POINT-SIZE="9" COLOR="{line}"><B>{escape(tags)}</B></FONT>')
    for finding in node.findings:
        colour = st.ERROR_LINE if finding.severity is Severity.ERROR else st.WARNING_LINE
        lines.append(f'<FONT POINT-SIZE="9" COLOR="{colour}"><B>{escape(finding.text)}</B></FONT>')
    tooltip = node.description or node.name
    g.node(node.name, f"<{'<BR/>'.join(lines)}>", fillcolor=fill, color=line,
           penwidth="2.4" if emphasised else "1.2", peripheries="2" if Role.TERMINAL in node.roles else "1",
           tooltip=tooltip)


def _tags(node: Node) -> str:
    tags = [role.value.upper() for role in (Role.ENTRY, Role.RECOVERY, Role.FRONT) if role in node.roles]
    if node.max_visits is not None:
        tags.append(f"≤{node.max_visits} visit{'s' * (node.max_visits != 1)}")
    return " · ".join(tags)


def _edge_text(when: str, carry: tuple[str, ...] | None, layout: st.Layout) -> list[str]:
    lines = clip(when, layout.when_width, layout.when_lines) if when and layout.when_lines else []
    if carry is not None and layout.carry_labels:
        lines.append("carry: " + (", ".join(carry) if carry else "nothing"))
    return lines


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


def _points_back(edge: Edge, levels: dict[str, int]) -> bool:
    """The edge leads closer to the entry agent (laid out reversed, drawn with the arrow at its target)."""
    src, dst = levels.get(edge.source), levels.get(edge.target)
    return src is not None and dst is not None and dst < src


def _edge(g: graphviz.Digraph, edge: Edge, layout: st.Layout, colour: str, levels: dict[str, int] | None) -> None:
    full = _edge_text(edge.when, edge.carry, st.SMALL)
    arrow = "↔" if edge.both else "→"
    tooltip = f"{edge.source} {arrow} {edge.target}" + (": " + " ".join(full) if full else "")
    attrs: dict[str, str] = {"tooltip": tooltip}
    if edge.both:
        attrs["dir"] = "both"
    ends = (edge.source, edge.target)
    if levels is not None and _points_back(edge, levels):
        ends = (edge.target, edge.source)
        attrs["dir"] = "both" if edge.both else "back"
    text = _edge_text(edge.when, edge.carry or None if edge.kind is EdgeKind.FALLBACK else edge.carry, layout)
    if edge.kind is EdgeKind.FALLBACK:
        attrs.update(style="dashed", color=st.FALLBACK_LINE, fontcolor=st.FALLBACK_LINE)
        text = ["fallback", *text] if layout.when_lines else []
    else:
        attrs.update(color=colour, fontcolor=colour)
    if text:
        attrs.update(label="<" + "<BR/>".join(escape(t) for t in text) + ">", labeltooltip=tooltip)
    g.edge(*ends, **attrs)


def _bundle(diagram: Diagram, edges: list[Edge]) -> tuple[list[Edge], dict[tuple[str, str], list[Edge]]]:
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


def _cluster(index: int) -> str:
    return f"cluster_{index + 1}"


def _bundle_edge(g: graphviz.Digraph, edges: list[Edge], one_way: bool, clusters: tuple[str, str],
                 levels: dict[str, int] | None) -> None:
    """One edge between two clusters standing for ``edges`` (listed in its tooltip).

    It is drawn between the ends of the first edge, clipped at the cluster borders; ``one_way``: every edge
    goes from the first cluster to the second (otherwise the bundle has arrows at both ends).
    """
    count = sum(2 if e.both else 1 for e in edges)
    routes = "; ".join(f"{e.source} {'↔' if e.both else '→'} {e.target}" for e in edges)
    tooltip = f"{count} handoff{'s' * (count != 1)}: {routes}"
    (a, b), (tail, head) = (edges[0].source, edges[0].target), clusters
    direction = "forward" if one_way else "both"
    if levels is not None and a in levels and b in levels and levels[b] < levels[a]:
        a, b, tail, head = b, a, head, tail
        direction = "back" if one_way else "both"
    g.edge(a, b, ltail=tail, lhead=head, label=f"<<B>{count}</B>>", penwidth=f"{1 + min(count, 12) / 4:g}",
           color=st.BUNDLE_LINE, fontcolor=st.BUNDLE_LINE, tooltip=tooltip, labeltooltip=tooltip, dir=direction)


def _fallback_all(g: graphviz.Digraph, fallback: FallbackAll, layout: st.Layout) -> None:
    g.node(ANY_AGENT, "<<I>any agent</I>>", shape="box", style="rounded,dashed", color=st.FALLBACK_LINE,
           fontcolor=st.FALLBACK_LINE, fontsize="10", margin="0.08,0.03",
           tooltip="every agent may fall back to " + fallback.target)
    text = ["implicit fallback", *_edge_text("", fallback.carry or None, layout)]
    g.edge(ANY_AGENT, fallback.target, "<" + "<BR/>".join(escape(t) for t in text) + ">", style="dashed",
           color=st.FALLBACK_LINE, fontcolor=st.FALLBACK_LINE, penwidth="1.4")


def _escalation(g: graphviz.Digraph, esc: Escalation) -> None:
    purple = st.ESCALATION_LINE
    with g.subgraph(name="cluster_escalation") as c:
        c.attr(label="<<B>escalation machine</B> (per conversation)>", style="rounded", color=purple,
               fontcolor=purple, labeljust="l", labelloc="t", bgcolor="#fbf8fe", margin="16")
        tools = ", ".join(esc.tools) if esc.tools else "no tools"
        c.node(SUPERVISOR, "<" + "<BR/>".join([
            "<B>supervisor</B>",
            f'<FONT POINT-SIZE="9" COLOR="{st.MUTED}">{escape(esc.model)} ({escape(esc.backend)})</FONT>',
            *(f'<FONT POINT-SIZE="9" COLOR="{st.MUTED}">{escape(t)}</FONT>' for t in wrap("tools: " + tools, 34)),
            f'<FONT POINT-SIZE="9" COLOR="{purple}"><B>≤{esc.max_tool_rounds} tool rounds per turn</B></FONT>',
            f'<FONT POINT-SIZE="9" COLOR="{purple}"><B>≤{esc.max_escalations} escalations, then '
            f"{escape(esc.on_budget_exhausted.replace('_', ' '))}</B></FONT>",
        ]) + ">", shape="box", style="rounded,filled", fillcolor=st.SUPERVISOR_FILL, color=purple, penwidth="2")
        for state, name in ((CHATTING, "chatting"), (ESCALATED, "escalated")):
            c.node(state, name, shape="ellipse", style="filled", fillcolor="white", color=purple, fontcolor=purple,
                   fontsize="10", margin="0.05,0.02")
        c.edge(CHATTING, ESCALATED, f'<escalate<BR/><FONT POINT-SIZE="8"><I>{escape(esc.tool_name)}</I></FONT>>',
               color=purple, fontcolor=purple)
        c.edge(ESCALATED, CHATTING, f"<answer, or<BR/>timeout {esc.timeout_s:g} s>", color=purple,
               fontcolor=purple)
        c.edge(ESCALATED, SUPERVISOR, "asks", style="dotted", color=purple, fontcolor=purple, arrowhead="vee")
    if esc.front:
        with g.subgraph() as same:
            same.attr(rank="same")
            same.node(esc.front[0])
            same.node(CHATTING)
    for front in esc.front:
        g.edge(front, CHATTING, "<<I>hard turns</I>>", color=purple, fontcolor=purple, style="bold",
               arrowhead="none")
