"""What a diagram shows, independent of the drawing language: built from the verifier's routing graph.

Both the DOT and the Mermaid writers draw a :class:`Diagram`, so the two always agree. The edges are exactly
the edges of :func:`engine.verify.graph.routing_graph` (the graph the verifier checks and the compiler
builds); the only transformations are presentational and reversible:

- an unlabelled pair ``a -> b`` / ``b -> a`` is one edge with ``both=True``;
- when every agent can fall back to the recovery agent and two or more of them do so through the implicit
  route, those fallback edges become a single :class:`FallbackAll` edge from an "any agent" node.

A traffic overlay (:func:`engine.render.traffic.overlay`) adds counts from audit logs: :class:`EdgeTraffic` on
every edge and a :class:`TrafficSummary` on the diagram. Without one, both stay ``None`` and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from engine.flow.diagnostics import Diagnostic, Severity
from engine.flow.model import ESCALATION_TOOL, Flow
from engine.render.text import first_sentence, one_line
from engine.verify.graph import FALLBACK, HANDOFF, routing_graph

ESCALATION_STATES = ("chatting", "escalated")
"""The two states of the chat-supervisor escalation machine (DESIGN.md, layer 3)."""
ELSEWHERE_SHOWN = 8
"""How many routes the flow does not have a legend names (then how many more there are)."""


class Role(StrEnum):
    ENTRY = "entry"
    RECOVERY = "recovery"
    FRONT = "front agent"
    TERMINAL = "terminal"


class EdgeKind(StrEnum):
    HANDOFF = HANDOFF
    FALLBACK = FALLBACK


@dataclass(frozen=True)
class Finding:
    """A verifier finding shown on an agent."""

    code: str
    rule: str
    severity: Severity

    @property
    def text(self) -> str:
        return f"{self.code} {self.rule}".strip()


@dataclass(frozen=True)
class Node:
    name: str
    description: str
    roles: frozenset[Role] = frozenset()
    max_visits: int | None = None
    group: str | None = None
    findings: tuple[Finding, ...] = ()

    @property
    def severity(self) -> Severity | None:
        """The worst severity among the node's findings (``None``: not flagged)."""
        if not self.findings:
            return None
        return (
            Severity.ERROR if any(f.severity is Severity.ERROR for f in self.findings) else Severity.WARNING
        )

    @property
    def palette(self) -> str:
        """The colours the agent is drawn in: ``error``, ``warning``, ``recovery``, ``entry`` or ``agent``
        (the first that applies); any but ``agent`` is drawn emphasised."""
        if self.severity is Severity.ERROR:
            return "error"
        if self.severity is Severity.WARNING:
            return "warning"
        if Role.RECOVERY in self.roles:
            return "recovery"
        return "entry" if Role.ENTRY in self.roles else "agent"

    @property
    def tags(self) -> str:
        """Its entry / recovery / front roles and its visit budget, as one line (empty: none)."""
        tags = [role.value.upper() for role in (Role.ENTRY, Role.RECOVERY, Role.FRONT) if role in self.roles]
        if self.max_visits is not None:
            tags.append(f"≤{self.max_visits} visit{'s' * (self.max_visits != 1)}")
        return " · ".join(tags)


@dataclass(frozen=True)
class EdgeTraffic:
    """What the audit logs say about one route: attempts by outcome, as logged on it."""

    done: int = 0
    refused: int = 0
    capped: int = 0
    """Taken to the recovery agent (this route) because the handoff depth cap was reached."""
    recovered: int = 0
    """Taken to the recovery agent (this route) because the requested agent's visit budget was spent."""
    rerouted_capped: int = 0
    """Asked for along this route, but sent to the recovery agent by the depth cap."""
    rerouted_recovered: int = 0
    """Asked for along this route, but sent to the recovery agent by the target's visit budget."""

    @property
    def taken(self) -> int:
        """Conversations that moved along the route."""
        return self.done + self.capped + self.recovered

    @property
    def any(self) -> bool:
        """Anything was logged about the route (an edge without it is drawn lighter)."""
        return bool(self.taken or self.refused or self.rerouted_capped or self.rerouted_recovered)

    def parts(self, recovery: str | None) -> list[tuple[str, str]]:
        """``(text, kind)`` for a label: kind ``taken``, ``refused`` or ``rerouted`` (empty: no traffic)."""
        found = [(f"×{self.taken}", "taken")] if self.taken else []
        found += [(f"refused {self.refused}", "refused")] if self.refused else []
        found += [
            (f"{o} {n}", "rerouted") for o, n in (("capped", self.capped), ("recovered", self.recovered)) if n
        ]
        to = f" → {recovery}" if recovery else ""
        found += [
            (f"{o} {n}{to}", "rerouted")
            for o, n in (("capped", self.rerouted_capped), ("recovered", self.rerouted_recovered))
            if n
        ]
        return found

    def text(self, recovery: str | None) -> str:
        return " · ".join(t for t, _ in self.parts(recovery))


