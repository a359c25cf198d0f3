"""The DOT graph label: the flow's name and settings, then a key to the colours and lines the diagram uses."""

from __future__ import annotations

from engine.flow.diagnostics import Severity
from engine.render import style as st
from engine.render.text import clip
from engine.render.text import html_text as escape
from engine.render.view import ELSEWHERE_SHOWN, Diagram, EdgeKind, Role, TrafficSummary


def legend(diagram: Diagram, layout: st.Layout, bundled: bool = False) -> str:
    """An HTML-like label (a table): title, description, then one row per kind of mark used."""
    title = (
        f'<FONT POINT-SIZE="13"><B>{escape(diagram.name)}</B></FONT>   <FONT COLOR="{st.MUTED}">'
        f"max handoff depth {diagram.max_handoff_depth}</FONT>"
    )
    rows = [
        '<TR><TD COLSPAN="2" HEIGHT="10"></TD></TR>',
        f'<TR><TD ALIGN="LEFT" COLSPAN="2">{title}</TD></TR>',
    ]
    if diagram.description:
        desc = '<BR ALIGN="LEFT"/>'.join(escape(t) for t in clip(diagram.description, 56, 3))
        rows.append(
            f'<TR><TD ALIGN="LEFT" COLSPAN="2"><FONT COLOR="{st.MUTED}">{desc}'
            '<BR ALIGN="LEFT"/></FONT></TD></TR>'
        )
    if diagram.traffic is not None:
        rows.append(
            f'<TR><TD ALIGN="LEFT" COLSPAN="2"><B>{escape(traffic_line(diagram.traffic))}</B></TD></TR>'
        )
    for key, meaning in legend_keys(diagram, layout, bundled):
        rows.append(f'<TR>{key}<TD ALIGN="LEFT">{escape(meaning)}</TD></TR>')
    if diagram.traffic is not None and diagram.traffic.elsewhere:
        rows += _elsewhere(diagram.traffic, diagram.recovery)
    return '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="1">' + "".join(rows) + "</TABLE>>"


def legend_keys(diagram: Diagram, layout: st.Layout, bundled: bool) -> list[tuple[str, str]]:
    """(key cell, meaning) for every kind of node and edge the diagram shows."""
    keys = [(_swatch(st.ENTRY_FILL, st.ENTRY_LINE, "ENTRY"), "first agent (● start)")]
    if diagram.recovery is not None:
        keys.append((_swatch(st.RECOVERY_FILL, st.RECOVERY_LINE, "RECOVERY"), "fallback agent"))
    keys.append((_swatch(st.AGENT_FILL, st.AGENT_LINE, "agent"), "specialist"))
    severities = {n.severity for n in diagram.nodes}
    if Severity.ERROR in severities:
        keys.append((_swatch(st.ERROR_FILL, st.ERROR_LINE, "SBxxx"), "lint error on the agent (rule code)"))
    if Severity.WARNING in severities:
        keys.append(
            (_swatch(st.WARNING_FILL, st.WARNING_LINE, "SBxxx"), "lint warning on the agent (rule code)")
        )
    if diagram.escalation is not None:
        keys.append(
            (
                _swatch(st.SUPERVISOR_FILL, st.SUPERVISOR_LINE, "supervisor"),
                "answers the front agent's hard turns",
            )
        )
    if any(Role.TERMINAL in n.roles for n in diagram.nodes):
        keys.append((_text_key(st.AGENT_LINE, "double border"), "the call may end here"))
    if any(n.max_visits is not None for n in diagram.nodes):
        keys.append((_text_key(st.AGENT_LINE, "≤N visits"), "loop budget per conversation"))
    if layout.text_on_edges:
        keys.append((_text_key(st.HANDOFF_LINE, "───→"), "handoff: when rule, carried keys, history policy"))
    else:
        keys.append((_text_key(st.HANDOFF_LINE, "───→"), "handoff (hover for its when rule)"))
    if any(e.both for e in diagram.edges) or not layout.text_on_edges:
        keys.append((_text_key(st.HANDOFF_LINE, "←──→"), "handoffs both ways"))
    if bundled and diagram.traffic is not None:
        keys.append(
            (
                _text_key(st.faded(st.BUNDLE_LINE, st.COLD_TEXT_ALPHA), "══ N ══→"),
                "N handoffs between two groups, none taken (hover: which)",
            )
        )
    elif bundled:
        keys.append((_text_key(st.BUNDLE_LINE, "══ N ══→"), "N handoffs between two groups (hover: which)"))
    if diagram.fallback_all is not None or any(e.kind is EdgeKind.FALLBACK for e in diagram.edges):
        keys.append((_text_key(st.FALLBACK_LINE, "- - - →"), "implicit fallback to recovery"))
    if diagram.traffic is not None:
        keys += _traffic_keys(diagram, diagram.traffic, layout)
    if any(e.uncovered for e in diagram.edges):
        keys.append((_text_key(st.UNCOVERED_LINE, "- - - →"), "no test takes this route"))
    return keys


