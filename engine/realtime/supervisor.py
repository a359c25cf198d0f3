"""Supervisor backends of the chat-supervisor pattern: what answers an :class:`Escalate` action.

The session core emits ``Escalate(request, timeout_s, max_tool_rounds)``; the I/O layer awaits
``backend.answer(request, max_tool_rounds=...)`` under ``asyncio.wait_for(..., timeout_s)`` and feeds the
:class:`SupervisorAnswer` (or the exception) to ``Session.supervisor_result``. Two backends:

- ``scripted`` (:mod:`engine.realtime.supervisor_scripted`): TOML rules, no network; the default.
- ``openai`` (:mod:`engine.realtime.supervisor_openai`): a text model over the Responses API, looping over
  the flow's tools.

:func:`make_supervisor` builds the one a flow's ``[supervisor]`` table names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from engine.flow.diagnostics import Location
from engine.flow.loader import FlowDocument
from engine.realtime.script import ScriptError
from engine.realtime.tools import ToolRegistry
from engine.session.actions import EscalationRequest

__all__ = [
    "SupervisorAnswer",
    "SupervisorBackend",
    "SupervisorConfigError",
    "SupervisorFailure",
    "make_supervisor",
]


@dataclass(frozen=True)
class SupervisorAnswer:
    """The supervisor's next message for the front agent to read out."""

    text: str
    tool_rounds: int
    """Rounds of tool calls the supervisor made (a round may call several tools)."""
    tool_calls: tuple[str, ...] = ()
    """Names of the tools called, in order (failed calls included)."""


class SupervisorBackend(Protocol):
    async def answer(self, request: EscalationRequest, *, max_tool_rounds: int) -> SupervisorAnswer: ...


class SupervisorFailure(Exception):
    """The backend could not answer this escalation (the session then gives the flow's fallback answer)."""


class SupervisorConfigError(ScriptError):
    """The backend cannot be built as configured; each problem names ``file:line:col`` and the rule/field."""


def make_supervisor(
    doc: FlowDocument, tools: ToolRegistry, *, base_url: str | None = None, api_key: str | None = None
) -> SupervisorBackend:
    """The backend of ``doc``'s ``[supervisor]``; ``base_url``/``api_key`` only matter for ``openai``.

    Raises :class:`SupervisorConfigError` when the flow has no supervisor, the scripted backend's rules file
    is missing or invalid, or the OpenAI client cannot be built (no API key).
    """
    supervisor = doc.flow.supervisor
    if supervisor is None:
        raise SupervisorConfigError([(Location(doc.file), "the flow has no [supervisor] table")])
    schemas = {name: doc.flow.tools[name].parameters for name in supervisor.tools if name in doc.flow.tools}
    if supervisor.backend == "scripted":
        from engine.realtime.supervisor_scripted import ScriptedSupervisor

        if not supervisor.script:
            where = doc.source.locate(("supervisor", "backend"))
            raise SupervisorConfigError([(where, "the scripted supervisor needs `script` (its rules file)")])
        return ScriptedSupervisor.load(doc.base_dir / supervisor.script, tools, tool_schemas=schemas)
    from engine.realtime.supervisor_openai import OpenAISupervisor  # imports the SDK: only when used

    try:
        return OpenAISupervisor.create(supervisor, doc.flow.tools, tools, base_url=base_url, api_key=api_key)
    except SupervisorFailure as exc:
        raise SupervisorConfigError([(doc.source.locate(("supervisor", "backend")), str(exc))]) from None
