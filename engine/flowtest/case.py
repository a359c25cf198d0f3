"""A test case: a script with expectations, the flow it names (loaded, verified, compiled, bound) and its
initial context; anything wrong with them is a :class:`CaseError` (bad input, not a failing test)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.compile.pipeline import CompiledFlow
from engine.emulator.script import Script, ScriptError
from engine.errors import SwitchboardError
from engine.flow.diagnostics import Diagnostic, DocumentError, Location, Severity
from engine.flow.document import FORMATS, parse_document, read_document
from engine.flowtest.references import check_script
from engine.runtime.prepare import Linted, lint_flow
from engine.session.context import ContextError, initial_context

__all__ = [
    "Case",
    "CaseError",
    "FlowCache",
    "find_scripts",
    "has_expectations",
    "is_script_file",
    "is_script_text",
    "lint_script",
    "load_case",
    "names_flow",
]


class CaseError(SwitchboardError):
    """A case that cannot run: the script or its flow does not load, or the script names what the flow lacks."""

    def __init__(self, path: str | Path, diagnostics: Iterable[Diagnostic], summary: str = "") -> None:
        self.path = str(path)
        self.diagnostics = list(diagnostics)
        self.summary = summary or (str(self.diagnostics[0]) if self.diagnostics else "cannot run")
        super().__init__(self.summary)


@dataclass(frozen=True)
class Case:
    path: Path
    script: Script
    compiled: CompiledFlow
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.path)


class FlowCache:
    """Each flow linted and compiled once however many cases name it (keyed by its resolved path).

    ``import_tools`` as for ``lint``: running a case needs the tools bound (their code imported)."""

    def __init__(self, *, import_tools: bool = True) -> None:
        self._linted: dict[Path, Linted] = {}
        self._import_tools = import_tools

    def get(self, path: Path) -> Linted:
        key = path.resolve()
        if key not in self._linted:
            self._linted[key] = lint_flow(path, import_tools=self._import_tools)
        return self._linted[key]


def _no_flow(path: Path) -> Diagnostic:
    return Diagnostic(
        "SB003",
        Severity.ERROR,
        "the script names no flow",
        Location(str(path)),
        rule="schema",
        help='add `flow = "path/to/flow.toml"` (relative to the script) or pass --flow',
    )


def _bad_context(script: Script, exc: ContextError) -> Diagnostic:
    return Diagnostic(
        "SB704",
        Severity.ERROR,
        str(exc),
        script.source.locate(("context",)),
        rule="script-unknown-context-key",
        help="give every key of the flow's `initial_context` in the script's `context` table",
    )


def load_case(path: str | Path, flow: str | Path | None = None, flows: FlowCache | None = None) -> Case:
    """Load ``path`` and its flow (``flow`` overrides the one the script names); raise :class:`CaseError`."""
    path = Path(path)
    try:
        script = Script.load(path)
    except ScriptError as exc:
        raise CaseError(path, exc.diagnostics) from None
    flow_path = Path(flow) if flow is not None else script.flow_path
    if flow_path is None:
        raise CaseError(path, [_no_flow(path)])
    flow_path = Path(os.path.normpath(flow_path))  # flows/tests/x/../../x.toml -> flows/x.toml
    linted = (flows or FlowCache()).get(flow_path)
    if linted.compiled is None:
        errors = [d for d in linted.findings if d.severity is Severity.ERROR]
        first = f": {errors[0].message}" if errors else ""
        where = script.source.locate(("flow",)) if flow is None else Location(str(path))
        invalid = Diagnostic(
            "SB705",
            Severity.ERROR,
            f"the flow {str(flow_path)!r} does not pass lint ({len(errors)} error(s)){first}",
            where,
            rule="script-flow-invalid",
            help="fix the path (relative to the script) or the flow's findings: switchboard lint "
            + str(flow_path),
        )
        raise CaseError(path, [invalid, *errors])
    problems = check_script(script, linted.compiled.flow)
    if problems:
        raise CaseError(path, problems)
    try:
        context = initial_context(linted.compiled.flow, script.context)
    except ContextError as exc:
        raise CaseError(path, [_bad_context(script, exc)]) from None
    return Case(path, script, linted.compiled, context)


def lint_script(path: str | Path, flows: FlowCache | None = None) -> list[Diagnostic]:
    """What ``switchboard lint`` reports for a script: its schema, and when it names a flow, that flow's
    errors and every name of the script the flow lacks (a script naming no flow is checked alone)."""
    path = Path(path)
    try:
        script = Script.load(path)
    except ScriptError as exc:
        return list(exc.diagnostics)
    if script.flow is None:
        return [_no_flow(path)] if script.has_expectations else []
    try:
        load_case(path, flows=flows)
    except CaseError as exc:  # the flow's own findings are the flow's: lint reports them when it lints it
        return [d for d in exc.diagnostics if d.location.file == str(path)]
    return []


def _parsed(path: Path) -> object:
    """The data of ``path`` parsed as a document, or ``None`` when it cannot be read or parsed."""
    try:
        return parse_document(read_document(path, "file"), str(path), FORMATS.get(path.suffix, "toml")).data
    except DocumentError:
        return None


def is_script_file(path: str | Path) -> bool:
    """Whether ``path`` parses as a script rather than a flow (what ``lint`` uses to tell them apart)."""
    return is_script_text(_parsed(Path(path)))


def is_script_text(data: object) -> bool:
    """Whether parsed document data is a script rather than a flow (a flow has a ``[flow]`` table)."""
    if not isinstance(data, dict) or isinstance(data.get("flow"), dict) or "agents" in data:
        return False
    return bool({"turn", "rule", "expect"} & set(data))


def names_flow(path: str | Path) -> bool:
    """Whether ``path`` parses as a script that names the flow it belongs to (``flow = "…"``)."""
    data = _parsed(Path(path))
    return is_script_text(data) and isinstance(data, dict) and isinstance(data.get("flow"), str)


def has_expectations(path: str | Path) -> bool:
    """Whether ``path`` parses as a script that carries expectations (a test case)."""
    return _has_expectations(_parsed(Path(path)))


def _has_expectations(data: object) -> bool:
    if not is_script_text(data):
        return False
    assert isinstance(data, dict)
    turns = data.get("turn")
    return "expect" in data or (
        isinstance(turns, list) and any(isinstance(t, dict) and "expect" in t for t in turns)
    )


def find_scripts(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders expanded to the scripts under them that carry expectations, sorted."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            found.append(path)
            continue
        for candidate in sorted(p for p in path.rglob("*") if p.suffix in FORMATS and p.is_file()):
            if has_expectations(candidate):
                found.append(candidate)  # a bad one is reported when it is loaded, not skipped in silence
    return found
