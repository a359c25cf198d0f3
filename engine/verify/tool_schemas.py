"""SB109: every tool's ``parameters`` is a JSON Schema that the Realtime API and the runtime accept.

- It is valid against the JSON Schema Draft 2020-12 metaschema (what ``Draft202012Validator.check_schema``
  checks), with an unknown ``type`` name reported as such, with "did you mean".
- Its top level is ``type = "object"``: the Realtime API takes a function's arguments as one object of
  named arguments, so its ``parameters`` must be an object schema.
- Every ``pattern`` (and every ``patternProperties`` name) compiles as a Python regular expression.
  JSON Schema means ECMA-262 regular expressions and ``jsonschema``'s format checks do not compile them, so
  Python's ``re`` is the approximation used here: it rejects some valid ECMA patterns (named groups written
  ``(?<name>...)``) and accepts some invalid ones. It is also exactly what the run does: the runtime validates
  a tool call's arguments with ``jsonschema``, which matches ``pattern`` with ``re.search``, so a pattern that
  ``re`` rejects fails the first call of that tool (as an unknown ``type`` does, with ``UnknownType``).

One finding per bad keyword, positioned at its document path ``("tools", NAME, "parameters", ...)`` (the
source map falls back to the nearest ancestor it knows). Cost: linear in the size of each schema (one
metaschema validation and one walk over its subschemas).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from engine.flow.diagnostics import Diagnostic
from engine.flow.positions import PathKey
from engine.flow.suggest import did_you_mean, suggestion_text
from engine.verify.scope import Scope

TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
"""The JSON Schema type names."""

NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
"""Keywords whose value maps names to subschemas."""
LISTED_SCHEMAS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
"""Keywords whose value is a list of subschemas."""
ONE_SCHEMA = frozenset(
    {
        "items",
        "additionalItems",
        "additionalProperties",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contains",
        "propertyNames",
        "not",
        "if",
        "then",
        "else",
    }
)
"""Keywords whose value is one subschema (``items`` may also be a list of them, before 2020-12)."""

Finding = tuple[PathKey, str, str]
"""``(path inside the schema, what is wrong, the fix)``."""


@cache
def _metaschema() -> Draft202012Validator:
    return Draft202012Validator(Draft202012Validator.META_SCHEMA)


def check(scope: Scope) -> Iterator[Diagnostic]:
    for name, tool in scope.flow.tools.items():
        users = tuple(a for a, agent in scope.flow.agents.items() if name in agent.tools)
        for path, what, fix in schema_problems(tool.parameters):
            yield scope.diagnostic(
                "SB109",
                f"tool '{name}' {what}",
                ("tools", name, "parameters", *path),
                users,
                {"tool": name, "path": list(path)},
                help=fix,
            )


def schema_problems(schema: Any) -> list[Finding]:
    """What is wrong with ``schema`` as the parameters of a Realtime function tool, one finding per place:
    ``(path inside the schema, "parameters at PATH: what is wrong", the fix)``."""
    found: list[Finding] = [*_walk(schema, ())]
    for error in _metaschema().iter_errors(schema):
        path, what, fix = _explain(best_match([error]))
        if not any(_related(path, seen) for seen, _, _ in found):
            found.append((path, what, fix))
    found = [
        (path, f"parameters at {dotted(path)}: {what}" if path else f"parameters: {what}", fix)
        for path, what, fix in found
    ]
    found += _top_level(schema, found)
    return sorted(found, key=lambda f: [str(p) for p in f[0]])


def dotted(path: PathKey) -> str:
    """``("properties", "tags", "items", 0)`` -> ``properties.tags.items[0]``."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _related(a: PathKey, b: PathKey) -> bool:
    """Whether one path is the other or inside it (then it is the same problem, reported once)."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _walk(schema: Any, path: PathKey) -> Iterator[Finding]:
    """Unknown type names and patterns ``re`` rejects, in ``schema`` and each of its subschemas."""
    if not isinstance(schema, dict):
        return
    kind = schema.get("type")
    names: list[tuple[PathKey, str]] = [(("type",), kind)] if isinstance(kind, str) else []
    if isinstance(kind, list):
        names = [(("type", i), t) for i, t in enumerate(kind) if isinstance(t, str)]
    for where, type_name in names:
        if type_name not in TYPES:
            meant = did_you_mean(type_name, TYPES)
            fix = f"change '{type_name}' to '{meant}'" if meant else "use one of " + _quoted(TYPES)
            yield (
                (*path, *where),
                f"'{type_name}' is not a JSON Schema type{suggestion_text(meant)}",
                f"{fix} (the JSON Schema types are {_quoted(TYPES)})" if meant else fix,
            )
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        yield from _regex(pattern, (*path, "pattern"))
    for key, value in schema.items():
        if key in NAMED_SCHEMAS and isinstance(value, dict):
            for child, sub in value.items():
                if key == "patternProperties":
                    yield from _regex(child, (*path, key, child))
                yield from _walk(sub, (*path, key, child))
        elif (key in LISTED_SCHEMAS or key == "items") and isinstance(value, list):
            for i, sub in enumerate(value):
                yield from _walk(sub, (*path, key, i))
        elif key in ONE_SCHEMA:
            yield from _walk(value, (*path, key))


def _regex(pattern: str, path: PathKey) -> Iterator[Finding]:
    try:
        re.compile(pattern)
    except re.error as exc:
        yield (
            path,
            f"{pattern!r} is not a valid regular expression ({exc.msg} at position {exc.pos})",
            "fix the regular expression (the runtime matches patterns with Python's `re`)",
        )


def _top_level(schema: Any, found: list[Finding]) -> list[Finding]:
    """The Realtime API wants an object schema: ``type = "object"`` at the top."""
    if not isinstance(schema, dict) or schema.get("type") == "object":
        return []
    if "type" not in schema:
        return [
            (
                (),
                'parameters have no type: the Realtime API needs an object schema (type = "object")',
                'add type = "object", with each argument under properties',
            )
        ]
    if any(path[:1] == ("type",) for path, _, _ in found):
        return []  # an unknown type name: reported already
    return [
        (
            ("type",),
            f'parameters are of type {schema["type"]!r}, but the Realtime API needs an object schema (type = "object")',
            'set type = "object" and describe each argument under properties',
        )
    ]


def _explain(error: ValidationError) -> Finding:
    """A metaschema error as a finding: where, what (jsonschema's words), and the fix where it is plain."""
    path: PathKey = tuple(error.absolute_path)
    where = dotted(path) or "the parameters"
    expected = error.validator_value
    fix = ""
    if error.validator == "type":
        wanted = expected if isinstance(expected, list) else [expected]
        fix = f"make {where} {' or '.join(f'{_article(str(t))} {t}' for t in wanted)}"
    elif error.validator in ("minimum", "exclusiveMinimum"):
        fix = f"make {where} {'at least' if error.validator == 'minimum' else 'more than'} {expected}"
    elif error.validator == "uniqueItems":
        fix = f"remove the repeated items of {where}"
    elif error.validator == "enum" and isinstance(expected, list):
        meant = did_you_mean(str(error.instance), [str(v) for v in expected])
        fix = f"change {error.instance!r} to '{meant}'" if meant else "use one of " + _quoted(expected)
    return path, error.message, fix


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _quoted(values: Any) -> str:
    return ", ".join(f"'{v}'" for v in values)
