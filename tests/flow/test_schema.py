"""Strict input: no coercion, positioned SB003s, names the Realtime API can carry, and a JSON Schema that
says the same (its property test is ``test_schema_properties.py``)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for

from engine.flow.diagnostics import FlowError
from engine.flow.loader import parse_flow
from engine.flow.names import AGENT_NAME_MAX, FUNCTION_NAME_MAX, TRANSFER_PREFIX
from engine.flow.schema import flow_json_schema

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

SCHEMA = Draft202012Validator(json.loads(Path("schemas/flow.schema.json").read_text()))


def problems(text: str, fmt: str = "toml") -> list[tuple[str, int, int, str]]:
    with pytest.raises(FlowError) as info:
        parse_flow(text, f"f.{fmt}", fmt)
    return [(d.code, d.location.line, d.location.col, d.message) for d in info.value.diagnostics]


def as_json(text: str) -> str:
    return json.dumps(tomllib.loads(text), indent=2)


def schema_accepts(data: Any) -> bool:
    return SCHEMA.is_valid(data)


@pytest.mark.parametrize(
    ("old", "new", "line", "where"),
    [
        ('recovery = "r"', 'recovery = "r"\nmax_handoff_depth = "8"', 5, "[flow] max_handoff_depth"),
        ("terminal = true", 'terminal = "yes"', 10, "[agents.r] terminal"),
        ("terminal = true", "terminal = 1", 10, "[agents.r] terminal"),
        ('handoffs = ["r"]', 'handoffs = ["r"]\nmax_visits = true', 8, "[agents.a] max_visits"),
        ('handoffs = ["r"]', 'handoffs = ["r"]\nmax_visits = 2.5', 8, "[agents.a] max_visits"),
        ('recovery = "r"', 'recovery = "r"\nimplicit_fallback = "false"', 5, "[flow] implicit_fallback"),
        ('handoffs = ["r"]', "handoffs = [7]", 7, "[agents.a] handoffs[0]"),
    ],
)
def test_no_coercion_each_is_one_positioned_sb003_in_toml_and_json(
    old: str, new: str, line: int, where: str
) -> None:
    text = GOOD.replace(old, new)
    ((code, at, _, message),) = problems(text)
    assert (code, at) == ("SB003", line)
    assert message.startswith(f"{where}:")
    ((code, _, _, message),) = problems(as_json(text), "json")
    assert code == "SB003" and message.startswith(f"{where}:")
    assert not schema_accepts(tomllib.loads(text))


def test_the_json_number_model_an_int_is_a_float_and_a_whole_float_an_int() -> None:
    text = GOOD.replace('recovery = "r"', 'recovery = "r"\nmax_handoff_depth = 8.0') + (
        "[supervisor]\ntimeout_s = 10\nmax_tool_rounds = 2.0\n"
    )
    for doc in (parse_flow(text, "f.toml"), parse_flow(as_json(text), "f.json", "json")):
        assert doc.flow.flow.max_handoff_depth == 8 and type(doc.flow.flow.max_handoff_depth) is int
        assert doc.flow.supervisor is not None and doc.flow.supervisor.timeout_s == 10.0
        assert (
            type(doc.flow.supervisor.timeout_s) is float and type(doc.flow.supervisor.max_tool_rounds) is int
        )
    assert schema_accepts(tomllib.loads(text))


def test_a_json_flow_may_name_its_schema_and_the_loader_ignores_it() -> None:
    data = {"$schema": "../schemas/flow.schema.json", **tomllib.loads(GOOD)}
    doc = parse_flow(json.dumps(data), "f.json", "json")
    assert doc.flow == parse_flow(GOOD, "f.toml").flow, "ignored: not part of the flow"
    assert "$schema" not in doc.flow.model_dump(by_alias=True)
    assert schema_accepts(data)
    ((code, _, _, message),) = problems(json.dumps({**data, "$schema": 3}), "json")
    assert code == "SB003" and "$schema" in message
    assert not schema_accepts({**data, "$schema": 3})


def test_only_the_alias_of_a_contract_edge_is_accepted() -> None:
    text = GOOD + '[[handoff]]\nsource = "a"\nto = "r"\n'
    assert sorted(m for *_, m in problems(text)) == [
        "missing required key 'from' in [[handoff]] #1",
        "unknown key 'source' in [[handoff]] #1",
    ], "`source` is the Python name of `from`, not a key of the format"
    assert not schema_accepts(tomllib.loads(text))


def name_flow(agent: str = "a", tool: str = "t", flow: str = "t") -> str:
    """A flow with these names (quoted, so that any string is TOML)."""
    a, t, f = (json.dumps(n) for n in (agent, tool, flow))
    return (
        f'[flow]\nname = {f}\nentry = {a}\nrecovery = "r"\n'
        f'[agents.{a}]\nhandoffs = ["r"]\ntools = [{t}]\n[agents.r]\nterminal = true\n[tools.{t}]\n'
    )


KEBAB = ["human-agent", "airline-unreachable", "a", "A1", "x_y-z", "a" * AGENT_NAME_MAX]
NOT_AGENT_NAMES = ["1a", "-a", "_a", "a b", "a.b", "ä", "a" * (AGENT_NAME_MAX + 1)]


@pytest.mark.parametrize("name", KEBAB)
def test_kebab_case_agent_names_fit_the_realtime_function_name_rule(name: str) -> None:
    text = name_flow(agent=name)
    doc = parse_flow(text, "f.toml")
    assert name in doc.flow.agents and doc.flow.flow.entry == name
    assert schema_accepts(tomllib.loads(text))
    assert len(TRANSFER_PREFIX + name) <= FUNCTION_NAME_MAX


@pytest.mark.parametrize("name", NOT_AGENT_NAMES)
def test_other_agent_names_are_sb003_at_the_table_in_toml_json_and_the_schema(name: str) -> None:
    text = name_flow(agent=name)
    found = problems(text)
    assert {c for c, *_ in found} == {"SB003"}
    assert any(message.startswith(f"[agents.{name}]") for *_, message in found), found
    assert any(message.startswith("[flow] entry:") for *_, message in found), found
    data = tomllib.loads(text)
    assert {c for c, *_ in problems(json.dumps(data), "json")} == {"SB003"}
    assert not schema_accepts(data)


def test_a_tool_or_flow_name_may_be_a_whole_function_name_an_agent_name_leaves_room_for_the_prefix() -> None:
    longest = "t" * FUNCTION_NAME_MAX
    doc = parse_flow(name_flow(tool=longest, flow=longest), "f.toml")
    assert longest in doc.flow.tools and doc.flow.flow.name == longest
    assert [c for c, *_ in problems(name_flow(tool=longest + "t"))] == ["SB003", "SB003"]
    assert [c for c, *_ in problems(name_flow(flow=longest + "t"))] == ["SB003"]


def test_context_keys_stay_identifiers() -> None:
    text = GOOD.replace('handoffs = ["r"]', 'handoffs = ["r"]\nproduces = ["user-id"]')
    ((code, line, _, message),) = problems(text)
    assert (code, line) == ("SB003", 8) and message.startswith("[agents.a] produces[0]:")


def test_a_trailing_newline_is_no_name_for_the_loader_nor_for_python_jsonschema() -> None:
    data = {**tomllib.loads(GOOD)}
    data["flow"] = {**data["flow"], "name": "t\n"}
    assert [c for c, *_ in problems(json.dumps(data), "json")] == ["SB003"]
    assert not schema_accepts(data), "Python's `$` matches before a final newline: the schema guards it"


def test_the_schema_is_valid_2020_12_and_uses_only_its_keywords() -> None:
    schema = flow_json_schema()
    cls = validator_for(schema)
    assert cls is Draft202012Validator
    cls.check_schema(schema)
    known = set(cls.VALIDATORS) | {"$schema", "$id", "$defs", "title", "description", "default"}
    keywords: set[str] = set()

    def walk(node: Any, under_names: bool = False) -> None:
        if isinstance(node, dict):
            if not under_names:
                keywords.update(node)
            for key, value in node.items():
                walk(value, under_names=key in ("properties", "$defs", "patternProperties"))
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert keywords <= known, (
        f"keywords JSON Schema does not know (ignored by validators): {keywords - known}"
    )


def test_name_keyed_tables_close_their_keys() -> None:
    agents = flow_json_schema()["properties"]["agents"]
    assert "patternProperties" not in agents
    assert agents["propertyNames"]["pattern"].startswith("^[A-Za-z]")
    data = tomllib.loads(GOOD)
    data["agents"]["bad name"] = {}
    assert not schema_accepts(data)
    data["agents"] = {**tomllib.loads(GOOD)["agents"], "human-agent": {"terminal": True}}
    assert schema_accepts(data)
    assert "human-agent" in parse_flow(json.dumps(data), "f.json", "json").flow.agents
