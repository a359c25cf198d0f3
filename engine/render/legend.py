"""The DOT graph label: the flow's name and settings, then a key to the colours and lines the diagram uses."""

from __future__ import annotations

from engine.flow.diagnostics import Severity
from engine.render import style as st
from engine.render.text import clip
from engine.render.text import html_text as escape
from engine.render.view import Diagram, EdgeKind, Role


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
    for key, meaning in legend_keys(diagram, layout, bundled):
        rows.append(f'<TR>{key}<TD ALIGN="LEFT">{escape(meaning)}</TD></TR>')
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
    if layout.when_lines or layout.carry_labels:
        keys.append((_text_key(st.HANDOFF_LINE, "───→"), "handoff: when rule, carried keys"))
    else:
        keys.append((_text_key(st.HANDOFF_LINE, "───→"), "handoff (hover for its when rule)"))
    if any(e.both for e in diagram.edges) or not (layout.when_lines or layout.carry_labels):
        keys.append((_text_key(st.HANDOFF_LINE, "←──→"), "handoffs both ways"))
    if bundled:
        keys.append((_text_key(st.BUNDLE_LINE, "══ N ══→"), "N handoffs between two groups (hover: which)"))
    if diagram.fallback_all is not None or any(e.kind is EdgeKind.FALLBACK for e in diagram.edges):
        keys.append((_text_key(st.FALLBACK_LINE, "- - - →"), "implicit fallback to recovery"))
    return keys


def _swatch(fill: str, line: str, text: str) -> str:
    return (
        f'<TD BORDER="1" STYLE="ROUNDED" COLOR="{line}" BGCOLOR="{fill}" WIDTH="70" FIXEDSIZE="TRUE" '
        f'HEIGHT="16"><FONT POINT-SIZE="8" COLOR="{line}"><B>{escape(text)}</B></FONT></TD>'
    )


def _text_key(colour: str, text: str) -> str:
    return f'<TD ALIGN="CENTER"><FONT COLOR="{colour}" POINT-SIZE="10"><B>{escape(text)}</B></FONT></TD>'
