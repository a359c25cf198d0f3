"""The DOT writer: a :class:`Diagram` becomes a ``graphviz.Digraph`` (pure: no files, no ``dot`` binary)."""

from __future__ import annotations

from collections.abc import Sequence

import graphviz

from engine.flow.diagnostics import Diagnostic, Severity
from engine.flow.model import Flow
from engine.render import style as st
from engine.render.dot_escalation import draw_escalation
from engine.render.dot_layout import bundle, bundle_edge, cluster_name, handoff_distances, points_back
from engine.render.legend import legend
from engine.render.text import clip
from engine.render.text import html_text as escape
from engine.render.view import (
    Diagram,
    Edge,
    EdgeKind,
    EdgeTraffic,
    FallbackAll,
    Node,
    Role,
    build_diagram,
    merge_pairs,
)

START, ANY_AGENT = "__start", "__any_agent"


def layout_of(diagram: Diagram) -> st.Layout:
    return st.layout_for(len(diagram.nodes), len(diagram.edges))


def flow_digraph(
    flow: Flow,
    diagnostics: Sequence[Diagnostic] = (),
    layout: st.Layout | None = None,
) -> graphviz.Digraph:
    """The ``graphviz.Digraph`` of ``flow`` (agents flagged by ``diagnostics`` drawn in a warning colour)."""
    return diagram_digraph(build_diagram(flow, diagnostics), layout)


def dot_source(flow: Flow, diagnostics: Sequence[Diagnostic] = (), layout: st.Layout | None = None) -> str:
    """The DOT text of ``flow``: deterministic for the same flow, diagnostics and ``graphviz`` package."""
    return str(flow_digraph(flow, diagnostics, layout).source)


def diagram_digraph(diagram: Diagram, layout: st.Layout | None = None) -> graphviz.Digraph:
    layout = layout or layout_of(diagram)
    g = graphviz.Digraph(diagram.name)
    g.attr(
        rankdir="TB",
        newrank="true",
        compound="true",
        fontname=st.FONT,
        fontsize="10",
        labelloc="b",
        labeljust="l",
        outputorder="edgesfirst",
        pad="0.2",
        **layout.graph_attr,
    )
    g.attr(
        "node",
        fontname=st.FONT,
        fontsize="11",
        fontcolor=st.INK,
        shape="box",
        style="rounded,filled",
        margin="0.12,0.06",
        penwidth="1.2",
    )
    g.attr("edge", fontname=st.FONT, fontsize="9", fontcolor=st.MUTED, color=st.HANDOFF_LINE, arrowsize="0.7")

    by_group = diagram.nodes_by_group()
    for node in by_group.get(None, []):
        _agent(g, node, layout)
    for i, group in enumerate(diagram.groups):
        with g.subgraph(name=cluster_name(i)) as c:
            c.attr(
                label=f"<<B>{escape(group)}</B>>",
                style="rounded,dashed",
                color="#9aa5b1",
                fontcolor=st.MUTED,
                labeljust="l",
                labelloc="t",
            )
            for node in by_group[group]:
                _agent(c, node, layout)

    if diagram.entry is not None:
        g.node(
            START,
            "",
            shape="circle",
            style="filled",
            fillcolor=st.INK,
            color=st.INK,
            width="0.18",
            fixedsize="true",
            tooltip="conversations start here",
        )
        tooltip = "entry"
        if diagram.traffic is not None:
            n = diagram.traffic.conversations
            tooltip = f"entry: {n} conversation{'s' * (n != 1)} in the audit logs"
        g.edge(START, diagram.entry, color=st.ENTRY_LINE, penwidth="1.6", tooltip=tooltip)
    colours = {n.name: st.EDGE_COLOURS[i % len(st.EDGE_COLOURS)] for i, n in enumerate(diagram.nodes)}
    levels = handoff_distances(diagram) if layout.rank_by_distance else None
    edges = list(diagram.edges)
    if not layout.text_on_edges:
        edges = merge_pairs(edges, labelled=lambda e: e.hot)
    single: list[Edge] = edges
    bundles: dict[tuple[str, str], list[Edge]] = {}
    if layout.bundle_groups:  # routes with traffic are drawn one by one, never bundled
        single, bundles = bundle(diagram, [e for e in edges if not e.hot])
        single = [e for e in edges if e.hot] + single
    busiest = diagram.traffic.busiest if diagram.traffic is not None else 0
    for edge in single:
        _edge(g, edge, layout, colours[edge.source], levels, diagram.recovery, busiest)
    group_of = {n.name: n.group for n in diagram.nodes}
    cluster = {group: cluster_name(i) for i, group in enumerate(diagram.groups)}
    for group_edges in bundles.values():
        tail, head = group_of[group_edges[0].source], group_of[group_edges[0].target]
        assert tail is not None and head is not None
        one_way = all(group_of[e.source] == tail and not e.both for e in group_edges)
        bundle_edge(
            g, group_edges, one_way, (cluster[tail], cluster[head]), levels, cold=diagram.traffic is not None
        )
    if diagram.fallback_all is not None:
        _fallback_all(g, diagram, diagram.fallback_all, layout)
    g.attr(label=legend(diagram, layout, bundled=bool(bundles)))
    if diagram.escalation is not None:
        draw_escalation(g, diagram.escalation, diagram.traffic)
    return g


