"""What ``run`` and ``serve`` check at start-up, as positioned diagnostics, so that ``lint`` rejects it first.

:func:`prepare` is the one pipeline all three use: load → verify → compile (:mod:`engine.compile.pipeline`),
then bind every tool's ``impl`` (found without importing; imported when ``import_tools``) and load the
scripted supervisor's rules file. ``SB111`` is a tool whose ``impl`` cannot be bound, ``SB402`` a supervisor
rules file that does not load (its own problems are attached as notes, at their positions in that file).
Every file the flow names is read only from inside its folder (:mod:`engine.flow.files`): loading reports a
refused one as ``SB005`` at its value, and the rules file is read confined again when it is loaded here.

Then the flow's ignores are applied (:mod:`engine.verify.suppress`), so ``lint``, ``run`` and ``serve`` report
the same findings; :func:`lint_flow` also returns what was suppressed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from engine.compile.pipeline import CompiledFlow, compile_document
from engine.flow.diagnostics import Diagnostic, FlowError, Related, Severity
from engine.flow.loader import load_flow
from engine.runtime.binding import ToolBindingError, load, locate, signature_problem
from engine.supervisor.backend import SupervisorConfigError
from engine.supervisor.factory import make_supervisor
from engine.verify.suppress import Suppressed, comment_text, settle


class _NoTools:
    """Tools are not called while the rules are only loaded."""

    async def call(self, name: str, arguments: dict[str, Any]) -> Any:  # pragma: no cover - never called
        raise RuntimeError("tools are not called at start-up")


@dataclass(frozen=True)
class Linted:
    """What lint reports for one flow file; ``compiled`` is ``None`` when an error stops the flow."""

    findings: tuple[Diagnostic, ...]
    """Reported: errors, the warnings not suppressed, and the findings about ignores (SB601-SB603)."""
    suppressed: tuple[Suppressed, ...] = ()
    compiled: CompiledFlow | None = None
    """The flow, its ``warnings`` those of ``findings`` (when nothing in them is an error)."""


def lint_flow(path: str | Path, *, import_tools: bool) -> Linted:
    """Load, verify, compile and bind ``path``, then apply its ignores; raises nothing for a bad flow."""
    try:
        doc = load_flow(path)
    except FlowError as exc:
        return Linted(tuple(exc.diagnostics))
    compiled: CompiledFlow | None
    try:
        compiled = compile_document(doc)
        found = [*compiled.warnings, *startup_problems(compiled, import_tools=import_tools)]
    except FlowError as exc:
        compiled, found = None, list(exc.diagnostics)
    outcome = settle(doc, found, comment_text(Path(path)))
    reported = tuple(outcome.reported)
    if compiled is not None and not any(d.severity is Severity.ERROR for d in reported):
        compiled = replace(compiled, warnings=reported)
    else:
        compiled = None
    return Linted(reported, tuple(outcome.suppressed), compiled)


def prepare(path: str | Path, *, import_tools: bool) -> CompiledFlow:
    """Load, verify, compile and bind ``path``; raise :class:`FlowError` with every finding when anything
    ``run`` would refuse is found. ``import_tools`` imports the tools' modules (running their code)."""
    linted = lint_flow(path, import_tools=import_tools)
    if linted.compiled is None:
        raise FlowError(list(linted.findings))
    return linted.compiled


def startup_problems(compiled: CompiledFlow, *, import_tools: bool) -> list[Diagnostic]:
    """The start-up checks of a compiled flow (see the module doc)."""
    doc = compiled.doc
    problems: list[Diagnostic] = []
    for name, tool in doc.flow.tools.items():
        if not tool.impl:
            continue
        where = doc.source.locate(("tools", name, "impl"))
        try:
            if import_tools:
                why = signature_problem(load(tool.impl, doc.base_dir), tool.parameters)
                if why is not None:
                    raise ToolBindingError(
                        f"impl {tool.impl!r} cannot be called with the tool's parameters: {why}"
                    )
            else:
                locate(tool.impl, doc.base_dir)
        except ToolBindingError as exc:
            problems.append(
                Diagnostic(
                    "SB111",
                    Severity.ERROR,
                    f"tool '{name}': {exc}",
                    where,
                    rule="tool-impl",
                    help="put the module beside the flow (or on PYTHONPATH) and name `module:function`",
                )
            )
    supervisor = doc.flow.supervisor
    if supervisor is not None and supervisor.backend == "scripted" and supervisor.script:
        try:
            make_supervisor(doc, _NoTools())
        except SupervisorConfigError as exc:
            problems.append(
                Diagnostic(
                    "SB402",
                    Severity.ERROR,
                    f"the supervisor's rules file {supervisor.script!r} does not load",
                    doc.source.locate(("supervisor", "script")),
                    rule="supervisor-rules",
                    help="fix the problems noted below (each at its place in the rules file)",
                    related=tuple(Related(d.location, d.message) for d in exc.diagnostics),
                )
            )
    return problems
