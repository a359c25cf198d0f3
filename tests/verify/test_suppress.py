"""Suppression: `[lint] ignore`, `# switchboard: ignore[...]` comments, and the findings about ignores."""

from __future__ import annotations

import textwrap
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from engine.flow.diagnostics import Diagnostic, Severity
from engine.flow.loader import FlowDocument, SourceMap, parse_flow
from engine.flow.model import Flow, LintSettings
from engine.verify import RULES, verify
from engine.verify.suppress import OWN_CODES, Outcome, comment_ignores, settle
from tests.verify.test_verify_properties import flows
from tests.verify.test_verify_references import to_toml

BASE = """\
[flow]
name = "t"
entry = "front"
recovery = "helper"
{lint}
[agents.front]
handoffs = ["helper", "sales"]

[agents.sales]
handoffs = ["returns"]

[agents.returns]
handoffs = ["sales"]

[agents.helper]
terminal = true

[tools.refund]
description = "Refund."

[tools.lookup]
description = "Look up."
"""
"""Three warnings: SB206 at [agents.sales] (line 9), SB107 at [tools.refund] (18) and [tools.lookup] (21)."""


def lint(text: str, fmt: str = "toml") -> Outcome:
    text = textwrap.dedent(text)
    doc = parse_flow(text, f"flow.{fmt}", fmt)
    return settle(doc, verify(doc), text)


def codes(found: list[Diagnostic]) -> list[str]:
    return [d.code for d in found]


def flow_text(lint_table: str = "", **lines: str) -> str:
    text = BASE.format(lint=lint_table)
    for old, new in lines.items():
        text = text.replace(old.replace("_", "."), new)
    return text


def test_base_has_three_warnings() -> None:
    outcome = lint(flow_text())
    assert codes(outcome.reported) == ["SB206", "SB107", "SB107"] and outcome.suppressed == []


def test_lint_ignore_suppresses_the_code_in_the_whole_flow() -> None:
    outcome = lint(flow_text('\n[lint]\nignore = ["SB107"]\n'))
    assert codes(outcome.reported) == ["SB206"]
    assert [(s.diagnostic.code, s.by.kind, s.by.location.line) for s in outcome.suppressed] == [
        ("SB107", "lint.ignore", 7),
        ("SB107", "lint.ignore", 7),
    ]


def test_a_trailing_comment_covers_its_own_line() -> None:
    text = flow_text().replace(
        "[tools.refund]", "[tools.refund]  # switchboard: ignore[SB107] refunds come soon"
    )
    outcome = lint(text)
    assert codes(outcome.reported) == ["SB206", "SB107"] and outcome.reported[1].location.line == 21
    (quiet,) = outcome.suppressed
    assert (quiet.diagnostic.location.line, quiet.by.kind) == (18, "comment")
    assert quiet.by.justification == "refunds come soon"


def test_a_comment_alone_covers_the_next_line_that_is_not_a_comment() -> None:
    text = flow_text().replace(
        "[agents.sales]",
        "# switchboard: ignore[SB206]: the loop is meant\n# (see the prompt)\n[agents.sales]",
    )
    outcome = lint(text)
    assert codes(outcome.reported) == ["SB107", "SB107"]
    assert [s.diagnostic.code for s in outcome.suppressed] == ["SB206"]


def test_a_comment_above_a_blank_line_suppresses_nothing() -> None:
    text = flow_text().replace("[agents.sales]", "# switchboard: ignore[SB206]\n\n[agents.sales]")
    outcome = lint(text)
    assert codes(outcome.reported) == ["SB603", "SB206", "SB107", "SB107"]
    assert outcome.reported[0].message == "ignore[SB206] suppresses nothing: no SB206 warning on line 10"


def test_one_comment_may_name_several_codes_and_each_unused_one_is_reported() -> None:
    text = flow_text().replace("[tools.refund]", "[tools.refund]  # switchboard: IGNORE[sb107, SB206]")
    outcome = lint(text)
    sb603 = [d for d in outcome.reported if d.code == "SB603"]
    assert [s.diagnostic.code for s in outcome.suppressed] == ["SB107"]
    assert [(d.location.line, d.location.col, d.location.length) for d in sb603] == [(18, 46, 5)]


def test_a_directive_inside_a_string_is_no_comment() -> None:
    text = flow_text().replace('description = "Refund."', 'description = "# switchboard: ignore[SB107]"')
    assert comment_ignores(textwrap.dedent(text), "flow.toml") == ([], [])
    text = flow_text().replace(
        'description = "Refund."', 'description = """\n# switchboard: ignore[SB107]\n"""'
    )
    assert comment_ignores(textwrap.dedent(text), "flow.toml") == ([], [])


def test_errors_are_never_suppressed() -> None:
    text = (
        flow_text('\n[lint]\nignore = ["SB201"]\n')
        + "\n[agents.billing]  # switchboard: ignore[SB201]\nterminal = true\n"
    )
    outcome = lint(text)
    assert "SB201" in codes(outcome.reported) and outcome.suppressed == []
    sb602 = [d for d in outcome.reported if d.code == "SB602"]
    assert [d.location.line for d in sb602] == [7, 27]
    assert "errors cannot be suppressed" in sb602[0].message
    assert all(d.severity is Severity.WARNING for d in sb602)


