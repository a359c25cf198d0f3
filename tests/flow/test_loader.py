"""The loader: TOML and JSON carry the same data; every failure is a positioned diagnostic, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import tomllib
from pathlib import Path

import pytest

from engine.flow.diagnostics import FlowError, Location
from engine.flow.loader import load_flow, parse_flow

GOOD = """\
[flow]
name = "t"
entry = "a"
recovery = "r"

[agents.a]
handoffs = ["r"]

[agents.r]
terminal = true
"""


def errors(text: str, fmt: str = "toml") -> list[tuple[str, int, int, str]]:
    with pytest.raises(FlowError) as info:
        parse_flow(text, f"f.{fmt}", fmt)
    return [(d.code, d.location.line, d.location.col, d.message) for d in info.value.diagnostics]


def test_toml_and_json_forms_load_to_the_same_flow(tmp_path: Path) -> None:
    toml_doc = load_flow("flows/retail.toml")
    data = tomllib.loads(Path("flows/retail.toml").read_text())
    path = tmp_path / "retail.json"
    path.write_text(json.dumps(data, indent=2))
    shutil.copytree("flows/prompts", tmp_path / "prompts")  # relative to the flow, inside its folder
    json_doc = load_flow(path)
    assert json_doc.flow == toml_doc.flow
    assert json_doc.source.locate(("agents", "returns", "handoffs", 1)).line > 1


def test_instructions_files_are_read_relative_to_the_flow() -> None:
    doc = load_flow("flows/retail.toml")
    assert doc.flow.agents["authentication"].instructions.strip()
    assert doc.flow.agents["authentication"].instructions_file == "prompts/retail/authentication.md"


def test_malformed_toml_points_at_the_parser_position() -> None:
    ((code, line, col, message),) = errors(GOOD.replace('handoffs = ["r"]', 'handoffs = ["r"] x'))
    assert (code, line, col) == ("SB002", 7, 18)
    assert message.startswith("malformed TOML:") and "(at line" not in message


def test_malformed_json_points_at_the_parser_position() -> None:
    ((code, line, col, message),) = errors('{\n  "flow": {"name": "t",\n}', "json")
    assert (code, line, col) == ("SB002", 3, 1) and message.startswith("malformed JSON:")


def test_unknown_key_names_the_table_and_points_at_the_key() -> None:
    ((code, line, col, message),) = errors(GOOD.replace("terminal = true", "terminal = true\nterminus = 1"))
    assert (code, line, col) == ("SB003", 11, 1)
    assert message == "unknown key 'terminus' in [agents.r] (did you mean 'terminal'?)"


def test_wrong_type_points_at_the_value_and_shows_it() -> None:
    ((code, line, _, message),) = errors(GOOD.replace('name = "t"', "name = 7"))
    assert (code, line) == ("SB003", 2)
    assert message.startswith("[flow] name:") and "(got 7)" in message


def test_missing_key_names_the_table() -> None:
    ((code, line, _, message),) = errors(GOOD.replace('recovery = "r"\n', ""))
    assert (code, line, message) == ("SB003", 1, "missing required key 'recovery' in [flow]")


def test_bad_list_element_points_at_the_element() -> None:
    ((code, line, col, message),) = errors(GOOD.replace('handoffs = ["r"]', 'handoffs = ["r", "not a name"]'))
    assert (code, line, col) == ("SB003", 7, 18)
    assert message.startswith("[agents.a] handoffs[1]:")


def test_every_problem_is_reported_at_once() -> None:
    text = GOOD.replace('name = "t"', "name = 7").replace("terminal = true", "terminal = 3")
    assert [(c, line) for c, line, _, _ in errors(text)] == [("SB003", 2), ("SB003", 10)]


def test_duplicate_json_key_is_an_error_not_a_silent_overwrite() -> None:
    text = json.dumps(tomllib.loads(GOOD), indent=1).replace('"agents": {', '"agents": {\n"a": {},', 1)
    found = errors(text, "json")
    assert [c for c, *_ in found] == ["SB104"]
    assert "duplicate key 'agents.a'" in found[0][3]


def test_missing_instructions_file(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_text(GOOD.replace("[agents.r]", '[agents.r]\ninstructions_file = "nope.md"'))
    with pytest.raises(FlowError) as info:
        load_flow(path)
    (d,) = info.value.diagnostics
    assert (d.code, d.location) == ("SB004", Location(str(path), 10, 21))  # the value
    assert d.message == "cannot read instructions_file 'nope.md': no such file"
    assert d.help == f"create it, or fix the path: it is relative to the flow's folder ({tmp_path})"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.toml", None, "cannot read flow file"),
        ("flow.yaml", "a: 1", "unknown flow format '.yaml'"),
        ("binary.toml", b"\xff\xfe\x00", "cannot read flow file"),
    ],
)
def test_unreadable_files_are_sb001(
    tmp_path: Path, name: str, content: str | bytes | None, expected: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(FlowError) as info:
        load_flow(path)
    (d,) = info.value.diagnostics
    assert d.code == "SB001" and expected in d.message and d.location.file == str(path)


def test_flow_error_message_lists_every_diagnostic() -> None:
    with pytest.raises(FlowError) as info:
        parse_flow(GOOD.replace('name = "t"', "name = 7"), "x.toml")
    assert str(info.value).startswith("x.toml:2:1: SB003 [error] [flow] name:")


def test_unknown_keys_suggest_the_key_meant_and_hide_the_missing_one() -> None:
    text = (
        '[flow]\nname = "x"\nentry = "a"\nrecovery = "a"\nmax_handof_depth = 3\n'
        '[agents.a]\nterminal = true\nrequries = ["k"]\n[[handoff]]\nform = "a"\nto = "a"\n'
    )
    with pytest.raises(FlowError) as info:
        parse_flow(text, "typo.toml")
    messages = [(d.location.line, d.message) for d in info.value.diagnostics]
    assert messages == [
        (5, "unknown key 'max_handof_depth' in [flow] (did you mean 'max_handoff_depth'?)"),
        (8, "unknown key 'requries' in [agents.a] (did you mean 'requires'?)"),
        (10, "unknown key 'form' in [[handoff]] #1 (did you mean 'from'?)"),
    ]


def test_a_fifo_flow_file_is_sb001_and_never_blocks(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.toml")
    with pytest.raises(FlowError) as info:
        load_flow(tmp_path / "pipe.toml")
    assert [(d.code, d.message) for d in info.value.diagnostics] == [
        ("SB001", "cannot read flow file: not a regular file (a FIFO)")
    ]