def _agent(g: graphviz.Digraph, node: Node, layout: st.Layout) -> None:
    fill, line = st.NODE_COLOURS[node.palette]
    emphasised = node.palette != "agent"
    lines = [f"<B>{escape(node.name)}</B>"]
    if node.description:
        desc = "<BR/>".join(
            escape(t) for t in clip(node.description, layout.description_width, layout.description_lines)
        )
        lines.append(f'<FONT POINT-SIZE="9" COLOR="{st.MUTED}">{desc}</FONT>')
    if node.tags:
        lines.append(f'<FONT POINT-SIZE="9" COLOR="{line}"><B>{escape(node.tags)}</B></FONT>')
    for finding in node.findings:
        colour = st.ERROR_LINE if finding.severity is Severity.ERROR else st.WARNING_LINE
        lines.append(f'<FONT POINT-SIZE="9" COLOR="{colour}"><B>{escape(finding.text)}</B></FONT>')
    tooltip = _plain(node.description or node.name)
    g.node(
        node.name,
        f"<{'<BR/>'.join(lines)}>",
        fillcolor=fill,
        color=line,
        penwidth="2.4" if emphasised else "1.2",
        peripheries="2" if Role.TERMINAL in node.roles else "1",
        tooltip=tooltip,
    )


def _plain(text: str) -> str:
    """``text`` for a DOT escString attribute (a tooltip): backslashes doubled, never taken for HTML."""
    plain: str = graphviz.nohtml(text.replace("\\", "\\\\"))
    return plain


def _edge(
    g: graphviz.Digraph,
    edge: Edge,
    layout: st.Layout,
    colour: str,
    levels: dict[str, int] | None,
    recovery: str | None = None,
    busiest: int = 0,
) -> None:
    full = st.SMALL.edge_text(edge.when, edge.carry)
    arrow = "↔" if edge.both else "→"
    counted = f" ({edge.traffic.text(recovery)})" if edge.hot and edge.traffic is not None else ""
    tooltip = _plain(
        f"{edge.source} {arrow} {edge.target}{counted}" + (": " + " ".join(full) if full else "")
    )
    attrs: dict[str, str] = {"tooltip": tooltip}
    if edge.both:
        attrs["dir"] = "both"
    ends = (edge.source, edge.target)
    if levels is not None and points_back(edge, levels):
        ends = (edge.target, edge.source)
        attrs["dir"] = "both" if edge.both else "back"
    text = layout.edge_text(edge.when, edge.label_carry, edge.history)
    if edge.kind is EdgeKind.FALLBACK:
        attrs.update(style="dashed", color=st.FALLBACK_LINE, fontcolor=st.FALLBACK_LINE)
        text = ["fallback", *text] if layout.when_lines else []
    else:
        attrs.update(color=colour, fontcolor=colour)
    lines = [escape(t) for t in text]
    if edge.traffic is not None:
        lines = _traffic(attrs, edge.traffic, recovery, busiest, lines, layout)
    if edge.uncovered:  # last: the coverage mark wins over any other style of the edge
        attrs.update(
            style="dashed",
            color=st.UNCOVERED_LINE,
            fontcolor=st.UNCOVERED_LINE,
            penwidth="2",
            tooltip="not covered by the tests: " + tooltip,
        )
    if lines:
        attrs.update(label="<" + "<BR/>".join(lines) + ">", labeltooltip=tooltip)
    g.edge(*ends, **attrs)


def _traffic(
    attrs: dict[str, str],
    traffic: EdgeTraffic,
    recovery: str | None,
    busiest: int,
    lines: list[str],
    layout: st.Layout,
) -> list[str]:
    """Style an edge by its traffic: counts first in its label, width by handoffs taken, lighter if none."""
    if not traffic.any:
        attrs.update(color=st.faded(attrs["color"]), fontcolor=st.faded(attrs["color"], st.COLD_TEXT_ALPHA))
        return lines
    if traffic.taken:
        width = st.traffic_width(traffic.taken, busiest)
        attrs.update(penwidth=f"{width:g}", arrowsize=f"{max(0.45, 0.9 - width / 12):.2g}")
    elif "style" not in attrs:  # asked for, never taken: every attempt refused or rerouted
        attrs["style"] = "dotted"
    if not layout.text_on_edges:
        return lines  # no text on edges: the counts are in the tooltip
    colours = {"taken": attrs["color"], "refused": st.REFUSED_LINE, "rerouted": st.REROUTED_LINE}
    counts = " · ".join(
        f'<FONT COLOR="{colours[kind]}"><B>{escape(text)}</B></FONT>'
        for text, kind in traffic.parts(recovery)
    )
    return [f'<FONT POINT-SIZE="10">{counts}</FONT>', *lines]


def _fallback_all(g: graphviz.Digraph, diagram: Diagram, fallback: FallbackAll, layout: st.Layout) -> None:
    colour, text_colour, label, tooltip = st.FALLBACK_LINE, st.FALLBACK_LINE, "any agent", "every agent"
    if diagram.traffic is not None:
        colour, text_colour = st.faded(colour), st.faded(colour, st.COLD_TEXT_ALPHA)
    if diagram.fallback_split:
        label, tooltip = "any other agent", "every other agent"
    g.node(
        ANY_AGENT,
        f"<<I>{label}</I>>",
        shape="box",
        style="rounded,dashed",
        color=colour,
        fontcolor=text_colour,
        fontsize="10",
        margin="0.08,0.03",
        tooltip=f"{tooltip} may fall back to {fallback.target}",
    )
    text = ["implicit fallback", *layout.edge_text("", fallback.carry or None)]
    g.edge(
        ANY_AGENT,
        fallback.target,
        "<" + "<BR/>".join(escape(t) for t in text) + ">",
        style="dashed",
        color=colour,
        fontcolor=text_colour,
        penwidth="1.4",
    )
