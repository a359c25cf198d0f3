"""The supervisor backend protocol and its errors: what answers an :class:`Escalate` action.

The session core emits ``Escalate(request, timeout_s, max_tool_rounds)``; the I/O layer awaits
``backend.answer(request, max_tool_rounds=...)`` under ``asyncio.wait_for(..., timeout_s)`` and feeds the
:class:`SupervisorAnswer` (or the exception) to ``Session.supervisor_result``. Two backends:

- ``scripted`` (:mod:`engine.supervisor.scripted`): TOML rules, no network; the default.
- ``openai`` (:mod:`engine.supervisor.openai`): a text model over the Responses API, looping over
  the flow's tools.

:func:`engine.supervisor.factory.make_supervisor` builds the one a flow's ``[supervisor]`` table names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from engine.errors import SwitchboardError
from engine.flow.diagnostics import Diagnostic, DocumentError
from engine.session.actions import EscalationRequest

__all__ = [
    "SupervisorAnswer",
    "SupervisorBackend",
    "SupervisorConfigError",
    "SupervisorFailure",
    "ToolCaller",
]


@dataclass(frozen=True)
class SupervisorAnswer:
    """The supervisor's next message for the front agent to read out."""

    text: str
    tool_rounds: int
    """Rounds of tool calls the supervisor made (a round may call several tools)."""
    tool_calls: tuple[str, ...] = ()
    """Names of the tools called, in order (failed calls included)."""
    tool_errors: tuple[str, ...] = ()
    """The full exception of each tool call that raised, for the audit record (the model is told only
    ``the tool failed``)."""


class SupervisorBackend(Protocol):
    async def answer(self, request: EscalationRequest, *, max_tool_rounds: int) -> SupervisorAnswer: ...


class ToolCaller(Protocol):
    """What a backend calls the flow's tools through (the runtime's ``ToolRegistry``)."""

    async def call(self, name: str, arguments: dict[str, Any]) -> Any: ...


class SupervisorFailure(SwitchboardError):
    """The backend could not answer this escalation (the session then gives the flow's fallback answer)."""


class SupervisorConfigError(DocumentError):
    """The backend cannot be built as configured; each problem names ``file:line:col`` and the rule/field."""

    @staticmethod
    def line(diagnostic: Diagnostic) -> str:
        return f"{diagnostic.location}: {diagnostic.message}"
