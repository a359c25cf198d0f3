"""Audit records: one per handoff, refusal, tool call and escalation, and the sink protocol they go to.

The file sink (JSON Lines) is I/O and lives in :mod:`engine.runtime.audit_file`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from engine.flow.model import Flow

Outcome = Literal[
    "done",
    "refused",
    "capped",
    "recovered",  # handoffs
    "ok",
    "failed",
    "timed_out",  # tool calls (and "refused")
    "answered",
    "stale",
    "over_budget",  # escalations (and "failed", "timed_out")
    "ended",  # the conversation's closing record
    "resumed",  # a conversation continued on a fresh connection (and "recovered")
]
Kind = Literal["handoff", "tool", "escalation", "end", "resume"]

HANDOFF_OUTCOMES: tuple[Outcome, ...] = ("done", "refused", "capped", "recovered")
"""The outcomes of a handoff record, in the order tables show them."""
REROUTES: tuple[Outcome, ...] = ("capped", "recovered")
"""Handoff outcomes where a guardrail sent the conversation to the recovery agent instead."""
TOOL_OUTCOMES: tuple[Outcome, ...] = ("ok", "failed", "refused", "timed_out")
"""The outcomes of a tool record, in the order tables show them."""
PAYLOAD_LIMIT = 1000
"""Characters of a tool's arguments or result an audit record keeps (as JSON)."""


def audit_payload(value: Any, limit: int = PAYLOAD_LIMIT) -> Any:
    """A tool's arguments or result as its audit record keeps them: the JSON value itself, or, past ``limit``
    characters of JSON, its first ``limit`` characters as a string ending in ``…``. The core's tool records
    (``Session._tool_record``, the one place tool payloads reach the audit) pass both through here."""
    text = json.dumps(value, default=str, sort_keys=True)
    if len(text) <= limit:
        return json.loads(text)
    return text[: limit - 1] + "…"


@dataclass(frozen=True)
class AuditRecord:
    conversation_id: str
    seq: int
    time: float
    kind: Kind
    outcome: Outcome
    from_agent: str
    to_agent: str | None = None
    reason: str = ""
    carried: tuple[str, ...] = ()
    depth: int = 0
    """The conversation's handoff depth after this event."""
    detail: dict[str, Any] = field(default_factory=dict)
    flow: str = ""
    """The flow's name (stamped by :class:`Stamped`; empty in records written before it existed)."""
    flow_hash: str = ""
    """A content hash of the flow (first 12 hex of a sha256), so merged logs of different runs tell apart."""

    def to_json(self) -> str:
        data = asdict(self)
        data["carried"] = list(self.carried)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> AuditRecord:
        data = json.loads(line)
        data["carried"] = tuple(data.get("carried", ()))
        return cls(**data)


class AuditSink(Protocol):
    """Where records go. ``write`` may return an awaitable (a network sink): the runtime awaits it before
    the conversation goes on, so a record is stored before what it records is acted on further."""

    def write(self, record: AuditRecord) -> Awaitable[None] | None: ...


async def write_to(sink: AuditSink, record: AuditRecord) -> None:
    """``sink.write(record)``, awaited when the sink returns an awaitable (the one place that knows)."""
    written = sink.write(record)
    if written is not None:
        await written


class MemorySink:
    """Keeps every record (tests, ``run``); a long-lived server uses :class:`CountingSink` instead."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def write(self, record: AuditRecord) -> None:
        self.records.append(record)


class CountingSink:
    """Counts records per kind and keeps none (``serve`` without ``--audit``: memory stays flat)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def write(self, record: AuditRecord) -> None:
        self.counts[record.kind] = self.counts.get(record.kind, 0) + 1


def flow_hash(flow: Flow) -> str:
    """The flow's content hash: the first 12 hex digits of the sha256 of its model (prompt files resolved)."""
    return hashlib.sha256(flow.model_dump_json().encode()).hexdigest()[:12]


class Stamped:
    """Writes each record to ``sink`` with the flow's identity (name and content hash) filled in."""

    def __init__(self, sink: AuditSink, flow: str, flow_hash: str) -> None:
        self.sink, self.flow, self.flow_hash = sink, flow, flow_hash

    @classmethod
    def of(cls, sink: AuditSink, flow: Flow) -> Stamped:
        """``sink`` stamped with ``flow``'s name and :func:`flow_hash` (what ``run`` and ``serve`` write)."""
        return cls(sink, flow.flow.name, flow_hash(flow))

    def stamp(self, record: AuditRecord) -> AuditRecord:
        return replace(record, flow=self.flow, flow_hash=self.flow_hash)

    def write(self, record: AuditRecord) -> Awaitable[None] | None:
        return self.sink.write(self.stamp(record))

    async def last_seq(self, conversation_id: str) -> int:
        """The sink's highest sequence number for the conversation, where it can tell (0 otherwise): a
        resumed conversation numbers on from there, so no ``(conversation_id, seq)`` is written twice even
        when a process died between writing a record and saving the snapshot that counts it."""
        ask = getattr(self.sink, "last_seq", None)
        return int(await ask(conversation_id)) if ask is not None else 0
