"""Diagnostics: one finding of the loader or the verifier, with a stable code and a source location."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from engine.errors import SwitchboardError


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Location:
    """A position in a flow file; ``line`` and ``col`` are 1-based."""

    file: str
    line: int = 1
    col: int = 1
    length: int = field(default=1, compare=False)
    """How many characters of the line the span covers (the caret run in a code frame)."""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Related:
    """A secondary location of a finding (rustc's "note: ... here"): where the other half of the cause is."""

    location: Location
    message: str


@dataclass(frozen=True)
class Diagnostic:
    """One finding: ``code`` is stable (``SB201``), ``message`` names the agents involved."""

    code: str
    severity: Severity
    message: str
    location: Location
    agents: tuple[str, ...] = ()
    """The agents the finding is about (renderers colour them)."""
    rule: str = ""
    """The short name of the rule (``unreachable-agent``)."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Machine-readable detail (a path, a depth) for JSON/SARIF output."""
    help: str = field(default="", compare=False)
    """The fix, in one line (``add max_visits = 3 to 'card_services'``); empty when there is none to give."""
    related: tuple[Related, ...] = field(default=(), compare=False)
    """Secondary locations (the contract whose ``carry`` drops a key, the first definition of a name)."""

    def __str__(self) -> str:
        return f"{self.location}: {self.code} [{self.severity}] {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "rule": self.rule,
            "severity": str(self.severity),
            "message": self.message,
            "file": self.location.file,
            "line": self.location.line,
            "col": self.location.col,
            "agents": list(self.agents),
            **({"help": self.help} if self.help else {}),
            **(
                {
                    "related": [
                        {
                            "message": r.message,
                            "file": r.location.file,
                            "line": r.location.line,
                            "col": r.location.col,
                        }
                        for r in self.related
                    ]
                }
                if self.related
                else {}
            ),
            **({"detail": self.extra} if self.extra else {}),
        }


class DocumentError(SwitchboardError, ValueError):
    """A document (a flow, an emulator script, supervisor rules) that could not be loaded or used; carries
    the positioned diagnostics that say why."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(self.line(d) for d in diagnostics))

    @staticmethod
    def line(diagnostic: Diagnostic) -> str:
        """One diagnostic as a line of this error's message."""
        return str(diagnostic)


class FlowError(DocumentError):
    """A flow that could not be loaded, verified or compiled."""
