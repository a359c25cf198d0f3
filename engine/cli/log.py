"""``switchboard log``: the audit-log summary as rich tables."""

from __future__ import annotations

import argparse
from collections import Counter

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.cli.console import EXIT_OK, EXIT_USAGE, err, out
from engine.session.audit import HANDOFF_OUTCOMES, TOOL_OUTCOMES
from engine.session.tally import ConversationSummary, Tally


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def _describe(conv: ConversationSummary) -> str:
    parts = [
        f"{conv.turns} user turns",
        f"{conv.handoffs} handoffs (max depth {conv.max_depth})",
        f"{conv.recoveries} recovered",
        f"{conv.refusals} refused",
        f"{sum(conv.tool_calls.values())} tool calls"
        + (f" ({_counts(conv.tool_calls, TOOL_OUTCOMES)})" if conv.tool_calls else ""),
    ]
    if conv.escalations:
        rate = conv.escalation_rate
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(conv.escalation_outcomes.items()))
        parts.append(
            f"{conv.escalations} escalations ({outcomes})"
            + ("" if rate is None else f", {rate:.0%} of turns")
            + f", supervisor p50 {_ms(conv.latency_percentile(50))} p95 {_ms(conv.latency_percentile(95))}"
        )
    return "; ".join(parts)


def _counts(counter: Counter[str], order: tuple[str, ...]) -> str:
    """``ok 3, failed 1``: the non-zero counts, in ``order`` (then any other outcome)."""
    names = [*order, *sorted(set(counter) - set(order))]
    return ", ".join(f"{name.replace('_', ' ')} {counter[name]}" for name in names if counter[name])


def print_summary(console: Console, summary: Tally) -> None:
    """Handoffs per edge (by outcome), tool calls per tool (by outcome), then one line per conversation."""
    edges = summary.edges
    if edges:
        table = Table(title="Handoffs per edge", title_justify="left")
        for column in ("from", "to", *HANDOFF_OUTCOMES):
            table.add_column(column, justify="left" if column in ("from", "to") else "right")
        for (source, target), outcomes in sorted(edges.items()):
            table.add_row(source, target, *(str(outcomes.get(o, "")) for o in HANDOFF_OUTCOMES))
        console.print(table)
    else:
        console.print("No handoffs.")
    if summary.tools:
        table = Table(title="Tool calls", title_justify="left")
        for column in ("tool", *TOOL_OUTCOMES):
            table.add_column(column.replace("_", " "), justify="left" if column == "tool" else "right")
        for tool, outcomes in sorted(summary.tools.items()):
            table.add_row(escape(tool), *(str(outcomes.get(o, "")) for o in TOOL_OUTCOMES))
        console.print(table)
    for conv in summary.conversations.values():
        console.print(f"[bold]{escape(conv.conversation_id)}[/]: " + escape(_describe(conv)))
    console.print(f"{summary.records} records, {len(summary.conversations)} conversation(s)")


def cmd_log(args: argparse.Namespace) -> int:
    from engine.session.audit import AuditRecord
    from engine.session.tally import tally
    from engine.store import StoreError, read_audit

    records: list[AuditRecord] = []
    try:
        for where, item in read_audit(args.file):
            if isinstance(item, str):
                err.print(f"{where}: {item}", markup=False)
            else:
                records.append(item)
    except OSError as exc:
        err.print(f"switchboard log: cannot read {args.file}: {exc.strerror}", markup=False)
        return EXIT_USAGE
    except StoreError as exc:
        err.print(f"switchboard log: {exc}", markup=False)
        return EXIT_USAGE
    print_summary(out, tally(records))
    return EXIT_OK
