"""Audit records as JSON Lines: the file sink ``run`` and ``serve --audit`` write, and its reader."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

from engine.session.audit import AuditRecord


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
