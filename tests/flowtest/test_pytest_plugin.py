"""The pytest plugin collects scripts with expectations in a user's own project and reports a failure as
`switchboard test` does."""

from __future__ import annotations

import pytest

FLOW = """\
[flow]
name = "desk"
entry = "front"
recovery = "helper"

[agents.front]
instructions = "Greet the caller."
handoffs = ["helper"]

[agents.helper]
instructions = "Help."
terminal = true
"""

SCRIPT = """\
flow = "../desk.toml"

[[turn]]
user = "I need help"
expect = {{ agent = "{agent}", handoff = "done" }}

[[rule]]
agent = "front"
user = "help"
call = "transfer_to_helper"
arguments = {{ reason = "the caller needs help" }}

[[rule]]
agent = "helper"
say = "Helper here."
"""


def test_pytest_collects_and_runs_scripts(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", desk=FLOW)
    tests = pytester.mkdir("tests")
    (tests / "good.toml").write_text(SCRIPT.format(agent="helper"), encoding="utf-8")
    (tests / "wrong.toml").write_text(SCRIPT.format(agent="front"), encoding="utf-8")
    (tests / "rules.toml").write_text('[[rule]]\nsay = "not a test"\n', encoding="utf-8")
    result = pytester.runpytest("tests", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*wrong.toml:5:*: turn 1: expected agent 'front' after the turn, got 'helper'",
            "*transcript of turn 1:*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_script_that_cannot_run_fails_with_its_diagnostic(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", desk=FLOW)
    tests = pytester.mkdir("tests")
    (tests / "typo.toml").write_text(SCRIPT.format(agent="helpr"), encoding="utf-8")
    result = pytester.runpytest("tests", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*SB701*did you mean 'helper'?*"])
