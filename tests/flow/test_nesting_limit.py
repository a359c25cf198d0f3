"""Documents nested deeper than MAX_NESTING are SB006 with a position, before any parser recurses (the loader,
emulator scripts, supervisor rules): never a RecursionError, never SB000."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.emulator.script import Script, ScriptError
from engine.flow.diagnostics import DocumentError, FlowError
from engine.flow.document import parse_document
from engine.flow.loader import load_flow
from engine.flow.nesting import MAX_NESTING, Format
from engine.supervisor.backend import SupervisorConfigError
from engine.supervisor.scripted import ScriptedSupervisor

# a document `n` containers deep (the document itself included; arrays of tables: n odd), n >= 2
SHAPES = {
    "json arrays": ("json", lambda n: "[" * n + "]" * n),
    "json objects": ("json", lambda n: '{"a": ' * (n - 1) + "{}" + "}" * (n - 1)),
    "toml arrays": ("toml", lambda n: "x = " + "[" * (n - 1) + "]" * (n - 1) + "\n"),
    "toml inline tables": ("toml", lambda n: "x = " + "{ a = " * (n - 2) + "{}" + " }" * (n - 2) + "\n"),
    "toml dotted header": ("toml", lambda n: "[" + ".".join(["t"] * (n - 1)) + "]\nk = 1\n"),
    "toml dotted key": ("toml", lambda n: ".".join(["k"] * n) + " = 1\n"),
    "toml arrays of tables": (
        "toml",
        lambda n: "".join(f"[[{'.'.join(['a'] * i)}]]\n" for i in range(1, n // 2 + 1)),
    ),
}


def sb006(text: str, fmt: Format) -> tuple[int, int] | None:
    """Where parsing reports SB006, or ``None`` when it parses."""
    try:
        parse_document(text, "d." + fmt, fmt)
    except DocumentError as exc:
        (d,) = exc.diagnostics
        assert (d.code, d.rule) == ("SB006", "nesting-depth") and d.help
        return d.location.line, d.location.col
    return None


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_limit_is_exact(shape: str) -> None:
    fmt, make = SHAPES[shape]
    limit = MAX_NESTING if shape != "toml arrays of tables" else MAX_NESTING - 1  # pairs: array + element
    assert sb006(make(limit), fmt) is None
    assert sb006(make(limit + 2), fmt) is not None


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_far_beyond_the_parsers_recursion_limit(shape: str) -> None:
    fmt, make = SHAPES[shape]
    assert sb006(make(5_000), fmt) is not None  # tomllib and json raise RecursionError near 1,000


@given(shape=st.sampled_from(sorted(SHAPES)), depth=st.integers(2, 300))
def test_deep_documents_parse_or_are_sb006(shape: str, depth: int) -> None:
    fmt, make = SHAPES[shape]
    sb006(make(depth), fmt)  # raises nothing else


def test_positions_point_at_the_first_container_too_deep() -> None:
    assert sb006("[" * 100 + "]" * 100, "json") == (1, MAX_NESTING + 1)
    assert sb006('{\n "a":\n' + "[" * 100 + "]" * 100 + "}", "json") == (3, MAX_NESTING)
    header = "x = 1\n[" + ".".join(["abc"] * 100) + "]\n"
    assert sb006(header, "toml") == (2, 2 + 4 * (MAX_NESTING - 1))  # the part that is one too many


def test_a_deep_dotted_header_of_269_kb_is_sb006_not_a_quadratic_parse(tmp_path: Path) -> None:
    """``tomllib`` takes seconds (quadratic) on this header; the pre-scan stops at part 64."""
    path = tmp_path / "deep.toml"
    path.write_text("[" + ".".join(["abcdef"] * 38_500) + "]\nx = 1\n", encoding="utf-8")
    assert path.stat().st_size > 269_000
    with pytest.raises(FlowError) as info:
        load_flow(path)
    assert [(d.code, d.location.line) for d in info.value.diagnostics] == [("SB006", 1)]


def test_a_flow_with_deep_tool_parameters() -> None:
    with pytest.raises(FlowError) as info:
        load_flow("flows/broken/sb006_nesting_too_deep.toml")
    (d,) = info.value.diagnostics
    assert (d.code, d.location.line) == ("SB006", 16)


def test_a_bom_does_not_shift_the_position() -> None:
    text = "[" * 100 + "]" * 100
    assert sb006("\ufeff" + text, "json") == sb006(text, "json")


def test_emulator_scripts_and_supervisor_rules_are_limited_too(tmp_path: Path) -> None:
    deep = "[[rule]]\nmatch = 'x'\narguments = " + "[" * 2_000 + "]" * 2_000 + "\n"
    with pytest.raises(ScriptError) as script:
        Script.parse(deep, "script.toml")
    with pytest.raises(SupervisorConfigError) as rules:
        ScriptedSupervisor.parse(deep, tools=None, name="rules.toml")  # type: ignore[arg-type]
    for exc in (script.value, rules.value):
        assert [d.code for d in exc.diagnostics] == ["SB006"]


def test_json_depth_matches_the_parsed_data() -> None:
    text = json.dumps({"a": [[{"b": [1]}]]})
    assert sb006(text, "json") is None and parse_document(text, "d.json", "json").data["a"][0][0]["b"] == [1]
