"""Audit records: one per handoff, refusal, tool failure and escalation; JSON Lines by default."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, Protocol

Outcome = Literal[
    "done",
    "refused",
    "capped",
    "recovered",  # handoffs
    "failed",  # tool calls
    "answered",
    "timed_out",
    "stale",
    "over_budget",  # escalations (and "failed")
    "ended",  # the conversation's closing record
]
Kind = Literal["handoff", "tool", "escalation", "end"]


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
    def write(self, record: AuditRecord) -> None: ...


class JsonlSink:
    """Appends one JSON object per line and flushes each, so a crash loses nothing already written."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[str] = self.path.open("a", encoding="utf-8")

    def write(self, record: AuditRecord) -> None:
        self._file.write(record.to_json() + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class MemorySink:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def write(self, record: AuditRecord) -> None:
        self.records.append(record)


def read_jsonl(path: str | Path) -> Iterator[tuple[int, AuditRecord | str]]:
    """Yield ``(line_number, record)``, or ``(line_number, error message)`` for a line that is not a record."""
    with Path(path).open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield number, AuditRecord.from_json(line)
            except (ValueError, TypeError) as exc:
                yield number, f"not an audit record: {exc}"