def test_the_findings_about_ignores_cannot_be_ignored() -> None:
    outcome = lint(flow_text('\n[lint]\nignore = ["SB603", "SB999"]\n'))
    assert codes(outcome.reported)[:2] == ["SB602", "SB601"]


def test_an_unknown_code_gets_a_did_you_mean() -> None:
    outcome = lint(flow_text('\n[lint]\nignore = ["SB1O7", "unused-tool", "XYZ"]\n'))
    found = [d for d in outcome.reported if d.code == "SB601"]
    assert [d.help for d in found] == [
        "change 'SB1O7' to 'SB107'",
        "change 'UNUSED-TOOL' to 'SB107'",
        "`switchboard rule` lists the rules",
    ]
    assert found[0].message == "ignore names unknown rule 'SB1O7' (did you mean 'SB107'?)"


def test_a_comment_without_codes_names_no_rule() -> None:
    outcome = lint(flow_text().replace("[tools.refund]", "[tools.refund]  # switchboard: ignore"))
    assert codes(outcome.reported) == ["SB206", "SB107", "SB601", "SB107"]


def test_a_code_listed_twice_is_reported() -> None:
    outcome = lint(flow_text('\n[lint]\nignore = ["SB107", "SB107"]\n'))
    (twice,) = [d for d in outcome.reported if d.code == "SB603"]
    assert twice.message == "[lint] ignore lists 'SB107' twice" and twice.location.col == 20


def test_an_unused_lint_ignore_is_reported() -> None:
    outcome = lint(flow_text('\n[lint]\nignore = ["SB303"]\n'))
    assert codes(outcome.reported) == ["SB603", "SB206", "SB107", "SB107"]


def test_json_flows_ignore_in_the_lint_object() -> None:
    text = """{"flow": {"name": "t", "entry": "front", "recovery": "front"},
 "agents": {"front": {"terminal": true}},
 "tools": {"refund": {}},
 "lint": {"ignore": ["SB107"]}}"""
    outcome = lint(text, "json")
    assert outcome.reported == [] and [s.diagnostic.code for s in outcome.suppressed] == ["SB107"]


WARNINGS = sorted(code for code, rule in RULES.items() if rule.severity is Severity.WARNING)


@given(flows(noisy=True), st.sets(st.sampled_from(sorted(RULES))))
def test_suppression_only_hides_warnings_it_names(flow: Flow, ignored: set[str]) -> None:
    """Whatever is ignored: every error is still reported, a warning is suppressed exactly when its code is
    ignored (and suppressible), nothing is lost, and each ignored code is suppressing, unused or invalid."""
    ordered = sorted(ignored)
    doc = FlowDocument(flow.model_copy(update={"lint": LintSettings(ignore=ordered)}), SourceMap("<memory>"))
    findings = verify(doc)
    outcome = settle(doc, findings)
    own = [d for d in outcome.reported if d.code in OWN_CODES]
    kept = [d for d in outcome.reported if d.code not in OWN_CODES]
    hidden = [s.diagnostic for s in outcome.suppressed]
    assert Counter(map(str, kept + hidden)) == Counter(map(str, findings))
    for d in hidden:
        assert d.severity is Severity.WARNING and d.code in ignored and d.code not in OWN_CODES
    for d in kept:
        assert d.severity is Severity.ERROR or d.code not in ignored
    found = {d.code for d in findings}
    expected = {
        code: "SB602" if RULES[code].severity is Severity.ERROR or code in OWN_CODES else "SB603"
        for code in ignored
        if code not in found or RULES[code].severity is Severity.ERROR or code in OWN_CODES
    }
    assert {d.extra["code"]: d.code for d in own} == expected


@given(flows(noisy=True), st.booleans())
def test_a_comment_on_each_warnings_line_suppresses_exactly_the_warnings(flow: Flow, above: bool) -> None:
    """Writing `# switchboard: ignore[CODE]` after (or alone above) the line of every warning of any flow
    suppresses every warning and nothing else, and leaves no ignore unused."""
    text = to_toml(flow)
    doc = parse_flow(text, "flow.toml")
    findings = verify(doc)
    wanted: dict[int, set[str]] = {}
    for d in findings:
        if d.severity is Severity.WARNING:
            wanted.setdefault(d.location.line, set()).add(d.code)
    lines = text.splitlines()
    for number in sorted(wanted, reverse=True):
        comment = f"# switchboard: ignore[{', '.join(sorted(wanted[number]))}]"
        if above:
            lines.insert(number - 1, comment)
        else:
            lines[number - 1] += "  " + comment
    commented = "\n".join(lines) + "\n"
    doc = parse_flow(commented, "flow.toml")
    outcome = settle(doc, verify(doc), commented)
    assert [d.code for d in outcome.reported] == [d.code for d in findings if d.severity is Severity.ERROR]
    assert Counter(s.diagnostic.code for s in outcome.suppressed) == Counter(
        d.code for d in findings if d.severity is Severity.WARNING
    )
