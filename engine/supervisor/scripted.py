"""The scripted supervisor: TOML rules that answer escalations, calling the flow's tools through the registry.

```toml
[[rule]]                          # tried in order; the first whose `match` is found answers
match = "(?i)zip\\D*(?P<zip>\\d{5})"
tools = [{ name = "find_nearest_store", arguments = { zip_code = "{match.zip}" } }]
answer = "Your nearest store is {find_nearest_store.stores.0.name}."
fallback = "I can't look up stores right now."   # used instead when a tool failed or was not called
[[rule]]
match = "(?i)slow"
hang = true                       # never answers: the caller's timeout ends it
[[rule]]
match = "(?i)broken"
fail = "backend exploded"         # raises SupervisorFailure
```

``match`` is searched in the request's ``relevant_context`` or, when that is blank, in the last user message.
``tools`` are called in order, one per round, at most ``max_tool_rounds`` of them. Templates (``answer``,
``fallback``, string ``arguments``) take ``{path}`` placeholders: ``{context.KEY}`` (the request's context
snapshot), ``{match.GROUP}`` / ``{match}`` (the regex match), ``{TOOL.a.0.b}`` (a tool's result, by key or
list index; in ``arguments`` only tools called earlier). ``{{`` and ``}}`` are literal braces. A placeholder
of a failed or skipped call renders ``(unavailable)``, a path that is not there ``(unknown)``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from engine.flow.diagnostics import DocumentError, Location
from engine.flow.document import error, parse_document, read_document, regex_field, validate_document
from engine.session.actions import EscalationRequest
from engine.supervisor.backend import (
    SupervisorAnswer,
    SupervisorConfigError,
    SupervisorFailure,
    ToolCaller,
)

__all__ = ["Rule", "ScriptedSupervisor", "ToolCall", "render"]

UNAVAILABLE = "(unavailable)"
UNKNOWN = "(unknown)"
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_PATH = re.compile(r"[A-Za-z_][\w-]*(?:\.[\w-]+)*")


class _Sentinel:
    def __init__(self, text: str) -> None:
        self.text = text


_UNAVAILABLE, _UNKNOWN = _Sentinel(UNAVAILABLE), _Sentinel(UNKNOWN)


# -- templates ---------------------------------------------------------------------------------------------


def placeholders(template: str) -> list[tuple[str, ...]]:
    """The dotted paths of ``template``'s placeholders; ``ValueError`` on a stray brace or a bad path."""
    found: list[tuple[str, ...]] = []
    for m in _TOKEN.finditer(template):
        if m.group(0) in ("{{", "}}"):
            continue
        inner = m.group(1)
        if inner is None:
            brace = m.group(0)
            raise ValueError(f"stray {brace!r} in {template!r} (write {brace * 2} for a literal brace)")
        if not _PATH.fullmatch(inner.strip()):
            raise ValueError(f"malformed placeholder {m.group(0)!r}: expected a dotted path ({{tool.key.0}})")
        path = tuple(inner.strip().split("."))
        found.append(("match", "0") if path == ("match",) else path)
    return found


def _resolve(scope: Mapping[str, Any], path: Sequence[str]) -> Any:
    if path == ("match",):
        path = ("match", "0")
    value = scope.get(path[0], _UNKNOWN)
    for key in path[1:]:
        if isinstance(value, _Sentinel):
            break
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        elif isinstance(value, list | tuple) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            value = _UNKNOWN
    return value


def _text(value: Any) -> str:
    if isinstance(value, _Sentinel):
        return value.text
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def render(template: str, scope: Mapping[str, Any]) -> str:
    """Fill ``template``'s placeholders from ``scope`` (name -> value; see the module doc)."""

    def one(m: re.Match[str]) -> str:
        if m.group(1) is None:
            return m.group(0)[0]
        return _text(_resolve(scope, tuple(m.group(1).strip().split("."))))

    return _TOKEN.sub(one, template)


def _fill(value: Any, scope: Mapping[str, Any]) -> Any:
    """Render every string in an arguments value; a string that is one placeholder keeps the value's type."""
    if isinstance(value, str):
        whole = _TOKEN.fullmatch(value)
        if whole is not None and whole.group(1) is not None:
            resolved = _resolve(scope, tuple(whole.group(1).strip().split(".")))
            return _text(resolved) if isinstance(resolved, _Sentinel) else resolved
        return render(value, scope)
    if isinstance(value, dict):
        return {key: _fill(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, scope) for item in value]
    return value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _strings(item)


