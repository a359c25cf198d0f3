"""The one tally of audit records: handoffs per route, reroutes, tool calls, escalations, and a summary per
conversation.

``switchboard log`` prints it and ``render --audit`` draws it, so the two always agree. A record seen twice
(the same ``conversation_id`` and ``seq``, e.g. two copies of one log) counts once. One pass, O(records).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.session.audit import HANDOFF_OUTCOMES, REROUTES, AuditRecord

Route = tuple[str, str]


@dataclass
class ConversationSummary:
    conversation_id: str
    handoffs: int = 0
    max_depth: int = 0
    recoveries: int = 0
    refusals: int = 0
    tool_calls: Counter[str] = field(default_factory=Counter)
    """Tool-call outcome (``ok``, ``failed``, ``refused``, ``timed_out``) -> count."""
    escalations: int = 0
    turns: int = 0
    escalation_outcomes: Counter[str] = field(default_factory=Counter)
    supervisor_latencies: list[float] = field(default_factory=list)

    @property
    def tool_failures(self) -> int:
        """Tool calls that gave no result: failed, refused or timed out."""
        return sum(n for outcome, n in self.tool_calls.items() if outcome != "ok")

    @property
    def escalation_rate(self) -> float | None:
        return self.escalations / self.turns if self.turns else None

    def latency_percentile(self, q: float) -> float | None:
        return percentile(self.supervisor_latencies, q)


@dataclass
class Tally:
    """Audit records counted (see the module doc)."""

    edges: dict[Route, Counter[str]] = field(default_factory=dict)
    """``(from_agent, to_agent)`` -> handoff outcome (``done``, ``refused``, ``capped``, ``recovered``) -> count.
    A ``capped``/``recovered`` record's ``to_agent`` is the recovery agent: the route the conversation took."""
    rerouted: dict[Route, Counter[str]] = field(default_factory=dict)
    """``(from_agent, requested)`` -> ``capped``/``recovered`` -> count: transfers asked for along a route and
    sent to the recovery agent instead."""
    escalations: dict[str, Counter[str]] = field(default_factory=dict)
    """Front agent -> escalation outcome (``answered``, ``timed_out``…) -> count."""
    tools: dict[str, Counter[str]] = field(default_factory=dict)
    """Tool name -> call outcome (``ok``, ``failed``, ``refused``, ``timed_out``) -> count."""
    conversations: dict[str, ConversationSummary] = field(default_factory=dict)
    records: int = 0
    """Distinct records counted."""
    duplicates: int = 0
    """Records skipped because they were seen already."""


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation; ``None`` for no values."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[min(98, max(0, round(q) - 1))]


def tally(records: Iterable[AuditRecord]) -> Tally:
    """Count ``records`` (see :class:`Tally`)."""
    result = Tally()
    seen: set[tuple[str, int]] = set()
    for r in records:
        if (r.conversation_id, r.seq) in seen:
            result.duplicates += 1
            continue
        seen.add((r.conversation_id, r.seq))
        result.records += 1
        conv = result.conversations.setdefault(r.conversation_id, ConversationSummary(r.conversation_id))
        conv.max_depth = max(conv.max_depth, r.depth)
        turns = r.detail.get("user_turns")
        if r.kind in ("end", "escalation") and isinstance(turns, int):
            conv.turns = max(conv.turns, turns)
        if r.kind == "handoff" and r.outcome in HANDOFF_OUTCOMES and r.to_agent is not None:
            _count_handoff(result, conv, r, r.to_agent)
        elif r.kind == "tool":
            conv.tool_calls[r.outcome] += 1
            tool = r.detail.get("tool")
            result.tools.setdefault(tool if isinstance(tool, str) else "?", Counter())[r.outcome] += 1
        elif r.kind == "escalation":
            conv.escalations += 1
            conv.escalation_outcomes[r.outcome] += 1
            result.escalations.setdefault(r.from_agent, Counter())[r.outcome] += 1
            latency = r.detail.get("latency_s")
            if isinstance(latency, int | float):
                conv.supervisor_latencies.append(float(latency))
    return result


def _count_handoff(result: Tally, conv: ConversationSummary, r: AuditRecord, target: str) -> None:
    result.edges.setdefault((r.from_agent, target), Counter())[r.outcome] += 1
    if r.outcome == "refused":
        conv.refusals += 1
        return
    conv.handoffs += 1
    if r.outcome in REROUTES:
        conv.recoveries += 1
        requested = r.detail.get("requested")
        if isinstance(requested, str) and requested != target:
            result.rerouted.setdefault((r.from_agent, requested), Counter())[r.outcome] += 1
