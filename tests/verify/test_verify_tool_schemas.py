"""SB109: tool parameter schemas: the metaschema, an object at the top, patterns that compile; where and why."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from engine.flow.diagnostics import Diagnostic, Severity
from engine.flow.loader import load_flow, parse_flow
from engine.verify import verify
from engine.verify.tool_schemas import TYPES, dotted, schema_problems

FLOWS = Path(__file__).resolve().parents[2] / "flows"
Where = Callable[..., tuple[int, int]]

BASE = """\
[flow]
name = "t"
entry = "front"
recovery = "helper"

[agents.front]
tools = ["lookup"]
handoffs = ["helper"]

[agents.helper]
terminal = true

[tools.lookup]
"""


def lint(text: str, fmt: str = "toml") -> list[Diagnostic]:
    return verify(parse_flow(text, f"flow.{fmt}", fmt))


def at(d: Diagnostic) -> tuple[int, int]:
    return d.location.line, d.location.col


def test_a_tool_without_parameters_is_clean() -> None:
    assert lint(BASE) == []


def test_an_unknown_type_in_a_nested_table(position_of: Where) -> None:
    text = BASE + (
        '[tools.lookup.parameters]\ntype = "object"\n\n'
        '[tools.lookup.parameters.properties.tags]\ntype = "array"\nitems = { type = "strnig" }\n'
    )
    [d] = lint(text)
    assert (d.code, d.severity, d.rule) == ("SB109", Severity.ERROR, "tool-schema")
    assert at(d) == position_of(text, 'type = "strnig"')
    assert d.message == (
        "tool 'lookup' parameters at properties.tags.items.type: 'strnig' is not a JSON Schema type "
        "(did you mean 'string'?)"
    )
    assert d.help.startswith("change 'strnig' to 'string'")
    assert d.agents == ("front",)
    assert d.extra == {"tool": "lookup", "path": ["properties", "tags", "items", "type"]}


def test_a_member_of_a_type_list(position_of: Where) -> None:
    text = (
        BASE
        + '[tools.lookup.parameters]\ntype = "object"\nproperties = { a = { type = ["string", "nul"] } }\n'
    )
    [d] = lint(text)
    assert at(d) == position_of(text, '"nul"')
    assert "type[1]: 'nul' is not a JSON Schema type (did you mean 'null'?)" in d.message


def test_a_type_name_nothing_like_a_type() -> None:
    [(path, what, fix)] = schema_problems({"type": "object", "properties": {"a": {"type": "date"}}})
    assert path == ("properties", "a", "type") and "'date' is not a JSON Schema type" in what
    assert fix == "use one of " + ", ".join(f"'{t}'" for t in TYPES)


def test_metaschema_errors_in_json_flows(position_of: Where) -> None:
    flow = {
        "flow": {"name": "t", "entry": "front", "recovery": "front"},
        "agents": {"front": {"terminal": True, "tools": ["lookup"]}},
        "tools": {"lookup": {"parameters": {"type": "object", "required": "order_id"}}},
    }
    text = json.dumps(flow, indent=2)
    [d] = lint(text, "json")
    assert at(d) == position_of(text, '"required"')
    assert d.message == "tool 'lookup' parameters at required: 'order_id' is not of type 'array'"
    assert d.help == "make required an array"


@pytest.mark.parametrize(
    ("parameters", "path", "words", "fix"),
    [
        (
            'type = "array"',
            ("type",),
            "are of type 'array', but the Realtime API needs an object schema",
            "set type",
        ),
        ("properties = {}", (), "have no type", 'add type = "object"'),
        (
            'type = "object"\nproperties = []',
            ("properties",),
            "[] is not of type 'object'",
            "make properties an object",
        ),
        (
            'type = "object"\nproperties = { n = { type = "string", minLength = -1 } }',
            ("properties", "n", "minLength"),
            "-1 is less than the minimum of 0",
            "make properties.n.minLength at least 0",
        ),
        (
            'type = "object"\nproperties = { n = { type = "string", pattern = "^(\\\\d{3}$" } }',
            ("properties", "n", "pattern"),
            "'^(\\\\d{3}$' is not a valid regular expression (missing ), unterminated subpattern at position 1)",
            "fix the regular expression",
        ),
        (
            'type = "object"\npatternProperties = { "^x-(" = { type = "string" } }',
            ("patternProperties", "^x-("),
            "is not a valid regular expression",
            "fix the regular expression",
        ),
        (
            'type = "object"\nproperties = { n = { type = "string", pattern = "(?<name>a)" } }',
            ("properties", "n", "pattern"),
            "unknown extension ?<n",  # valid ECMA-262, but the runtime's `re` rejects it
            "Python's `re`",
        ),
    ],
)
def test_schema_problems(parameters: str, path: tuple[str, ...], words: str, fix: str) -> None:
    [d] = lint(BASE + "[tools.lookup.parameters]\n" + parameters + "\n")
    assert d.extra["path"] == list(path)
    assert words in d.message and fix in d.help, (d.message, d.help)


def test_names_that_look_like_keywords_are_names() -> None:
    """A property called ``pattern`` or ``type`` is a name, not a keyword: its schema is checked, not it."""
    schema = {
        "type": "object",
        "properties": {"pattern": {"type": "string"}, "type": {"type": "string", "pattern": "^[a-z]+$"}},
        "required": ["pattern", "type"],
    }
    assert schema_problems(schema) == []
    [(path, what, _)] = schema_problems({"type": "object", "properties": {"type": "strnig"}})
    assert path == ("properties", "type") and "is not of type 'object', 'boolean'" in what


def test_one_finding_per_place() -> None:
    """The metaschema's ``anyOf`` on ``type`` and the type check agree: reported once."""
    assert len(schema_problems({"type": "objcet"})) == 1
    assert len(schema_problems({"type": "object", "additionalProperties": "no"})) == 1


