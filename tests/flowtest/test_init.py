"""`switchboard init NAME`: the folder lints, renders, runs and passes its tests at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli.main import main


def test_a_new_flow_folder_works_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "desk"]) == 0
    root = tmp_path / "desk"
    assert (root / "desk.toml").is_file() and (root / "desk_tools.py").is_file()
    assert (root / "prompts" / "front.md").is_file() and (root / "tests" / "desk.toml").is_file()
    assert len(list((root / "tests" / "generated").glob("*.toml"))) >= 5
    capsys.readouterr()
    assert main(["lint", "desk", "--import-tools", "--strict"]) == 0
    assert "All checks passed" in capsys.readouterr().out
    assert main(["render", "desk/desk.toml", "-o", "desk/desk.dot"]) == 0
    assert main(["run", "desk/desk.toml", "--script", "desk/tests/desk.toml"]) == 0
    capsys.readouterr()
    assert main(["test", "desk/tests", "--fail-under", "100"]) == 0
    out = capsys.readouterr().out
    assert " 0 failed, 0 could not run" in out and "100%" in out


def test_init_refuses_a_bad_name_or_an_existing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "Bad-Name", "--dir", str(tmp_path)]) == 2
    assert "is not a flow name" in capsys.readouterr().err
    (tmp_path / "taken").mkdir()
    assert main(["init", "taken", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
