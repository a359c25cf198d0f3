"""The `switchboard` command: lint output formats and exit codes, schema, run, log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, find_flow_files, main
from engine.flow.schema import flow_json_schema_text
from engine.runtime.audit_file import read_jsonl

BROKEN = Path("flows/broken")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_committed_schema_is_up_to_date() -> None:
    assert Path("schemas/flow.schema.json").read_text() == flow_json_schema_text(), (
        "schemas/flow.schema.json is stale: run `make schema`"
    )


def test_committed_script_schema_is_up_to_date() -> None:
    from engine.emulator.schema import script_json_schema_text

    assert Path("schemas/script.schema.json").read_text() == script_json_schema_text(), (
        "schemas/script.schema.json is stale: run `make schema`"
    )


def test_schema_command_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "schema")
    assert code == EXIT_OK and json.loads(out)["properties"]["agents"]


def test_shipped_flows_lint_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "lint", "flows", "--exclude", "flows/broken/*", "--strict")
    assert code == EXIT_OK, out
    scripts = 2 + len(list(Path("flows/tests").rglob("*.toml")))  # the example scripts and generated suites
    assert f"All checks passed (3 flows, {scripts} scripts)." in out


def test_folder_expansion_skips_companion_folders() -> None:
    files = {str(p) for p in find_flow_files(["flows"], ["flows/broken/*", "flows/tests/*"])}
    # the companion folders' scripts that name their flow are linted; the supervisor's rules file is not
    assert files == {
        "flows/retail.toml",
        "flows/simple_handoff.toml",
        "flows/chat_supervisor.toml",
        "flows/scripts/retail.toml",
        "flows/scripts/chat_supervisor.toml",
    }


def test_text_output_is_file_line_col_severity_code_message(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "lint", str(BROKEN / "sb201_unreachable_agent.toml"))
    assert code == EXIT_FINDINGS
    first = out.splitlines()[0]
    assert first.startswith("flows/broken/sb201_unreachable_agent.toml:14:1: error[SB201]: agent 'billing'")
    assert out.splitlines()[-1] == "Found 1 error and 0 warnings in 1 flow."


def test_warnings_pass_unless_strict(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(BROKEN / "sb107_unused_tool.toml")
    assert run_cli(capsys, "lint", path)[0] == EXIT_OK
    assert run_cli(capsys, "lint", path, "--strict")[0] == EXIT_FINDINGS


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "lint", str(BROKEN / "sb301_required_key_lost.toml"), "--format", "json")
    report = json.loads(out)
    (finding,) = report["findings"]
    assert report["suppressed"] == [] and report["summary"]["errors"] == 1
    assert code == EXIT_FINDINGS
    assert finding["code"] == "SB301" and finding["rule"] == "required-key-lost"
    assert finding["line"] == 17 and finding["severity"] == "error"
    assert finding["detail"]["path"] == ["authentication", "sales", "returns"]


def test_sarif_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "lint", str(BROKEN), "--format", "sarif")
    log = json.loads(out)
    assert code == EXIT_FINDINGS and log["version"] == "2.1.0"
    run = log["runs"][0]
    rule_ids = {r["id"] for r in run["tool"]["driver"]["rules"]}
    result_ids = {r["ruleId"] for r in run["results"]}
    assert result_ids == rule_ids and "SB205" in rule_ids
    region = run["results"][0]["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] >= 1 and region["startColumn"] >= 1


@pytest.mark.parametrize(
    "argv",
    [
        ["lint", "no/such/flow.toml"],
        ["lint", "README.md"],
        ["lint", "tests"],  # a folder with no flows
    ],
)
def test_unreadable_input_exits_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert code == EXIT_USAGE, (out, err)


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["lint", "--format", "xml", "flows"])
    assert info.value.code == EXIT_USAGE


def test_malformed_flow_is_a_finding_with_position_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run_cli(capsys, "lint", str(BROKEN / "sb002_malformed.toml"))
    assert code == EXIT_FINDINGS
    assert out.startswith("flows/broken/sb002_malformed.toml:5:") and "error[SB002]: malformed TOML" in out
    assert "Traceback" not in out


def test_run_refuses_a_flow_that_does_not_lint(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        capsys, "run", str(BROKEN / "sb205_dead_end.toml"), "--script", "flows/scripts/retail.toml"
    )
    assert code == EXIT_FINDINGS
    assert "SB205" in err and "nothing was run" in err


def test_run_retail_script_then_log_summary(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    code, out, err = run_cli(
        capsys,
        "run",
        "flows/retail.toml",
        "--script",
        "flows/scripts/retail.toml",
        "--audit",
        str(audit),
        "--turn-timeout",
        "20",
    )
    assert code == EXIT_OK, err
    assert "authentication -x-> returns refused" in out
    assert "returns -> generalist (capped" in out
    records = [r for _, r in read_jsonl(audit)]
    stamps = {(r.flow, len(r.flow_hash)) for r in records if not isinstance(r, str)}
    assert stamps == {("retail", 12)}  # every record names its flow and content hash (merged logs stay apart)
    outcomes = [r.outcome for r in records if not isinstance(r, str) and r.kind == "handoff"]
    assert outcomes.count("done") >= 3 and "refused" in outcomes and "capped" in outcomes
    code, out, _ = run_cli(capsys, "log", str(audit))
    assert code == EXIT_OK
    assert "Handoffs per edge" in out and "authentication" in out and "generalist" in out


def test_log_reports_bad_lines_and_keeps_going(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"not": "a record"}\n')
    code, out, err = run_cli(capsys, "log", str(path))
    assert code == EXIT_OK and f"{path}:1: not an audit record" in err
    assert "0 records" in out


def test_log_missing_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "log", "no/such.jsonl")[0] == EXIT_USAGE


def test_chat_reads_the_users_turns_from_stdin(tmp_path: Path) -> None:
    import subprocess
    import sys

    audit = tmp_path / "chat.jsonl"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "chat",
            "flows/retail.toml",
            "--script",
            "flows/scripts/retail.toml",
            "--audit",
            str(audit),
        ],
        input="Sure: my phone is (206) 135-1246\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == EXIT_OK, result.stderr
    assert "authentication -> returns: verified caller wants to return a snowboard" in result.stdout
    assert "ended with returns after 1 handoff(s)" in result.stdout
    records = [(r.kind, r.outcome) for _, r in read_jsonl(audit)]  # type: ignore[union-attr]
    assert records == [("tool", "ok"), ("handoff", "done"), ("tool", "ok"), ("end", "ended")]


def test_run_against_openai_without_a_key_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code, _, err = run_cli(
        capsys,
        "run",
        "flows/retail.toml",
        "--script",
        "flows/scripts/retail.toml",
        "--upstream",
        "wss://api.openai.com/v1/realtime?model=gpt-realtime",
    )
    assert code == EXIT_FINDINGS and "OPENAI_API_KEY is not set" in err and "Traceback" not in err


def test_run_against_an_unreachable_upstream_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        capsys,
        "run",
        "flows/retail.toml",
        "--script",
        "flows/scripts/retail.toml",
        "--upstream",
        "ws://127.0.0.1:9/v1/realtime",
    )
    assert code == EXIT_FINDINGS and "refused the connection" in err


def test_run_takes_trusted_initial_context_and_checks_it_against_the_flow(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    flow = tmp_path / "desk.toml"
    flow.write_text(
        '[flow]\nname = "desk"\nentry = "front"\nrecovery = "billing"\ninitial_context = ["user_id"]\n\n'
        '[agents.front]\nhandoffs = ["billing"]\n\n[agents.billing]\nrequires = ["user_id"]\nterminal = true\n'
    )
    script = tmp_path / "script.toml"
    script.write_text(
        '[[turn]]\nuser = "bill me"\n\n[[rule]]\nagent = "front"\nuser = "bill"\ncall = "transfer_to_billing"\n'
        'arguments = { reason = "billing" }\n\n[[rule]]\nagent = "billing"\nsay = "Billing here."\n'
    )
    base = ("run", str(flow), "--script", str(script))
    code, out, err = run_cli(capsys, *base, "--context", "user_id=u-7")
    assert code == EXIT_OK, err
    assert "front -> billing" in out and "ended with billing" in out
    code, _, err = run_cli(capsys, *base)
    assert code == EXIT_USAGE and "--context user_id=VALUE" in err
    code, _, err = run_cli(capsys, *base, "--context", "userid=u-7")
    assert code == EXIT_USAGE and "did you mean 'user_id'" in err
    code, _, err = run_cli(capsys, *base, "--context", "user_id")
    assert code == EXIT_USAGE and "expected KEY=VALUE" in err


def test_log_counts_tool_calls_per_tool_and_conversation(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from engine.session.audit import AuditRecord

    def tool(seq: int, name: str, outcome: str) -> str:
        return AuditRecord("c1", seq, 0.0, "tool", outcome, "front", detail={"tool": name}).to_json()  # type: ignore[arg-type]

    lines = [
        tool(1, "lookup", "ok"),
        tool(2, "lookup", "ok"),
        tool(3, "lookup", "timed_out"),
        tool(4, "freeze_card", "failed"),
        tool(5, "freeze_card", "refused"),
        AuditRecord("c1", 6, 0.0, "end", "ended", "front", detail={"user_turns": 2}).to_json(),
    ]
    path = tmp_path / "tools.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code, out, _ = run_cli(capsys, "log", str(path))
    assert code == EXIT_OK
    assert "Tool calls" in out and "timed out" in out
    cells = {
        row[0]: row[1:]
        for row in ([c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines())
        if row
    }
    assert cells["lookup"] == ["2", "", "", "1"]  # ok, failed, refused, timed out
    assert cells["freeze_card"] == ["", "1", "1", ""]
    assert "5 tool calls (ok 2, failed 1, refused 1, timed out 1)" in out


@pytest.mark.parametrize("hostile", ["/dev/zero", "fifo", "missing"])
def test_a_hostile_api_key_file_is_a_clear_error_not_a_hang(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, hostile: str
) -> None:
    import os

    path = tmp_path / hostile if hostile != "/dev/zero" else Path(hostile)
    if hostile == "fifo":
        os.mkfifo(path)
    code, _, err = run_cli(
        capsys,
        "run",
        "flows/retail.toml",
        "--script",
        "flows/scripts/retail.toml",
        "--api-key-file",
        str(path),
    )
    assert code == EXIT_USAGE and "switchboard run:" in err
