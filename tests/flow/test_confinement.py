"""The loader reads only what a flow may name: hostile `instructions_file` and `script` values are SB005 at the
value's position (SB004 for a plain missing file), and a leading BOM is accepted (engine.flow.loader)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.cli import EXIT_FINDINGS, main
from engine.flow.diagnostics import Diagnostic, FlowError, Location
from engine.flow.loader import FlowDocument, load_flow, parse_flow

FLOW = """\
[flow]
name = "desk"
entry = "front"
recovery = "help"

[agents.front]
instructions_file = "{ref}"
handoffs = ["help"]

[agents.help]
terminal = true
"""
VALUE = Location("", 7, 21)  # where `"{ref}"` stands


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """``tmp_path/flows`` with a prompt inside; ``tmp_path/secret.txt`` lies outside it."""
    root = tmp_path / "flows"
    (root / "prompts").mkdir(parents=True)
    (root / "prompts" / "front.md").write_text("You are the front desk.\n", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("TOP SECRET", encoding="utf-8")
    return root


def flow_naming(folder: Path, ref: str) -> Path:
    path = folder / "desk.toml"
    path.write_text(FLOW.replace("{ref}", ref), encoding="utf-8")
    return path


def refusal(folder: Path, ref: str) -> Diagnostic:
    """The one finding loading a flow whose agent names ``ref`` gives; it never shows the file's text."""
    path = flow_naming(folder, ref)
    with pytest.raises(FlowError) as info:
        load_flow(path)
    (d,) = info.value.diagnostics
    assert (d.location.file, d.location.line, d.location.col) == (str(path), VALUE.line, VALUE.col)
    assert d.help and "TOP SECRET" not in str(info.value) and "root:" not in str(info.value)
    return d


def test_dot_dot_out_of_the_folder(folder: Path) -> None:
    d = refusal(folder, "../../../../etc/passwd")
    assert (d.code, d.rule) == ("SB005", "file-confinement")
    assert (
        d.message
        == "cannot read instructions_file '../../../../etc/passwd': outside the flow's folder (through '..')"
    )
    assert str(folder) in d.help


def test_dot_dot_to_a_sibling_file(folder: Path) -> None:
    assert refusal(folder, "prompts/../../secret.txt").code == "SB005"


def test_an_absolute_path(folder: Path) -> None:
    d = refusal(folder, "/etc/passwd")
    assert d.code == "SB005" and d.message.endswith("outside the flow's folder (an absolute path)")


def test_an_absolute_path_inside_the_folder_is_refused_too(folder: Path) -> None:
    assert refusal(folder, str(folder / "prompts" / "front.md")).code == "SB005"


def test_a_symlink_out_of_the_folder(folder: Path) -> None:
    (folder / "prompts" / "secret.md").symlink_to(folder.parent / "secret.txt")
    d = refusal(folder, "prompts/secret.md")
    assert d.code == "SB005" and d.message.endswith("outside the flow's folder (through a symlink)")


def test_a_symlinked_folder_out_of_the_folder(folder: Path) -> None:
    (folder / "shared").symlink_to(folder.parent)
    assert refusal(folder, "shared/secret.txt").code == "SB005"


def test_proc_self_environ(folder: Path) -> None:
    assert refusal(folder, "/proc/self/environ").code == "SB005"


def test_a_symlink_to_proc_self_environ(folder: Path) -> None:
    (folder / "env.md").symlink_to("/proc/self/environ")
    assert refusal(folder, "env.md").code == "SB005"


def test_dev_zero(folder: Path) -> None:
    assert refusal(folder, "/dev/zero").code == "SB005"
    (folder / "zero.md").symlink_to("/dev/zero")
    assert refusal(folder, "zero.md").code == "SB005"


