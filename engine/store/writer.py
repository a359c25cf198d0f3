"""A conversation's snapshot writes, off the conversation's path: in order, in the background, the latest only.

A relayed conversation saves its snapshot once a turn is over. :class:`SnapshotWriter` takes the text at
once and writes it from a task of its own, so a write that waits (Redis: a round trip) overlaps what the
relay does next, waiting for the client, instead of coming before it; the conversation waits for it only
before its next step. Texts submitted while a write
is under way replace each other (only the latest is written next), so the store never goes back to an
older state. :meth:`SnapshotWriter.idle` waits for the writes so far (before a step's records and snapshot
commit together, and before the conversation's end deletes or keeps its snapshot).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class SnapshotWriter:
    """Writes ``write(text)`` calls one at a time, coalescing; ``on_error`` sees a write's exception (the
    conversation goes on: it just could not be resumed from that state)."""

    def __init__(
        self, write: Callable[[str], Awaitable[None]], on_error: Callable[[Exception], None]
    ) -> None:
        self._write, self._on_error = write, on_error
        self._latest: str | None = None
        self._task: asyncio.Task[None] | None = None

    def submit(self, text: str) -> Awaitable[None]:
        """Write ``text`` after the write under way (if any), unless a later text replaces it first; the
        result completes once it is written (or failed)."""
        self._latest = text
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())
        return asyncio.shield(self._task)  # the task writes every text submitted before it ends

    async def idle(self) -> None:
        """Return once every submitted text is written (or failed)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _drain(self) -> None:
        while self._latest is not None:
            text, self._latest = self._latest, None
            try:
                await self._write(text)
            except Exception as exc:  # the store is down or refused it: reported, the next text may succeed
                self._on_error(exc)
