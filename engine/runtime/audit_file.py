"""Audit records as JSON Lines: the file sink ``run`` and ``serve --audit`` write, and its reader."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from engine.session.audit import AuditRecord


class JsonlSink:
    """Appends one JSON object per line, each with one ``write(2)`` on an ``O_APPEND`` descriptor: a crash
    loses nothing already written, and processes sharing the file (``serve --workers N``) never interleave
    their lines (Linux serialises appends to a regular file)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = os.open(
            self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644
        )

    def write(self, record: AuditRecord) -> None:
        if self._fd is None:
            raise ValueError(f"{self.path}: the audit sink is closed")
        data = (record.to_json() + "\n").encode("utf-8")
        while data:  # a short write (a full disk, a signal) resumes where it stopped
            data = data[os.write(self._fd, data) :]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


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