@dataclass(frozen=True)
class TrafficSummary:
    """The totals of a traffic overlay, for the legend."""

    conversations: int
    handoffs: int
    """Handoffs taken (done, capped or recovered), in every log."""
    refused: int
    busiest: int
    """The most handoffs taken along one drawn edge (the pen widths scale to it)."""
    elsewhere: tuple[tuple[str, str, EdgeTraffic], ...] = ()
    """Attempts on routes the flow does not have (a refused transfer to a non-neighbour, an older flow)."""
    escalations: tuple[tuple[str, str, int], ...] = ()
    """``(front agent, outcome, count)``: escalations to the supervisor (chat-supervisor flows)."""

    def escalation_text(self, agent: str) -> str:
        """``×N escalations`` from ``agent``, then the outcomes other than ``answered`` (empty: none)."""
        outcomes = [(o, n) for a, o, n in self.escalations if a == agent]
        total = sum(n for _, n in outcomes)
        if not total:
            return ""
        others = [f"{o.replace('_', ' ')} {n}" for o, n in outcomes if o != "answered"]
        return " · ".join([f"×{total} escalation{'s' * (total != 1)}", *others])


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: EdgeKind
    when: str = ""
    carry: tuple[str, ...] | None = None
    """Keys that travel along the edge; ``None``: every key (no contract restricts it)."""
    history: str = "keep"
    """The history policy of the handoff (``reset``/``summary`` are named on the label)."""
    both: bool = False
    """Drawn as one two-headed edge for the unlabelled pair ``source <-> target``."""
    traffic: EdgeTraffic | None = None
    """Counts from audit logs (``None``: no overlay; a ``both`` edge stands for two routes without traffic)."""
    uncovered: bool = False
    """A coverage overlay is on and no test takes this route (drawn dashed in the warning colour)."""

    @property
    def labelled(self) -> bool:
        return bool(self.when) or self.carry is not None or self.history != "keep"

    @property
    def label_carry(self) -> tuple[str, ...] | None:
        """The carried keys its label names: a handoff that carries nothing says so, a fallback says nothing."""
        return self.carry or None if self.kind is EdgeKind.FALLBACK else self.carry

    @property
    def hot(self) -> bool:
        """A traffic overlay is on and the audit logs say something about this edge."""
        return self.traffic is not None and self.traffic.any


@dataclass(frozen=True)
class FallbackAll:
    """The implicit fallback of every agent to recovery, drawn once: ``sources`` are the agents it stands for."""

    sources: tuple[str, ...]
    target: str
    carry: tuple[str, ...]


@dataclass(frozen=True)
class Escalation:
    """The chat-supervisor pattern: front agents escalate hard turns to the supervisor."""

    front: tuple[str, ...]
    model: str
    backend: str
    tools: tuple[str, ...]
    timeout_s: float
    max_tool_rounds: int
    max_escalations: int
    on_budget_exhausted: str
    tool_name: str = ESCALATION_TOOL


@dataclass(frozen=True)
class Diagram:
    name: str
    description: str
    max_handoff_depth: int
    entry: str | None
    recovery: str | None
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    fallback_all: FallbackAll | None = None
    escalation: Escalation | None = None
    traffic: TrafficSummary | None = None
    """Totals of the traffic overlay (``None``: a plain topology diagram)."""

    @property
    def groups(self) -> list[str]:
        """Groups in order of first appearance."""
        return list(dict.fromkeys(n.group for n in self.nodes if n.group))

    def nodes_by_group(self) -> dict[str | None, list[Node]]:
        """The nodes of each group, in diagram order (``None``: the nodes in no group)."""
        by_group: dict[str | None, list[Node]] = {}
        for node in self.nodes:
            by_group.setdefault(node.group, []).append(node)
        return by_group

    @property
    def fallback_split(self) -> bool:
        """A traffic overlay gave some agents' implicit fallback its own edge, beside the collapsed one
        (which then stands for "any other agent")."""
        fallback = self.fallback_all
        return (
            self.traffic is not None
            and fallback is not None
            and any(e.kind is EdgeKind.FALLBACK and e.target == fallback.target for e in self.edges)
        )

    def routes(self) -> set[tuple[str, str, EdgeKind]]:
        """Every route the diagram stands for, with pairs and the collapsed fallback expanded again."""
        found: set[tuple[str, str, EdgeKind]] = set()
        for e in self.edges:
            found.add((e.source, e.target, e.kind))
            if e.both:
                found.add((e.target, e.source, e.kind))
        if self.fallback_all is not None:
            found |= {(s, self.fallback_all.target, EdgeKind.FALLBACK) for s in self.fallback_all.sources}
        return found


