"""The chat-supervisor part of a DOT diagram: the supervisor and the escalation machine's two states."""

from __future__ import annotations

import graphviz

from engine.render import style as st
from engine.render.text import html_text as escape
from engine.render.text import wrap
from engine.render.view import ESCALATION_STATES, Escalation, TrafficSummary

SUPERVISOR = "__supervisor"
CHATTING, ESCALATED = (f"__{state}" for state in ESCALATION_STATES)


def draw_escalation(g: graphviz.Digraph, esc: Escalation, traffic: TrafficSummary | None = None) -> None:
    """The supervisor, the escalation machine and the front agents' links to it; ``traffic``: the escalations
    counted from audit logs go on those links."""
    purple = st.ESCALATION_LINE
    with g.subgraph(name="cluster_escalation") as c:
        c.attr(
            label="<<B>escalation machine</B> (per conversation)>",
            style="rounded",
            color=purple,
            fontcolor=purple,
            labeljust="l",
            labelloc="t",
            bgcolor="#fbf8fe",
            margin="16",
        )
        tools = ", ".join(esc.tools) if esc.tools else "no tools"
        c.node(
            SUPERVISOR,
            "<"
            + "<BR/>".join(
                [
                    "<B>supervisor</B>",
                    f'<FONT POINT-SIZE="9" COLOR="{st.MUTED}">{escape(esc.model)} ({escape(esc.backend)})</FONT>',
                    *(
                        f'<FONT POINT-SIZE="9" COLOR="{st.MUTED}">{escape(t)}</FONT>'
                        for t in wrap("tools: " + tools, 34)
                    ),
                    f'<FONT POINT-SIZE="9" COLOR="{purple}"><B>≤{esc.max_tool_rounds} tool rounds per turn</B></FONT>',
                    f'<FONT POINT-SIZE="9" COLOR="{purple}"><B>≤{esc.max_escalations} escalations, then '
                    f"{escape(esc.on_budget_exhausted.replace('_', ' '))}</B></FONT>",
                ]
            )
            + ">",
            shape="box",
            style="rounded,filled",
            fillcolor=st.SUPERVISOR_FILL,
            color=purple,
            penwidth="2",
        )
        for state, name in zip((CHATTING, ESCALATED), ESCALATION_STATES, strict=True):
            c.node(
                state,
                name,
                shape="ellipse",
                style="filled",
                fillcolor="white",
                color=purple,
                fontcolor=purple,
                fontsize="10",
                margin="0.05,0.02",
            )
        c.edge(
            CHATTING,
            ESCALATED,
            f'<escalate<BR/><FONT POINT-SIZE="8"><I>{escape(esc.tool_name)}</I></FONT>>',
            color=purple,
            fontcolor=purple,
        )
        c.edge(
            ESCALATED,
            CHATTING,
            f"<answer, or<BR/>timeout {esc.timeout_s:g} s>",
            color=purple,
            fontcolor=purple,
        )
        c.edge(ESCALATED, SUPERVISOR, "asks", style="dotted", color=purple, fontcolor=purple, arrowhead="vee")
    # No `rank=same` of the first front agent with `chatting` (it once drew the link as a level line): graphviz
    # 2.43 cannot lay that out when another front agent is in a group (cluster) that spans the same rank, e.g.
    # front = ["c", "f"], c -> a, a and f in one group. The flat edge's label then breaks ranking ("Error:
    # trouble in init_rank", exit 1), and without a label the flat edge has no corridor around the cluster
    # ("triangulation failed", the edge lost). Other `splines` do not help (ranking fails before routing);
    # ordinary edges from the front agents down to `chatting` lay out always.
    for front in esc.front:
        attrs = {"color": purple, "fontcolor": purple}
        label = "<I>hard turns</I>"
        if traffic is not None:
            counted = traffic.escalation_text(front)
            if counted:
                label += f"<BR/><B>{escape(counted)}</B>"
                attrs["tooltip"] = f"{front}: {counted}"
            else:
                attrs.update(color=st.faded(purple), fontcolor=st.faded(purple, st.COLD_TEXT_ALPHA))
        g.edge(front, CHATTING, f"<{label}>", style="bold", arrowhead="none", **attrs)