def test_dotted() -> None:
    assert dotted(("properties", "tags", "items", 0)) == "properties.tags.items[0]"
    assert dotted(()) == ""


@pytest.mark.parametrize("name", ["retail.toml", "chat_supervisor.toml"])
def test_shipped_tool_schemas_are_clean(name: str) -> None:
    flow = load_flow(FLOWS / name).flow
    assert {tool: schema_problems(t.parameters) for tool, t in flow.tools.items()} == {
        tool: [] for tool in flow.tools
    }


# --- the property: what lint accepts, the runtime's argument validation can use --------------------------

NAMES = st.sampled_from(["a", "b", "pattern", "type"])
SCHEMA_TYPES = st.sampled_from([*TYPES, *TYPES, *TYPES, "strnig", "nul", "date"])  # mostly good ones
PATTERNS = st.sampled_from(["^a", r"\d+$", "^[a-z]*$", "x|y", "(", "[a-", "(?<n>x)", "a{2,1}"])


def schemas() -> st.SearchStrategy[Any]:
    """Random parameter schemas: an object at the top (mostly), some bad type names, patterns and minimums."""
    leaf = st.fixed_dictionaries(
        {},
        optional={
            "type": SCHEMA_TYPES | st.lists(SCHEMA_TYPES, min_size=1, max_size=3, unique=True),
            "pattern": PATTERNS,
            "minLength": st.integers(-1, 9),
            "enum": st.lists(st.sampled_from(["x", 1, None]), min_size=1, max_size=2, unique=True),
        },
    )
    return st.recursive(
        leaf,
        lambda inner: st.fixed_dictionaries(
            {},
            optional={
                "type": SCHEMA_TYPES,
                "properties": st.dictionaries(NAMES, inner, max_size=3),
                "patternProperties": st.dictionaries(
                    st.sampled_from(["^x", "(", "^[0-9]+$"]), inner, max_size=2
                ),
                "items": inner,
                "anyOf": st.lists(inner, min_size=1, max_size=2),
                "additionalProperties": inner | st.booleans(),
                "required": st.lists(NAMES, max_size=2, unique=True),
            },
        ),
        max_leaves=8,
    )


def parameters() -> st.SearchStrategy[Any]:
    top = st.fixed_dictionaries(
        {"type": st.sampled_from(["object"] * 8 + ["array", "objcet"])},
        optional={
            "properties": st.dictionaries(NAMES, schemas(), max_size=3),
            "required": st.lists(NAMES, max_size=2),
        },
    )
    return top | schemas()


def instances() -> st.SearchStrategy[Any]:
    scalar = st.none() | st.booleans() | st.integers() | st.sampled_from(["", "a", "x1", "123", "aa"])
    return st.recursive(
        scalar,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "b", "x1", "9"]), inner)
        ),
        max_leaves=10,
    )


@settings(max_examples=300, deadline=None)
@given(parameters(), st.lists(instances(), min_size=1, max_size=4))
def test_a_schema_lint_accepts_validates_arguments_without_crashing(schema: Any, args: list[Any]) -> None:
    """The runtime validates a call's arguments with ``Draft202012Validator(parameters)``: for a schema with
    no SB109 finding that never raises (it may report the arguments invalid, which is its job)."""
    if schema_problems(schema):
        return
    assert schema.get("type") == "object"
    validator = Draft202012Validator(schema)
    for instance in args:
        list(validator.iter_errors(instance))


@settings(max_examples=200, deadline=None)
@given(parameters())
def test_findings_point_inside_the_schema_once_each(schema: Any) -> None:
    """Every finding's path leads to a node of the schema (where the source map finds it), no path twice."""
    found = schema_problems(schema)
    for path, what, _ in found:
        node = schema
        for part in path:
            node = node[part]
        assert what.startswith("parameters")
    assert len({path for path, _, _ in found}) == len(found)
