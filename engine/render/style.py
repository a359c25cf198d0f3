"""Colours and layout presets shared by the DOT and Mermaid writers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from engine.render.text import clip

FONT = "Helvetica,Arial,sans-serif"

INK = "#1f2933"
MUTED = "#52606d"
AGENT_FILL, AGENT_LINE = "#eef3fb", "#5b7db1"
ENTRY_FILL, ENTRY_LINE = "#dcf2e0", "#2e7d32"
RECOVERY_FILL, RECOVERY_LINE = "#ffe4c2", "#d9480f"
ERROR_FILL, ERROR_LINE = "#fde2e0", "#c62828"
WARNING_FILL, WARNING_LINE = "#fff9b8", "#8f7a00"
SUPERVISOR_FILL, SUPERVISOR_LINE = "#f1e8fb", "#6a3d9a"
NODE_COLOURS = {
    "agent": (AGENT_FILL, AGENT_LINE),
    "entry": (ENTRY_FILL, ENTRY_LINE),
    "recovery": (RECOVERY_FILL, RECOVERY_LINE),
    "error": (ERROR_FILL, ERROR_LINE),
    "warning": (WARNING_FILL, WARNING_LINE),
}
"""Fill and line of an agent, by its :attr:`~engine.render.view.Node.palette`."""
HANDOFF_LINE = "#4d5b6a"
FALLBACK_LINE = RECOVERY_LINE
BUNDLE_LINE = "#334e68"
ESCALATION_LINE = SUPERVISOR_LINE


EDGE_COLOURS = ("#2b6cb0", "#0f766e", "#8c564b", "#b83280", "#475569", "#3730a3", "#6b7a1f", "#0e7490")
"""Handoff edges take their source agent's colour (so a label is easy to match with its edge); none of these is
the entry green, the recovery orange, the supervisor purple or the lint red."""


@dataclass(frozen=True)
class Layout:
    """How much text a diagram carries and the ``dot`` settings that lay it out (chosen by size)."""

    name: str
    description_width: int
    description_lines: int
    when_width: int
    when_lines: int
    """``0``: no ``when`` text on the edge (it stays in the SVG tooltip)."""
    rank_by_distance: bool = False
    """Edges that lead back towards the entry are laid out reversed (``dir=back``), so ranks follow the
    handoff distance from the entry instead of the depth of a search through the cycles."""
    carry_labels: bool = True
    bundle_groups: bool = False
    """Handoffs between two groups drawn as one edge between the clusters, labelled with their count."""
    graph_attr: dict[str, str] = field(default_factory=dict)

    @property
    def text_on_edges(self) -> bool:
        """Edges carry text (their ``when`` rule or carried keys); otherwise it is only in the SVG tooltips."""
        return bool(self.when_lines or self.carry_labels)

    def edge_text(self, when: str, carry: tuple[str, ...] | None, history: str = "keep") -> list[str]:
        """The lines of an edge label: the ``when`` rule clipped to fit, then ``carry: …`` (``None``: no line)
        and ``history: reset`` / ``summary`` where the handoff does not keep the earlier turns."""
        lines = clip(when, self.when_width, self.when_lines) if when and self.when_lines else []
        if carry is not None and self.carry_labels:
            lines.append("carry: " + (", ".join(carry) if carry else "nothing"))
        if history != "keep" and self.carry_labels:
            lines.append(f"history: {history}")
        return lines


SMALL = Layout(
    "small",
    description_width=30,
    description_lines=2,
    when_width=28,
    when_lines=3,
    rank_by_distance=True,
    graph_attr={"nodesep": "0.35", "ranksep": "0.5"},
)
MEDIUM = Layout(
    "medium",
    description_width=28,
    description_lines=2,
    when_width=32,
    when_lines=1,
    rank_by_distance=True,
    bundle_groups=True,
    graph_attr={"nodesep": "0.3", "ranksep": "0.5"},
)
LARGE = Layout(
    "large",
    description_width=26,
    description_lines=1,
    when_width=0,
    when_lines=0,
    rank_by_distance=True,
    carry_labels=False,
    bundle_groups=True,
    graph_attr={"nodesep": "0.2", "ranksep": "0.6"},
)

MEDIUM_FROM_EDGES = 40
"""From this many drawn edges: one-line rules, handoffs between groups bundled."""
LARGE_FROM_EDGES = 120
"""From this many drawn edges: no text on edges (it is in the SVG tooltips), two-way pairs merged."""


def layout_for(agents: int, edges: int) -> Layout:
    """The preset for a flow of ``agents`` agents and ``edges`` drawn edges."""
    if edges >= LARGE_FROM_EDGES:
        return LARGE
    if edges >= MEDIUM_FROM_EDGES or agents > 20:
        return MEDIUM
    return SMALL


# --- the traffic overlay (counts from audit logs) ---------------------------------------------------------

UNCOVERED_LINE = WARNING_LINE
"""A route no test takes (``render --coverage``)."""
REFUSED_LINE = ERROR_LINE
REROUTED_LINE = RECOVERY_LINE
COLD_ALPHA = "4d"
"""Alpha appended to an edge's colour when no logged conversation took it (30% opaque)."""
COLD_TEXT_ALPHA = "73"
"""Alpha of that edge's label (45%): lighter, still readable."""
TRAFFIC_WIDTH = (1.8, 6.0)
"""Pen width of an edge taken once, and of the busiest edge."""
TRAFFIC_FULL_SCALE = 8
"""Widths scale as if the busiest edge were taken at least this often: a short log is not drawn all bold."""


def faded(colour: str, alpha: str = COLD_ALPHA) -> str:
    """``colour`` (``#rrggbb``) made translucent: a route without traffic."""
    return colour + alpha


def traffic_width(taken: int, busiest: int) -> float:
    """Pen width of an edge taken ``taken`` times: grows with its logarithm, up to the busiest edge's."""
    if taken <= 0:
        return 1.0
    low, high = TRAFFIC_WIDTH
    scale = math.log1p(max(busiest, taken, TRAFFIC_FULL_SCALE))
    return round(low + (high - low) * (math.log1p(taken) - math.log1p(1)) / (scale - math.log1p(1)), 1)
