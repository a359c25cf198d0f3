"""Load, verify and compile a flow in one step: the runtime trusts nothing it did not verify."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.compile.handoff import HandoffMachine, compile_handoff_machine
from engine.flow.diagnostics import Diagnostic, FlowError, Severity
from engine.flow.loader import FlowDocument, load_flow
from engine.flow.model import Flow
from engine.verify import verify


@dataclass(frozen=True)
class CompiledFlow:
    """A verified flow and its machine class; ``warnings`` are the findings that did not block it."""

    doc: FlowDocument
    machine: type[HandoffMachine]
    warnings: tuple[Diagnostic, ...] = ()

    @property
    def flow(self) -> Flow:
        return self.doc.flow


def compile_document(doc: FlowDocument) -> CompiledFlow:
    """Verify ``doc`` and compile it; raise :class:`FlowError` (with every finding, warnings included) when
    the verifier finds an error."""
    findings = verify(doc)
    if any(d.severity is Severity.ERROR for d in findings):
        raise FlowError(findings)
    return CompiledFlow(doc, compile_handoff_machine(doc.flow), tuple(findings))


def compile_flow(path: str | Path) -> CompiledFlow:
    """Load, verify and compile the flow file at ``path``."""
    return compile_document(load_flow(path))
