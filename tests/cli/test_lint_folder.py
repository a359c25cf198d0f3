"""Folder mode: one hostile file (deep nesting, binary garbage, a FIFO, invalid UTF-8) never hides another
file's findings nor empties the JSON/SARIF output, and lint always returns."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.cli import EXIT_FINDINGS, EXIT_USAGE, main

GOOD = """\
[flow]
name = "good"
entry = "front"
recovery = "help"

[agents.front]
handoffs = ["help"]

[agents.help]
terminal = true
"""
BROKEN = GOOD.replace('handoffs = ["help"]', 'handoffs = ["help", "nobody"]')  # SB101

HOSTILE: dict[str, tuple[str, str, Callable[[Path], None]]] = {
    # name: (file, the code it gets, how to make it)
    "deep json": ("deep.json", "SB006", lambda p: p.write_text("[" * 100_000 + "]" * 100_000)),
    "deep toml header": ("header.toml", "SB006", lambda p: p.write_text("[" + ".a" * 40_000 + "]\n")),
    "binary garbage": ("garbage.toml", "SB001", lambda p: p.write_bytes(bytes(range(256)) * 64)),
    "fifo": ("pipe.toml", "SB001", lambda p: os.mkfifo(p)),
    "invalid utf-8": ("latin1.json", "SB001", lambda p: p.write_bytes('{"flow": "Grüß"}'.encode("latin-1"))),
    "dangling link": ("gone.toml", "SB001", lambda p: p.symlink_to("nowhere.toml")),
}


def folder_with(tmp_path: Path, hostile: str) -> tuple[Path, str, str]:
    """A folder holding a good flow, a broken flow and one hostile file; returns it, the file and its code."""
    (tmp_path / "good.toml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "broken.toml").write_text(BROKEN, encoding="utf-8")
    name, code, make = HOSTILE[hostile]
    make(tmp_path / name)
    return tmp_path, name, code


def findings(capsys: pytest.CaptureFixture[str], fmt: str, folder: Path) -> tuple[int, list[tuple[str, str]]]:
    """Lint ``folder`` in ``fmt``; the exit code and the (file name, code) of every finding."""
    code = main(["lint", str(folder), "--format", fmt])
    out = capsys.readouterr().out
    if fmt == "json":
        found = [(Path(d["file"]).name, d["code"]) for d in json.loads(out)["findings"]]
    elif fmt == "sarif":
        results = json.loads(out)["runs"][0]["results"]
        found = [
            (Path(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]).name, r["ruleId"])
            for r in results
        ]
    else:
        lines = [line for line in out.splitlines() if ": error[" in line and not line.startswith(" ")]
        found = [(Path(line.split(":", 1)[0]).name, line.split("[")[1].split("]")[0]) for line in lines]
        assert out.rstrip().endswith("in 3 flows.")
    return code, found


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_one_hostile_file_hides_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hostile: str, fmt: str
) -> None:
    folder, name, expected = folder_with(tmp_path, hostile)
    code, found = findings(capsys, fmt, folder)
    if fmt == "sarif":  # SARIF names files by their resolved path
        name = (folder / name).resolve().name
    assert sorted(found) == sorted([("broken.toml", "SB101"), (name, expected)])
    assert code == (EXIT_USAGE if expected == "SB001" else EXIT_FINDINGS)  # an unreadable input exits 2


def test_every_hostile_file_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.toml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "broken.toml").write_text(BROKEN, encoding="utf-8")
    for name, _, make in HOSTILE.values():
        make(tmp_path / name)
    code = main(["lint", str(tmp_path), "--format", "json"])
    found = {(Path(d["file"]).name, d["code"]) for d in json.loads(capsys.readouterr().out)["findings"]}
    assert found == {("broken.toml", "SB101"), *((name, c) for name, c, _ in HOSTILE.values())}
    assert code == EXIT_USAGE