def _check_template(template: str, pattern: re.Pattern[str] | None, tools: Sequence[str] | None) -> None:
    """Raise ``ValueError`` for a placeholder that can never resolve (``None``: not known, not checked)."""
    for path in placeholders(template):
        head, rest = path[0], path[1:]
        shown = "{" + ".".join(path) + "}"
        if head == "match":
            if pattern is None:
                continue
            group = rest[0] if len(rest) == 1 else ""
            if not (group in pattern.groupindex or (group.isdigit() and int(group) <= pattern.groups)):
                raise ValueError(f"placeholder {shown}: the `match` regex has no such group")
        elif head != "context" and tools is not None and head not in tools:
            names = ", ".join(tools) or "none"
            raise ValueError(
                f"unknown placeholder {shown}: use {{context.KEY}}, {{match.GROUP}} or a tool "
                f"this rule calls before it (here: {names})"
            )


# -- rules ---------------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolCall(_Strict):
    """One tool round: the flow tool ``name`` with ``arguments`` (templates allowed in strings)."""

    name: str
    arguments: dict[str, Any] = {}


class Rule(_Strict):
    """When ``match`` is found: call ``tools``, then ``answer`` (or ``hang``, or ``fail``)."""

    match: re.Pattern[str]
    tools: list[ToolCall] = []
    answer: str | None = None
    fallback: str | None = None
    """Answer used instead of ``answer`` when a tool failed or was not called (round cap)."""
    hang: bool = False
    fail: str | None = None

    _compile = field_validator("match", mode="before")(regex_field)

    @field_validator("tools")
    @classmethod
    def _tools(cls, calls: list[ToolCall], info: ValidationInfo) -> list[ToolCall]:
        schemas: Mapping[str, dict[str, Any]] | None = (info.context or {}).get("tool_schemas")
        pattern = info.data.get("match")
        for i, call in enumerate(calls):
            where = f"tools[{i}]"
            if call.name in ("context", "match"):
                raise ValueError(
                    f"{where}: a tool named '{call.name}' would hide the {{{call.name}.…}} placeholders"
                )
            if schemas is not None and call.name not in schemas:
                allowed = ", ".join(sorted(schemas)) or "none"
                raise ValueError(f"{where}: '{call.name}' is not one of the supervisor's tools ({allowed})")
            if call.name in (c.name for c in calls[:i]):
                raise ValueError(f"{where}: '{call.name}' is called twice in one rule (one call per tool)")
            for text in _strings(call.arguments):
                try:
                    _check_template(text, pattern, [c.name for c in calls[:i]])
                except ValueError as exc:
                    raise ValueError(f"{where}.arguments: {exc}") from None
            if schemas is not None:
                _check_arguments(where, call, schemas[call.name])
        return calls

    @field_validator("answer", "fallback")
    @classmethod
    def _template(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            calls: list[ToolCall] | None = info.data.get("tools")  # absent: invalid, already reported
            _check_template(value, info.data.get("match"), None if calls is None else [c.name for c in calls])
        return value

    @model_validator(mode="after")
    def _one_outcome(self) -> Self:
        outcomes = [
            key
            for key, given in (
                ("answer", self.answer is not None),
                ("hang", self.hang),
                ("fail", self.fail is not None),
            )
            if given
        ]
        if len(outcomes) != 1:
            got = " and ".join(outcomes) or "none"
            raise ValueError(f"a rule needs exactly one of `answer`, `hang = true`, `fail` (got {got})")
        if self.fallback is not None and (self.answer is None or not self.tools):
            raise ValueError("`fallback` needs `answer` and `tools` (it replaces the answer on a tool error)")
        return self


def _check_arguments(where: str, call: ToolCall, schema: dict[str, Any]) -> None:
    """Validate static arguments against the tool's JSON Schema; strings with placeholders are not judged."""
    for err in sorted(Draft202012Validator(schema).iter_errors(call.arguments), key=lambda e: list(e.path)):
        if isinstance(err.instance, str) and placeholders(err.instance):
            continue
        field = ".".join(str(p) for p in err.path)
        raise ValueError(
            f"{where}.arguments{'.' + field if field else ''}: {err.message} "
            f"(the parameters of '{call.name}')"
        )


class _Document(_Strict):
    rule: list[Rule] = []


# -- the backend ---------------------------------------------------------------------------------------------


class ScriptedSupervisor:
    """Answers escalations from rules (see the module doc); tools run through ``tools``."""

    def __init__(self, rules: Sequence[Rule], tools: ToolCaller, name: str = "<script>") -> None:
        self.rules = list(rules)
        self.tools = tools
        self.name = name

    @classmethod
    def load(
        cls,
        path: str | Path,
        tools: ToolCaller,
        *,
        root: Path | None = None,
        tool_schemas: Mapping[str, dict[str, Any]] | None = None,
    ) -> ScriptedSupervisor:
        """Read a rules file; ``tool_schemas`` (name -> parameters) restricts and checks the tool calls.

        With ``root`` (the flow's folder), ``path`` is the flow's ``script``: relative to ``root`` and read
        only from inside it (:func:`engine.flow.files.read_confined`)."""
        try:
            text = read_document(Path(path), "supervisor script", root=root)
        except DocumentError as exc:
            raise SupervisorConfigError(exc.diagnostics) from None
        name = str(path if root is None else root / path)
        return cls.parse(text, tools, name=name, tool_schemas=tool_schemas)

    @classmethod
    def parse(
        cls,
        text: str,
        tools: ToolCaller,
        *,
        name: str = "<script>",
        tool_schemas: Mapping[str, dict[str, Any]] | None = None,
    ) -> ScriptedSupervisor:
        """Parse rules ``text`` (``name``: the file named in errors); raise :class:`SupervisorConfigError`."""
        context = {"tool_schemas": tool_schemas}
        try:
            doc = validate_document(_Document, parse_document(text, name), context=context)
        except DocumentError as exc:
            raise SupervisorConfigError(exc.diagnostics) from None
        if not doc.rule:
            raise SupervisorConfigError(
                [error("SB003", "schema", "the script has no [[rule]]", Location(name))]
            )
        return cls(doc.rule, tools, name)

    def match(self, request: EscalationRequest) -> tuple[Rule, re.Match[str]] | None:
        """The first rule whose ``match`` is found in the request's subject, and the match."""
        subject = _subject(request)
        for rule in self.rules:
            found = rule.match.search(subject)
            if found is not None:
                return rule, found
        return None

    async def answer(self, request: EscalationRequest, *, max_tool_rounds: int) -> SupervisorAnswer:
        found = self.match(request)
        if found is None:
            raise SupervisorFailure(f"{self.name}: no rule matches {_subject(request)!r}")
        rule, m = found
        groups = {str(i): g for i, g in enumerate((m.group(0), *m.groups())) if g is not None}
        groups.update({k: v for k, v in m.groupdict().items() if v is not None})
        scope: dict[str, Any] = {"context": request.context, "match": groups}
        made: list[str] = []
        degraded = False
        for call in rule.tools:
            needs = {path[0] for text in _strings(call.arguments) for path in placeholders(text)}
            if len(made) >= max_tool_rounds or any(scope.get(head) is _UNAVAILABLE for head in needs):
                scope[call.name], degraded = _UNAVAILABLE, True  # over the round cap, or its input is missing
                continue
            made.append(call.name)
            try:
                scope[call.name] = await self.tools.call(call.name, _fill(call.arguments, scope))
            except Exception:  # a tool error: the round counts, its placeholders render "(unavailable)"
                scope[call.name], degraded = _UNAVAILABLE, True
        if rule.hang:
            await asyncio.get_running_loop().create_future()  # never resolved: only cancellation ends it
        if rule.fail is not None:
            raise SupervisorFailure(rule.fail)
        template = rule.fallback if degraded and rule.fallback is not None else rule.answer
        return SupervisorAnswer(render(template or "", scope), len(made), tuple(made))


def _subject(request: EscalationRequest) -> str:
    if request.relevant_context.strip():
        return request.relevant_context
    return next((text for role, text in reversed(request.transcript) if role == "user"), "")
