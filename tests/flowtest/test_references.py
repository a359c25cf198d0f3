"""A script's names are checked against its flow: positioned errors with a did-you-mean, in `lint` too."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli.main import main
from engine.flowtest.case import CaseError, lint_script, load_case
from tests.flowtest.helpers import FLOWS, shipped_script

RETAIL = shipped_script("retail", "retail")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "case.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "code", "hint"),
    [
        (
            'agent = "authentication"\nuser = "(?i)return"',
            'agent = "authentcation"\nuser = "(?i)return"',
            "SB701",
            "did you mean 'authentication'?",
        ),
        ('expect = { agent = "sales"', 'expect = { agent = "greter"', "SB701", "no agent 'greter'"),
        ('call = "lookup_orders"', 'call = "lookup_order"', "SB702", "did you mean 'lookup_orders'?"),
        (
            'tool = "lookup_new_sales"',
            'tool = "transfer_to_sale"',
            "SB703",
            "did you mean 'transfer_to_sales'?",
        ),
        (
            'context = { set = ["user_id"] }',
            'context = { set = ["userid"] }',
            "SB704",
            "did you mean 'user_id'?",
        ),
    ],
    ids=["rule agent", "expect agent", "tool", "transfer", "context key"],
)
def test_an_unknown_name_is_a_positioned_error(
    old: str, new: str, code: str, hint: str, tmp_path: Path
) -> None:
    text = RETAIL.replace(old, new, 1)
    path = _write(tmp_path, text)
    with pytest.raises(CaseError) as caught:
        load_case(path)
    (found,) = caught.value.diagnostics
    assert found.code == code and hint in found.message and found.help
    assert found.location.file == str(path) and found.location.line == _line_of(text, new.split("\n")[0])
    assert [d.code for d in lint_script(path)] == [code]


def test_a_script_naming_a_missing_flow_is_sb705_at_its_flow_key(tmp_path: Path) -> None:
    path = _write(tmp_path, 'flow = "nowhere.toml"\n\n[[turn]]\nuser = "hi"\nexpect = { agent = "x" }\n')
    (found,) = lint_script(path)
    assert found.code == "SB705" and found.location.line == 1 and "nowhere.toml" in found.message


def test_lint_accepts_scripts_and_folders_of_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _write(tmp_path, RETAIL.replace('expect = { agent = "sales"', 'expect = { agent = "greter"', 1))
    assert main(["lint", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:" in out and "SB701" in out and "greter" in out
    assert main(["lint", str(FLOWS / "scripts" / "retail.toml")]) == 0
    capsys.readouterr()
    # a folder: flows and the scripts that name their flow (the supervisor's rules file is not one)
    assert main(["lint", str(FLOWS), "--exclude", "*/broken/*"]) == 0
    out = capsys.readouterr().out
    assert "All checks passed" in out


def test_a_script_of_the_wrong_flow_is_caught(tmp_path: Path) -> None:
    path = _write(tmp_path, RETAIL)
    with pytest.raises(CaseError) as caught:
        load_case(path, flow=FLOWS / "simple_handoff.toml")
    assert {d.code for d in caught.value.diagnostics} >= {"SB701", "SB702"}