def traffic_line(traffic: TrafficSummary) -> str:
    """``traffic from N conversations / M handoffs`` (and the refused attempts, if any)."""
    n, m = traffic.conversations, traffic.handoffs
    line = f"traffic from {n} conversation{'s' * (n != 1)} / {m} handoff{'s' * (m != 1)}"
    line += f" ({traffic.refused} refused)" if traffic.refused else ""
    escalations = sum(count for _, _, count in traffic.escalations)
    return line + (f" / {escalations} escalation{'s' * (escalations != 1)}" if escalations else "")


def _traffic_keys(diagram: Diagram, traffic: TrafficSummary, layout: st.Layout) -> list[tuple[str, str]]:
    edges = [e.traffic for e in diagram.edges if e.traffic is not None]
    where = "on the edge" if layout.text_on_edges else "hover an edge"
    keys = [
        (_text_key(st.HANDOFF_LINE, "━━ ×N ━→"), f"taken N times in the logs ({where}; thicker: more)"),
        (_text_key(st.faded(st.HANDOFF_LINE, st.COLD_TEXT_ALPHA), "───→"), "no traffic in the logs"),
    ]
    if any(t.any and not t.taken for t in edges):
        keys.append((_text_key(st.HANDOFF_LINE, "· · · ·→"), "asked for, never taken (refused or rerouted)"))
    if traffic.refused:
        keys.append((_text_key(st.REFUSED_LINE, "refused N"), "transfers asked for and refused"))
    if any(t.capped or t.rerouted_capped for t in edges):
        keys.append((_text_key(st.REROUTED_LINE, "capped N"), "sent to recovery: handoff depth cap reached"))
    if any(t.recovered or t.rerouted_recovered for t in edges):
        keys.append(
            (
                _text_key(st.REROUTED_LINE, "recovered N"),
                "sent to recovery: a visit (or escalation) budget spent",
            )
        )
    return keys


def _elsewhere(traffic: TrafficSummary, recovery: str | None, limit: int = ELSEWHERE_SHOWN) -> list[str]:
    """Rows for the attempts on routes the flow does not have (at most ``limit``, then how many more)."""
    rows = [
        f'<TR><TD ALIGN="LEFT" COLSPAN="2"><FONT COLOR="{st.REFUSED_LINE}"><B>'
        "not routes of this flow (not drawn):</B></FONT></TD></TR>"
    ]
    for source, target, counts in traffic.elsewhere[:limit]:
        rows.append(
            f'<TR><TD ALIGN="CENTER"><FONT COLOR="{st.REFUSED_LINE}">{escape(counts.text(recovery))}</FONT></TD>'
            f'<TD ALIGN="LEFT">{escape(source)} ↛ {escape(target)}</TD></TR>'
        )
    if len(traffic.elsewhere) > limit:
        rows.append(f'<TR><TD></TD><TD ALIGN="LEFT">… and {len(traffic.elsewhere) - limit} more</TD></TR>')
    return rows


def _swatch(fill: str, line: str, text: str) -> str:
    return (
        f'<TD BORDER="1" STYLE="ROUNDED" COLOR="{line}" BGCOLOR="{fill}" WIDTH="70" FIXEDSIZE="TRUE" '
        f'HEIGHT="16"><FONT POINT-SIZE="8" COLOR="{line}"><B>{escape(text)}</B></FONT></TD>'
    )


def _text_key(colour: str, text: str) -> str:
    return f'<TD ALIGN="CENTER"><FONT COLOR="{colour}" POINT-SIZE="10"><B>{escape(text)}</B></FONT></TD>'
