"""The snapshot store interface: the latest snapshot of each conversation, as one JSON text."""

from __future__ import annotations

from typing import Protocol

from engine.errors import SwitchboardError
from engine.session.audit import AuditRecord


class StoreError(SwitchboardError):
    """A store or audit URL that cannot be used (unknown scheme, unreachable server, unreadable file)."""


class SnapshotStore(Protocol):
    """Kept per conversation id: one JSON text, replaced whole by each :meth:`save`."""

    async def load(self, conversation_id: str) -> str | None:
        """The latest saved text, or ``None`` (never saved, deleted or expired)."""
        ...

    async def save(self, conversation_id: str, text: str) -> None:
        """Replace the conversation's text atomically (a reader sees the old or the new one, whole)."""
        ...

    async def delete(self, conversation_id: str) -> None:
        """The conversation is over: its text is gone, and a later :meth:`save` of it (a relay that held
        its old, half-open connection and noticed the drop only now) is ignored until the TTL."""
        ...

    async def close(self) -> None: ...


class Journal(SnapshotStore, Protocol):
    """A store that also holds the audit records (SQLite, Redis): a step's records and snapshot commit
    together (``serve --store URL --audit URL`` with one URL)."""

    async def commit(self, conversation_id: str, text: str, records: list[AuditRecord]) -> None: ...


DEFAULT_TTL_S = 86_400
"""How long a conversation's snapshot is kept after its last save (a day; ``?ttl_s=N`` in the URL)."""


def ttl_of(query: str) -> int:
    """The ``ttl_s`` of a store URL's query (:data:`DEFAULT_TTL_S` when absent)."""
    from urllib.parse import parse_qs

    values = parse_qs(query).get("ttl_s")
    if not values:
        return DEFAULT_TTL_S
    ttl = int(values[-1])
    if ttl <= 0:
        raise ValueError("ttl_s must be a positive number of seconds")
    return ttl
