"""``switchboard rule [CODE]``: the rule catalogue, or one rule explained (what, why, an example, the fix)."""

from __future__ import annotations

import argparse

from rich.markup import escape
from rich.table import Table

from engine.cli.console import EXIT_OK, EXIT_USAGE, err, out
from engine.flow.diagnostics import Severity
from engine.flow.suggest import did_you_mean, suggestion_text


def cmd_rule(args: argparse.Namespace) -> int:
    from engine.verify.explain import EXPLANATIONS
    from engine.verify.report import rule_uri
    from engine.verify.rules import RULES
    from engine.verify.suppress import OWN_CODES

    if args.code is None:
        table = Table(
            title="Switchboard lint rules (`switchboard rule CODE` explains one)", title_justify="left"
        )
        for column in ("code", "name", "severity", "what"):
            table.add_column(column)
        for entry in RULES.values():
            table.add_row(entry.code, entry.name, str(entry.severity), entry.summary)
        out.print(table)
        return EXIT_OK
    code = args.code.upper()
    rule = RULES.get(code) or next((r for r in RULES.values() if r.name == args.code.lower()), None)
    if rule is None:
        by_name = {r.name: r.code for r in RULES.values()}
        meant = did_you_mean(code, RULES) or by_name.get(did_you_mean(args.code.lower(), by_name) or "")
        hint = suggestion_text(meant) or " (`switchboard rule` lists them)"
        err.print(f"switchboard rule: no rule {args.code!r}{hint}", markup=False)
        return EXIT_USAGE
    out.print(f"[bold]{rule.code}[/] {rule.name} ({rule.severity})")
    out.print("\n[bold]What[/]")
    out.print(escape(rule.summary))
    explanation = EXPLANATIONS.get(rule.code)
    if explanation is not None:
        out.print("\n[bold]Why[/]")
        out.print(escape(explanation.why))
        out.print("\n[bold]Example[/]")
        out.print(explanation.example.strip("\n"), markup=False, highlight=False, soft_wrap=True)
        out.print("\n[bold]Fix[/]")
        out.print(escape(explanation.fix))
    if rule.severity is Severity.WARNING and rule.code not in OWN_CODES:
        out.print(
            f"\nA warning: `# switchboard: ignore[{rule.code}]` on (or above) the line it points at, or "
            f'`[lint] ignore = ["{rule.code}"]`, suppresses it.',
            markup=False,
        )
    out.print(f"\n{rule_uri(rule.code)}", markup=False)
    return EXIT_OK
