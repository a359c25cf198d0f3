"""The loader and ``schemas/flow.schema.json`` accept exactly the same documents.

Documents are generated as flows that are nearly right, then mutated: a value swapped for one of another type
(``"8"`` for 8, ``"yes"`` for true, 8.0 for 8, a list for a table), a name that breaks the name rule, an
extra key, a missing key. The loader's schema stage (parse + validate: SB002/SB003) and python-jsonschema's
Draft 2020-12 validator must then both accept or both refuse.

What the comparison leaves out, because JSON Schema cannot say it or it is no JSON:

- cross-field rules (``entry`` is an agent, a handoff names an agent, a tool exists, no edge twice, a
  readable ``instructions_file``): the verifier's SB1xx+ and SB004, after the schema stage;
- ``NaN`` and ``Infinity``: no JSON numbers (RFC 8259), though Python's ``json`` reads them; the loader's
  range checks refuse NaN where jsonschema's comparisons (all false) let it through;
- lone surrogates (``"\\ud800"``): no Unicode string; the loader refuses them, a schema has no word for it;
- TOML's dates and times: they have no JSON form (TOML documents otherwise load to the same data).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from engine.flow.diagnostics import DocumentError
from engine.flow.document import parse_document, validate_document
from engine.flow.model import Flow
from engine.flow.names import AGENT_NAME_PATTERN, KEY_PATTERN, TOOL_NAME_PATTERN

SCHEMA = Draft202012Validator(json.loads(Path("schemas/flow.schema.json").read_text()))

TRICKY_NAMES = [
    "human-agent",
    "airline-unreachable",
    "a",
    "x_y-z",
    "",
    "1a",
    "-a",
    "_a",
    "a b",
    "a.b",
    "a\n",
    "ä",
    "a" * 52,
    "a" * 53,
    "t" * 64,
    "t" * 65,
]
FIELDS = [
    "name", "entry", "recovery", "max_handoff_depth", "implicit_fallback", "fallback_carry", "initial_context",
    "voice", "model", "description", "instructions", "instructions_file", "tools", "handoffs", "produces",
    "requires", "max_visits", "terminal", "group", "parameters", "sets", "impl", "from", "to", "when", "carry",
    "backend", "script", "front", "timeout_s", "max_tool_rounds", "max_escalations", "on_budget_exhausted",
    "fallback_answer", "flow", "agents", "handoff", "supervisor", "$schema", "source", "target", "terminus",
]  # fmt: skip

names = st.one_of(
    st.from_regex(AGENT_NAME_PATTERN, fullmatch=True),
    st.from_regex(TOOL_NAME_PATTERN, fullmatch=True),
    st.sampled_from(TRICKY_NAMES),
)
keys = st.one_of(st.from_regex(KEY_PATTERN, fullmatch=True), st.sampled_from(["user-id", "1k", "", "k\n"]))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 1100),
    st.integers(),
    st.sampled_from([0.0, -0.0, 1.0, 8.0, 8.5, 10, 600.0, 600.5, 1e300, -1.0]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        ["8", "yes", "true", "10", "scripted", "openai", "recover", "answer_alone", "m:f", "m.x:f"]
    ),
    names,
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS) | names, inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def base_flows(draw: st.DrawFn) -> dict[str, Any]:
    """A flow that is right but for what its names happen to be."""
    agents = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    tools = draw(st.lists(names, max_size=2, unique=True))
    doc: dict[str, Any] = {
        "flow": {"name": draw(names), "entry": agents[0], "recovery": agents[-1]},
        "agents": {
            a: {
                "handoffs": draw(st.lists(st.sampled_from(agents), max_size=2)),
                "tools": draw(st.lists(st.sampled_from(tools), max_size=2)) if tools else [],
                "requires": draw(st.lists(keys, max_size=1)),
                "max_visits": draw(st.none() | st.integers(1, 3)),
                "terminal": draw(st.booleans()),
            }
            for a in agents
        },
        "tools": {t: {"sets": draw(st.lists(keys, max_size=1)), "impl": "flows.tools.x:f"} for t in tools},
        "handoff": [{"from": agents[0], "to": agents[-1], "carry": draw(st.lists(keys, max_size=1))}],
    }
    if draw(st.booleans()):
        doc["supervisor"] = {"timeout_s": draw(st.sampled_from([10, 2.5, 600])), "front": [agents[0]]}
    if draw(st.booleans()):
        doc["$schema"] = "../schemas/flow.schema.json"
    return doc


def entries(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in ``node``, depth first."""
    found: list[tuple[Any, Any]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        found.append((node, key))
        found += entries(value)
    return found


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A base flow with up to three mutations: set a value, delete an entry, add a key or element."""
    doc = copy.deepcopy(draw(base_flows()))
    for _ in range(draw(st.integers(0, 3))):
        where = entries(doc)
        op = draw(st.sampled_from(["set", "delete", "add"]))
        container, key = where[draw(st.integers(0, len(where) - 1))]
        if op == "set":
            container[key] = draw(values)
        elif op == "delete":
            del container[key]
        elif isinstance(container, dict):
            container[draw(st.sampled_from(FIELDS) | names)] = draw(values)
        else:
            container.append(draw(values))
    return doc


def loader_accepts(text: str) -> bool:
    """The loader's schema stage: parse and validate, nothing the verifier or SB004 would add."""
    try:
        validate_document(Flow, parse_document(text, "generated.json", "json"))
    except DocumentError as exc:
        assert {d.code for d in exc.diagnostics} <= {"SB002", "SB003"}
        return False
    return True


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_the_loader_and_the_json_schema_accept_the_same_documents(doc: dict[str, Any]) -> None:
    text = json.dumps(doc, allow_nan=False)
    by_loader = loader_accepts(text)
    by_schema = SCHEMA.is_valid(json.loads(text))
    event("accepted" if by_loader else "refused")
    assert by_loader == by_schema, (
        f"loader {'accepts' if by_loader else 'refuses'}, schema {'accepts' if by_schema else 'refuses'}: "
        + "; ".join(e.message for e in SCHEMA.iter_errors(doc))
    )
