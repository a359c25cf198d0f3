"""Terminal views for the CLI (rich tables): the audit-log summary."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from engine.session.summary import LogSummary, by_edge


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def print_summary(console: Console, summary: LogSummary) -> None:
    """Handoffs per edge (by outcome), then one row per conversation."""
    edges = Table(title="Handoffs per edge", title_justify="left")
    for column in ("from", "to", "done", "refused", "capped", "recovered"):
        edges.add_column(column, justify="right" if column not in ("from", "to") else "left")
    for (source, target), outcomes in sorted(by_edge(summary).items()):
        edges.add_row(
            source,
            target,
            *(str(outcomes.get(o, 0) or "") for o in ("done", "refused", "capped", "recovered")),
        )
    console.print(edges)
    table = Table(title="Conversations", title_justify="left")
    for column in (
        "conversation",
        "handoffs",
        "max depth",
        "recoveries",
        "refused",
        "tool failures",
        "escalations",
        "escalation rate",
        "supervisor p50",
        "supervisor p95",
    ):
        table.add_column(column, justify="left" if column == "conversation" else "right")
    for conv in summary.conversations.values():
        rate = conv.escalation_rate
        table.add_row(
            conv.conversation_id,
            str(conv.handoffs),
            str(conv.max_depth),
            str(conv.recoveries),
            str(conv.refusals),
            str(conv.tool_failures),
            str(conv.escalations)
            + (
                f" ({', '.join(f'{k} {v}' for k, v in sorted(conv.escalation_outcomes.items()))})"
                if conv.escalation_outcomes
                else ""
            ),
            "-" if rate is None else f"{rate:.0%}",
            _ms(conv.latency_percentile(50)),
            _ms(conv.latency_percentile(95)),
        )
    console.print(table)
    console.print(f"{summary.records} records, {len(summary.conversations)} conversation(s)")
