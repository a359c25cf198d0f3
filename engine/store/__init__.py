"""Where conversations and audit records outlive a process: snapshot stores and audit sinks by URL.

=====================  ==========================  =====================================================
URL                    snapshots (``--store``)     audit records (``--audit``)
=====================  ==========================  =====================================================
``memory:``            this process only           -- (``run`` keeps its records in memory)
``sqlite:PATH``        one file, WAL (``serve``'s  a table in the same kind of file
                       default; a file per worker
                       of ``serve --workers N``)
``redis://HOST:PORT/N``  one key per conversation  one Redis Stream per deployment
``PATH`` (no scheme)   --                          JSON Lines (:mod:`engine.runtime.audit_file`)
=====================  ==========================  =====================================================

A store holds each conversation's latest snapshot as one JSON text, written whole (atomic in each
engine: one ``SET``, one ``INSERT OR REPLACE``); readers (``switchboard log``, ``render --audit``) take the
same URLs (:func:`read_audit`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from engine.session.audit import AuditRecord, AuditSink
from engine.store.base import SnapshotStore, StoreError, ttl_of
from engine.store.memory import MemoryStore

__all__ = [
    "MemoryStore",
    "SnapshotStore",
    "StoreError",
    "is_store_url",
    "open_audit",
    "open_store",
    "read_audit",
    "same_sqlite_file",
]


SCHEMES = ("memory", "sqlite", "redis", "rediss")


def is_store_url(value: str) -> bool:
    """Whether ``value`` names a store by URL (else it is a JSON Lines path)."""
    return urlsplit(value).scheme in SCHEMES


def open_store(url: str, worker: int | None = None, *, records: bool = False) -> SnapshotStore:
    """The snapshot store ``url`` names (nothing is connected until first use); ``worker`` K of
    ``serve --workers N`` writes a ``sqlite:`` store's file of its own, and ``records`` says it holds the
    audit records too (``--audit`` the same URL: a ``sqlite:`` file then keeps its fsyncs;
    :mod:`engine.store.sqlite`)."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryStore()
    if scheme == "sqlite":
        from engine.store.sqlite import SqliteStore

        return SqliteStore(sqlite_path(url), ttl_of(urlsplit(url).query), worker, records=records)
    if scheme in ("redis", "rediss"):
        from engine.store.redis import RedisStore

        return RedisStore(url)
    raise StoreError(f"unknown store {url!r}: use memory:, sqlite:PATH or redis://HOST:PORT/DB")


def open_audit(target: str, worker: int | None = None) -> AuditSink:
    """The audit sink ``target`` names: a ``sqlite:`` or ``redis://`` URL, else a JSON Lines path (shared
    by the workers of ``serve --workers N``; a ``sqlite:`` file is one per ``worker``, like the store's)."""
    scheme = urlsplit(target).scheme
    if scheme == "sqlite":
        from engine.store.sqlite import SqliteAuditSink

        return SqliteAuditSink(sqlite_path(target), worker)
    if scheme in ("redis", "rediss"):
        from engine.store.redis import RedisAuditSink

        return RedisAuditSink(target)
    if scheme == "memory":
        raise StoreError("memory: holds no audit records: give a JSON Lines path, sqlite:PATH or redis://")
    from engine.runtime.audit_file import JsonlSink

    return JsonlSink(target)


def read_audit(source: str) -> Iterator[tuple[str, AuditRecord | str]]:
    """``(where, record)`` — or ``(where, problem)`` for an entry that is not a record — from a JSON Lines
    file, a ``sqlite:`` file or a ``redis://`` stream; ``where`` is ``PATH:LINE`` or the entry's id."""
    scheme = urlsplit(source).scheme
    if scheme == "sqlite":
        from engine.store.sqlite import read_sqlite_audit

        path = sqlite_path(source)
        if not Path(path).is_file():
            raise StoreError(f"{source}: no such database")
        yield from read_sqlite_audit(path)
        return
    if scheme in ("redis", "rediss"):
        from engine.store.redis import read_redis_audit

        yield from read_redis_audit(source)
        return
    from engine.runtime.audit_file import read_jsonl

    for number, record in read_jsonl(source):
        yield f"{source}:{number}", record


def default_store() -> str:
    """``serve``'s store when ``--store`` is not given: SQLite in ``$XDG_STATE_HOME/switchboard`` (by default
    ``~/.local/state/switchboard/conversations.db``; with ``--workers N``, a file per worker beside it, read
    as one store)."""
    import os

    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return f"sqlite:{Path(state) / 'switchboard' / 'conversations.db'}"


def sqlite_path(url: str) -> str:
    """The file of ``sqlite:PATH`` (relative) or ``sqlite:///ABSOLUTE``."""
    path = urlsplit(url).path
    if not path:
        raise StoreError(f"{url!r} names no file: use sqlite:PATH or sqlite:///ABSOLUTE/PATH")
    return path


def same_sqlite_file(one: str | None, other: str) -> bool:
    """Whether two URLs name the same ``sqlite:`` file (an audit sink and a store sharing it)."""
    if not one or urlsplit(one).scheme != "sqlite" or urlsplit(other).scheme != "sqlite":
        return False
    return Path(sqlite_path(one)).expanduser().resolve() == Path(sqlite_path(other)).expanduser().resolve()
