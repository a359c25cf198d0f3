"""`switchboard rule`: the catalogue, and one rule explained (what, why, an example, the fix)."""

from __future__ import annotations

import pytest

from engine.cli import EXIT_OK, EXIT_USAGE, main
from engine.verify import RULES
from engine.verify.explain import EXPLANATIONS


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["rule", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_rule_prints_what_why_example_and_fix(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "SB301")
    assert code == EXIT_OK
    lines = out.splitlines()
    assert lines[0] == "SB301 required-key-lost (error)"
    assert [line for line in lines if line in ("What", "Why", "Example", "Fix")] == [
        "What",
        "Why",
        "Example",
        "Fix",
    ]
    assert RULES["SB301"].summary in out and EXPLANATIONS["SB301"].why in out
    assert EXPLANATIONS["SB301"].example.strip() in out  # verbatim: no markup escapes like `\[flow]`
    assert EXPLANATIONS["SB301"].fix in out and lines[-1].endswith("#sb301")
    assert "ignore[" not in out  # an error: nothing says it could be suppressed


def test_a_long_example_is_printed_unwrapped(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "SB501")
    assert EXPLANATIONS["SB501"].example.strip() in out  # a prompt line wider than the terminal, intact


def test_a_warning_says_how_to_suppress_it(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "unbudgeted-loop")
    assert out.startswith("SB206 unbudgeted-loop (warning)")
    assert "# switchboard: ignore[SB206]" in out and '[lint] ignore = ["SB206"]' in out


def test_the_catalogue_lists_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == EXIT_OK and all(rule in out for rule in RULES)


@pytest.mark.parametrize(("given", "meant"), [("SB2O6", "SB206"), ("unused-tol", "SB107")])
def test_an_unknown_rule_gets_a_did_you_mean(
    capsys: pytest.CaptureFixture[str], given: str, meant: str
) -> None:
    code, _, err = run(capsys, given)
    assert code == EXIT_USAGE and f"(did you mean '{meant}'?)" in err
