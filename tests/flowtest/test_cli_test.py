"""`switchboard test`: one line per case, the first unmet expectation with its transcript, exit codes,
JUnit XML; and `run` failing on a turn no rule answers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from engine.cli.main import main
from tests.flowtest.helpers import FLOWS, shipped_script

RETAIL = shipped_script("retail", "retail")
WRONG = RETAIL.replace(
    'expect = { agent = "sales", handoff = "done", tool = "lookup_new_sales" }',
    'expect = { agent = "returns", handoff = "done", tool = "lookup_new_sales" }',
)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_passing_failing_and_bad_cases_exit_0_1_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, wrong, bad = tmp_path / "good.toml", tmp_path / "wrong.toml", tmp_path / "bad.toml"
    good.write_text(RETAIL, encoding="utf-8")
    wrong.write_text(WRONG, encoding="utf-8")
    bad.write_text(
        RETAIL.replace('expect = { agent = "sales"', 'expect = { agent = "sails"', 1), encoding="utf-8"
    )

    code, out, _ = run_cli(capsys, "test", str(good))
    assert code == 0 and f"PASS {good} (8 turn(s)," in out and "1 passed, 0 failed" in out

    code, out, _ = run_cli(capsys, "test", str(good), str(wrong))
    assert code == 1
    line = (
        WRONG[
            : WRONG.index('expect = { agent = "returns", handoff = "done", tool = "lookup_new_sales"')
        ].count("\n")
        + 1
    )
    assert f"FAIL {wrong}" in out
    assert f"{wrong}:{line}:" in out and "turn 3: expected agent 'returns' after the turn, got 'sales'" in out
    assert "transcript of turn 3:" in out and "user: Actually, what's on sale right now?" in out
    assert "returns -> sales" in out  # the handoff line of the excerpt

    code, out, _ = run_cli(capsys, "test", str(good), str(bad))
    assert code == 2 and f"ERROR {bad}" in out and "SB701" in out and "did you mean 'sales'?" in out


def test_a_folder_runs_the_scripts_with_expectations_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "case.toml").write_text(RETAIL, encoding="utf-8")
    (tmp_path / "rules_only.toml").write_text('[[rule]]\nsay = "hi"\n', encoding="utf-8")
    (tmp_path / "notes.json").write_text('{"not": "a script"}', encoding="utf-8")
    code, out, _ = run_cli(capsys, "test", str(tmp_path))
    assert code == 0 and "1 passed" in out and "rules_only" not in out
    code, _, _ = run_cli(capsys, "test", str(tmp_path / "nothing"))
    assert code == 2


def test_junit_xml_has_the_structure_ci_reporters_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, wrong, bad = tmp_path / "good.toml", tmp_path / "wrong.toml", tmp_path / "bad.toml"
    good.write_text(RETAIL, encoding="utf-8")
    wrong.write_text(WRONG, encoding="utf-8")
    bad.write_text("[[turn]\n", encoding="utf-8")
    report = tmp_path / "junit.xml"
    code, _, _ = run_cli(capsys, "test", str(good), str(wrong), str(bad), "--junit", str(report))
    assert code == 2
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.attrib["tests"] == "3" and suite.attrib["failures"] == "1" and suite.attrib["errors"] == "1"
    cases = {c.attrib["name"]: c for c in suite.findall("testcase")}
    assert set(cases) == {"good.toml", "wrong.toml", "bad.toml"}
    assert all(float(c.attrib["time"]) >= 0 and c.attrib["classname"] for c in cases.values())
    assert not list(cases["good.toml"])
    (failure,) = cases["wrong.toml"].findall("failure")
    assert "expected agent 'returns'" in failure.attrib["message"] and "transcript of turn 3" in (
        failure.text or ""
    )
    (error,) = cases["bad.toml"].findall("error")
    assert "SB002" in error.attrib["message"]


def test_run_fails_when_a_turn_matches_no_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "script.toml"
    script.write_text('[[turn]]\nuser = "hello"\n', encoding="utf-8")
    code, _, err = run_cli(capsys, "run", str(FLOWS / "retail.toml"), "--script", str(script))
    assert code == 1 and "no script rule matched a response in turn(s) 1" in err
    code, _, _ = run_cli(
        capsys, "run", str(FLOWS / "retail.toml"), "--script", str(FLOWS / "scripts" / "retail.toml")
    )
    assert code == 0


def test_the_script_schema_accepts_the_shipped_scripts() -> None:
    import json
    import tomllib

    from jsonschema import Draft202012Validator

    from engine.emulator.schema import script_json_schema

    validator = Draft202012Validator(script_json_schema())
    for path in [*(FLOWS / "scripts").glob("retail.toml"), *(FLOWS / "tests").rglob("*.toml")]:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        assert not [e.message for e in validator.iter_errors(data)], path
    assert not validator.is_valid({"turn": [{"user": "hi", "expect": {"handoff": "maybe"}}]})
    assert validator.is_valid(
        json.loads('{"turn": [{"user": "hi", "expect": {"handoff": ["done", "refused"]}}]}')
    )


def test_hostile_paths_are_clear_errors_never_hangs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    script = tmp_path / "zero.toml"
    script.write_text(
        'flow = "/dev/zero"\n\n[[turn]]\nuser = "hi"\nexpect = { agent = "x" }\n', encoding="utf-8"
    )
    code, out, _ = run_cli(capsys, "test", str(script))
    assert code == 2 and "SB705" in out and "SB001" in out
    a_file = tmp_path / "a_file"
    a_file.write_text("", encoding="utf-8")
    code, _, err = run_cli(
        capsys, "test", "--generate", str(FLOWS / "simple_handoff.toml"), "-o", str(a_file)
    )
    assert code == 2 and "cannot write the suite" in err
    # regenerating replaces only generated scripts: a hand-written one stays, a FIFO is never opened
    out_dir = tmp_path / "suite"
    out_dir.mkdir()
    (out_dir / "mine.toml").write_text(RETAIL, encoding="utf-8")
    (out_dir / "old.toml").write_text("# generated by `switchboard test --generate`: old\n", encoding="utf-8")
    os.mkfifo(out_dir / "pipe.toml")
    code, out, _ = run_cli(
        capsys, "test", "--generate", str(FLOWS / "simple_handoff.toml"), "-o", str(out_dir)
    )
    assert code == 0 and "10 passed" in out  # 9 generated cases and the hand-written script
    names = {p.name for p in out_dir.iterdir()}
    assert {"mine.toml", "pipe.toml", "depth-cap.toml"} <= names and "old.toml" not in names
