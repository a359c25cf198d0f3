"""Every rule is explained, and every example is a whole flow (or, for a script rule, a script beside its
flow) that triggers the rule it explains."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.flowtest.case import lint_script
from engine.runtime.prepare import lint_flow
from engine.verify import RULES
from engine.verify.explain import EXPLANATIONS

NOT_A_FLOW = {
    "SB000": "lint's own crash: no flow text triggers it on purpose",
    "SB001": "an unreadable file: the example is a command line, not flow text",
}
"""The rules whose example is no flow (listed here, so a new rule cannot slip past the test)."""
PENDING = {"SB005", "SB006"}
"""Explained ahead of the loader's confinement and nesting findings, which add them to RULES."""
ALSO = {
    "SB601": {"SB107"},  # the warning the misspelled ignore meant is still reported
    "SB602": {"SB201"},  # the error the ignore names is still reported
}
"""Findings an example shows beside its own rule, on purpose."""


def test_every_rule_is_explained() -> None:
    assert set(RULES) <= set(EXPLANATIONS), sorted(set(RULES) - set(EXPLANATIONS))
    assert set(EXPLANATIONS) - set(RULES) <= PENDING


@pytest.mark.parametrize("code", sorted(EXPLANATIONS))
def test_an_explanation_says_why_and_how_to_fix(code: str) -> None:
    explanation = EXPLANATIONS[code]
    assert len(explanation.why) > 60 and explanation.why.endswith(".")
    assert explanation.fix.endswith(".") and explanation.example.strip()


@pytest.mark.parametrize("code", sorted(set(EXPLANATIONS) - set(NOT_A_FLOW)))
def test_the_example_triggers_its_rule(code: str, tmp_path: Path) -> None:
    if code not in RULES:
        pytest.skip(f"{code} is not in the catalogue yet")
    explanation = EXPLANATIONS[code]
    path = tmp_path / "flow.toml"
    if explanation.flow:  # a script rule: the example is a script checked against this flow
        path.write_text(explanation.flow, encoding="utf-8")
        assert not lint_flow(path, import_tools=False).findings
        script = tmp_path / "script.toml"
        script.write_text(explanation.example, encoding="utf-8")
        found = tuple(lint_script(script))
    else:
        path.write_text(explanation.example, encoding="utf-8")
        found = lint_flow(path, import_tools=False).findings
    assert {d.code for d in found} == {code} | ALSO.get(code, set()), [str(d) for d in found]
    assert all(d.severity is RULES[d.code].severity for d in found)


README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_lists_every_rule_with_its_name_and_severity() -> None:
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"SB\d{3}", cells[0]):
            rows[cells[0]] = (cells[1], cells[2])
    assert rows == {code: (rule.name, str(rule.severity)) for code, rule in RULES.items()}
