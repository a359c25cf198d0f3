"""What the session core asks its I/O layer to do: the core's only output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from engine.session.audit import AuditRecord


@dataclass(frozen=True)
class Send:
    """Send this client event to the realtime endpoint."""

    event: dict[str, Any]


@dataclass(frozen=True)
class RunTool:
    """Run the flow tool ``name`` with validated ``arguments``; answer with ``Session.tool_result(call_id, …)``
    within ``timeout_s`` (past it: cancel the call and answer ``outcome="timed_out"``)."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    agent: str
    timeout_s: float


ToolFailure = Literal["failed", "timed_out", "refused"]
"""Why a :class:`RunTool` has no output: the tool raised, took longer than its timeout, or the runtime would
not start it (e.g. too many hung threads)."""


@dataclass(frozen=True)
class EscalationRequest:
    """What the supervisor is asked, on a versioned snapshot of the conversation."""

    escalation_id: str
    agent: str
    relevant_context: str
    transcript: tuple[tuple[str, str], ...]
    context: dict[str, Any]
    version: int


@dataclass(frozen=True)
class Escalate:
    """Ask the supervisor; answer with ``Session.supervisor_result(escalation_id, …)`` within ``timeout_s``."""

    request: EscalationRequest
    timeout_s: float
    max_tool_rounds: int


@dataclass(frozen=True)
class CancelEscalation:
    """Stop working on an escalation whose answer would be stale."""

    escalation_id: str


@dataclass(frozen=True)
class Audit:
    """Write this record to the audit sink."""

    record: AuditRecord


@dataclass(frozen=True)
class Transcript:
    """Something worth showing a person: who said what, a handoff, a refusal."""

    kind: str
    """``user``, ``assistant``, ``handoff``, ``tool``, ``notice``, ``escalation``."""
    agent: str
    text: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProtocolProblem:
    """A server event the core could not use: the event type and field that were wrong."""

    event_type: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"malformed {self.event_type} event: field {self.field!r}: {self.message}"


Action = Send | RunTool | Escalate | CancelEscalation | Audit | Transcript | ProtocolProblem