def build_diagram(flow: Flow, diagnostics: Sequence[Diagnostic] = ()) -> Diagram:
    """The diagram of ``flow``; agents named by ``diagnostics`` carry their findings.

    Texts are kept whole (on one line); the writers shorten them to fit the layout.
    """
    settings = flow.flow
    entry = settings.entry if settings.entry in flow.agents else None
    recovery = settings.recovery if settings.recovery in flow.agents else None
    front = [a for a in flow.front_agents if a in flow.agents]
    findings = _findings_by_agent(diagnostics)
    nodes = []
    for name, agent in flow.agents.items():
        roles = {Role.ENTRY} if name == entry else set()
        roles |= {Role.RECOVERY} if name == recovery else set()
        roles |= {Role.FRONT} if name in front else set()
        roles |= {Role.TERMINAL} if agent.terminal else set()
        nodes.append(
            Node(
                name,
                first_sentence(agent.description),
                frozenset(roles),
                agent.max_visits,
                agent.group or None,
                findings.get(name, ()),
            )
        )

    graph = routing_graph(flow)
    edges: list[Edge] = []
    fallback: list[Edge] = []
    for source, target, data in graph.edges(data=True):
        contract = data.get("contract")
        if data["kind"] == FALLBACK:
            fallback.append(Edge(source, target, EdgeKind.FALLBACK, carry=tuple(settings.fallback_carry)))
            continue
        when = one_line(contract.when) if contract is not None else ""
        carry = tuple(contract.carry) if contract is not None and contract.carry is not None else None
        history = (contract.history if contract is not None else None) or settings.history
        edges.append(Edge(source, target, EdgeKind.HANDOFF, when, carry, history))
    edges = merge_pairs(edges)

    fallback_all = None
    if recovery is not None and len(fallback) >= 2 and _everyone_falls_back(flow, recovery, fallback):
        fallback_all = FallbackAll(
            tuple(e.source for e in fallback), recovery, tuple(settings.fallback_carry)
        )
        fallback = []

    return Diagram(
        settings.name,
        settings.description,
        settings.max_handoff_depth,
        entry,
        recovery,
        tuple(nodes),
        tuple(edges + fallback),
        fallback_all,
        _escalation(flow, front),
    )


def _findings_by_agent(diagnostics: Iterable[Diagnostic]) -> dict[str, tuple[Finding, ...]]:
    found: dict[str, dict[Finding, None]] = {}
    for d in diagnostics:
        for agent in d.agents:
            found.setdefault(agent, {})[Finding(d.code, d.rule, d.severity)] = None
    return {agent: tuple(sorted(f, key=lambda x: x.code)) for agent, f in found.items()}


def merge_pairs(edges: Sequence[Edge], labelled: Callable[[Edge], bool] = lambda e: e.labelled) -> list[Edge]:
    """One ``both=True`` edge for every unlabelled handoff pair ``a -> b``, ``b -> a`` (where the first was)."""
    plain = {
        (e.source, e.target) for e in edges if e.kind is EdgeKind.HANDOFF and not e.both and not labelled(e)
    }
    merged: list[Edge] = []
    for e in edges:
        if (e.source, e.target) in plain and (e.target, e.source) in plain:
            if e.source < e.target:
                merged.append(Edge(e.source, e.target, e.kind, both=True, traffic=e.traffic))
            continue
        merged.append(e)
    return merged


def _everyone_falls_back(flow: Flow, recovery: str, fallback: list[Edge]) -> bool:
    """Every agent but recovery routes to it: through the implicit fallback or a declared handoff."""
    implicit = {e.source for e in fallback}
    return all(
        name == recovery or name in implicit or recovery in agent.handoffs
        for name, agent in flow.agents.items()
    )


def _escalation(flow: Flow, front: list[str]) -> Escalation | None:
    sup = flow.supervisor
    if sup is None:
        return None
    return Escalation(
        tuple(front),
        sup.model,
        sup.backend,
        tuple(sup.tools),
        sup.timeout_s,
        sup.max_tool_rounds,
        sup.max_escalations,
        sup.on_budget_exhausted,
    )