def test_a_fifo_is_refused_and_lint_returns(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(folder / "prompts" / "pipe.md")  # opening it for reading would block until a writer came
    d = refusal(folder, "prompts/pipe.md")
    assert d.code == "SB005" and d.message.endswith("not a regular file (a FIFO)")
    assert main(["lint", str(folder / "desk.toml")]) == EXIT_FINDINGS
    assert "error[SB005]" in capsys.readouterr().out


def test_a_directory(folder: Path) -> None:
    d = refusal(folder, "prompts")
    assert d.code == "SB005" and d.message.endswith("not a regular file (a directory)")


def test_a_file_of_2_mib(folder: Path) -> None:
    (folder / "prompts" / "big.md").write_bytes(b"x" * (2 * 1024 * 1024))
    d = refusal(folder, "prompts/big.md")
    assert d.code == "SB005" and d.message.endswith("larger than 1 MiB (2 MiB)")


def test_invalid_utf8(folder: Path) -> None:
    (folder / "prompts" / "latin1.md").write_bytes("Grüß Gott".encode("latin-1"))
    d = refusal(folder, "prompts/latin1.md")
    assert d.code == "SB005" and d.message.endswith("not UTF-8 (byte 0xfc at offset 2)")


def test_a_missing_file_is_sb004(folder: Path) -> None:
    d = refusal(folder, "prompts/nope.md")
    assert (d.code, d.rule) == ("SB004", "instructions-file") and d.message.endswith("no such file")


def test_a_bom_prompt_is_accepted_without_its_bom(folder: Path) -> None:
    (folder / "prompts" / "bom.md").write_bytes(b"\xef\xbb\xbfYou are the front desk.\n")
    doc = load_flow(flow_naming(folder, "prompts/bom.md"))
    assert doc.flow.agents["front"].instructions == "You are the front desk.\n"


def test_symlinks_that_stay_inside_are_followed(folder: Path) -> None:
    (folder / "alias.md").symlink_to("prompts/front.md")
    assert load_flow(flow_naming(folder, "alias.md")).flow.agents["front"].instructions.startswith("You are")


def test_a_flow_parsed_from_text_reads_from_its_base_dir_only(folder: Path) -> None:
    text = FLOW.replace("{ref}", "prompts/front.md")
    assert parse_flow(text, "t.toml", base_dir=folder).flow.agents["front"].instructions.startswith("You")
    with pytest.raises(FlowError) as info:
        parse_flow(FLOW.replace("{ref}", "../secret.txt"), "t.toml", base_dir=folder)
    assert [d.code for d in info.value.diagnostics] == ["SB005"]


SUPERVISED = FLOW.replace('instructions_file = "{ref}"\n', "") + (
    '\n[supervisor]\ninstructions_file = "{instructions}"\nscript = "{script}"\n'
)


def supervised(folder: Path, instructions: str = "prompts/front.md", script: str = "rules.toml") -> Path:
    path = folder / "desk.toml"
    path.write_text(SUPERVISED.format(instructions=instructions, script=script), encoding="utf-8")
    return path


def test_the_supervisor_script_outside_the_folder_is_refused_at_its_value(folder: Path) -> None:
    (folder.parent / "rules.toml").write_text('[[rule]]\nmatch = "x"\nanswer = "y"\n', encoding="utf-8")
    path = supervised(folder, script="../rules.toml")
    with pytest.raises(FlowError) as info:
        load_flow(path)
    (d,) = info.value.diagnostics
    assert (d.code, d.location) == ("SB005", Location(str(path), 14, 10))
    assert (
        d.message
        == "cannot read the supervisor's script '../rules.toml': outside the flow's folder (through '..')"
    )


def test_a_fifo_as_the_supervisor_script_is_refused(folder: Path) -> None:
    os.mkfifo(folder / "rules.toml")
    with pytest.raises(FlowError) as info:
        load_flow(supervised(folder))
    assert [(d.code, d.message.endswith("(a FIFO)")) for d in info.value.diagnostics] == [("SB005", True)]


def test_a_missing_supervisor_script_is_left_to_start_up(folder: Path) -> None:
    doc = load_flow(supervised(folder))  # lint and run report it as SB402 (tests/cli/test_lint_parity.py)
    assert isinstance(doc, FlowDocument) and doc.flow.supervisor is not None


def test_the_supervisor_instructions_file_is_confined(folder: Path) -> None:
    (folder / "rules.toml").write_text('[[rule]]\nmatch = "x"\nanswer = "y"\n', encoding="utf-8")
    path = supervised(folder, instructions="/proc/self/environ")
    with pytest.raises(FlowError) as info:
        load_flow(path)
    (d,) = info.value.diagnostics
    assert (d.code, d.location) == ("SB005", Location(str(path), 13, 21))


def test_json_flows_point_at_the_value_too(folder: Path) -> None:
    data = {"flow": {"name": "d", "entry": "a", "recovery": "a"}, "agents": {"a": {"terminal": True}}}
    data["agents"]["a"]["instructions_file"] = "/etc/passwd"
    path = folder / "desk.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    with pytest.raises(FlowError) as info:
        load_flow(path)
    (d,) = info.value.diagnostics
    line = path.read_text().splitlines()[d.location.line - 1]
    assert d.code == "SB005" and line[d.location.col - 1 :] == '"/etc/passwd"'


GOOD = FLOW.replace('instructions_file = "{ref}"\n', "")


@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_a_flow_file_with_a_bom_loads_with_unshifted_positions(folder: Path, fmt: str) -> None:
    text = GOOD if fmt == "toml" else json.dumps({"flow": {"name": 7}}, indent=1)
    plain, bom = folder / f"plain.{fmt}", folder / f"bom.{fmt}"
    plain.write_text(text, encoding="utf-8")
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode())
    if fmt == "toml":
        assert load_flow(bom).flow == load_flow(plain).flow
        assert parse_flow("\ufeff" + text, "t.toml").flow == load_flow(plain).flow
        return
    found = []
    for path in (plain, bom):
        with pytest.raises(FlowError) as info:
            load_flow(path)
        found.append([(d.code, d.location.line, d.location.col) for d in info.value.diagnostics])
    assert found[0] == found[1] and ("SB003", 3, 3) in found[0]
