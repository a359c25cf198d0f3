"""Summaries of audit logs: handoffs per edge, depth reached, recoveries, escalation rate and latency."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.session.audit import AuditRecord


@dataclass
class ConversationSummary:
    conversation_id: str
    handoffs: int = 0
    max_depth: int = 0
    recoveries: int = 0
    refusals: int = 0
    tool_failures: int = 0
    escalations: int = 0
    turns: int = 0
    escalation_outcomes: Counter[str] = field(default_factory=Counter)
    supervisor_latencies: list[float] = field(default_factory=list)

    @property
    def escalation_rate(self) -> float | None:
        return self.escalations / self.turns if self.turns else None

    def latency_percentile(self, q: float) -> float | None:
        return percentile(self.supervisor_latencies, q)


@dataclass
class LogSummary:
    edges: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """``(from, to, outcome)`` -> count, handoffs only."""
    conversations: dict[str, ConversationSummary] = field(default_factory=dict)
    records: int = 0


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation; ``None`` for no values."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[min(98, max(0, round(q) - 1))]


def summarise(records: Iterable[AuditRecord]) -> LogSummary:
    summary = LogSummary()
    for r in records:
        summary.records += 1
        conv = summary.conversations.setdefault(r.conversation_id, ConversationSummary(r.conversation_id))
        conv.max_depth = max(conv.max_depth, r.depth)
        if r.kind == "handoff":
            summary.edges[(r.from_agent, r.to_agent or "?", r.outcome)] += 1
            if r.outcome == "refused":
                conv.refusals += 1
            else:
                conv.handoffs += 1
            if r.outcome in ("capped", "recovered"):
                conv.recoveries += 1
        elif r.kind == "tool":
            conv.tool_failures += 1
        elif r.kind == "end":
            turns = r.detail.get("user_turns")
            if isinstance(turns, int):
                conv.turns = max(conv.turns, turns)
        elif r.kind == "escalation":
            conv.escalations += 1
            conv.escalation_outcomes[r.outcome] += 1
            latency = r.detail.get("latency_s")
            if isinstance(latency, int | float):
                conv.supervisor_latencies.append(float(latency))
            turns = r.detail.get("user_turns")
            if isinstance(turns, int):
                conv.turns = max(conv.turns, turns)
    return summary


def by_edge(summary: LogSummary) -> dict[tuple[str, str], Counter[str]]:
    edges: defaultdict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for (source, target, outcome), count in summary.edges.items():
        edges[(source, target)][outcome] += count
    return dict(edges)
