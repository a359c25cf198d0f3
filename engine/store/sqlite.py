"""SQLite: snapshots and audit records in one local file (WAL), ``serve``'s embedded default.

Calls run on the event loop: with WAL and ``synchronous=NORMAL`` a commit is a write to the log with no
fsync (tens of microseconds for a short call, growing with the snapshot: ~0.15 ms for a 300-turn call's
~70 KiB; ``tools/bench_snapshot.py``). A thread of its own for the writes was measured slower in
``tools/bench_relay.py``: handing each write over cost more than the write. Processes sharing the file
(``serve --workers N``) take turns through SQLite's write lock; a call that finds it taken yields to the
event loop and retries (:meth:`SqliteStore._run`) rather than sleep in SQLite's busy handler. Rows older
than the TTL are pruned when the store opens.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from engine.session.audit import AuditRecord
from engine.store.base import DEFAULT_TTL_S

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, body TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (conversation_id, seq)
);
"""


LOCK_WAIT_S = 5.0
"""How long a store call waits for the file's write lock held by another process (``serve --workers N``)."""


def connect(path: str) -> sqlite3.Connection:
    """The file opened (created with its parent folder) in WAL mode, autocommit, with the tables."""
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(
        Path(path).expanduser(), isolation_level=None, timeout=LOCK_WAIT_S, check_same_thread=False
    )
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    return db


def _locked(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or (
        "locked" in str(exc)
    )


class SqliteStore:
    def __init__(self, path: str, ttl_s: int = DEFAULT_TTL_S) -> None:
        self.path, self.ttl_s = path, ttl_s
        self._db: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            db = connect(self.path)
            db.execute("DELETE FROM conversations WHERE updated_at < ?", (time.time() - self.ttl_s,))
            db.execute("PRAGMA busy_timeout = 0")  # from now on a lock held elsewhere is waited for in _run
            self._db = db
        return self._db

    async def _run(self, call: Callable[[sqlite3.Connection], T]) -> T:
        """``call(db)``; while another process holds the file's write lock, retry after yielding to the
        event loop (backing off up to 5 ms, for :data:`LOCK_WAIT_S`). SQLite's own busy handler would
        sleep the whole loop, 1 ms and up a try, every conversation of the process with it."""
        db = self._open()
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + LOCK_WAIT_S, 0.001
        while True:
            try:
                return call(db)
            except sqlite3.OperationalError as exc:
                if not _locked(exc) or loop.time() >= deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(2 * pause, 0.01)

    async def load(self, conversation_id: str) -> str | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT body FROM conversations WHERE id = ? AND updated_at >= ?",
                (conversation_id, time.time() - self.ttl_s),
            ).fetchone()
        )
        return None if row is None else str(row[0])

    async def save(self, conversation_id: str, text: str) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO conversations (id, body, updated_at) VALUES (?, ?, ?)",
                (conversation_id, text, time.time()),
            )
        )

    async def delete(self, conversation_id: str) -> None:
        await self._run(lambda db: db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,)))

    async def commit(self, conversation_id: str, text: str, records: list[AuditRecord]) -> None:
        """``records`` into the ``audit`` table and the snapshot, in one transaction (a ``sqlite:`` audit
        sink on the same file reads them)."""
        rows = [(r.conversation_id, r.seq, r.to_json()) for r in records]

        def write(db: sqlite3.Connection) -> None:
            with db:  # COMMIT, or ROLLBACK on error; IMMEDIATE: the lock is taken (or refused) first
                db.execute("BEGIN IMMEDIATE")
                db.executemany(
                    "INSERT OR IGNORE INTO audit (conversation_id, seq, body) VALUES (?, ?, ?)", rows
                )
                db.execute(
                    "INSERT OR REPLACE INTO conversations (id, body, updated_at) VALUES (?, ?, ?)",
                    (conversation_id, text, time.time()),
                )

        await self._run(write)

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class SqliteAuditSink:
    """One row per record; a record already there (the same conversation and sequence) is kept, not doubled."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = connect(path)

    def write(self, record: AuditRecord) -> None:
        if self._db is None:
            raise ValueError(f"{self.path}: the audit sink is closed")
        self._db.execute(
            "INSERT OR IGNORE INTO audit (conversation_id, seq, body) VALUES (?, ?, ?)",
            (record.conversation_id, record.seq, record.to_json()),
        )

    async def last_seq(self, conversation_id: str) -> int:
        """The highest sequence number written for the conversation (0: none)."""
        if self._db is None:
            return 0
        row = self._db.execute("SELECT max(seq) FROM audit WHERE conversation_id = ?", (conversation_id,))
        value = row.fetchone()[0]
        return int(value) if value is not None else 0

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def read_sqlite_audit(path: str) -> Iterator[tuple[str, AuditRecord | str]]:
    db = sqlite3.connect(f"file:{Path(path).expanduser()}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT rowid, body FROM audit ORDER BY rowid").fetchall()
    except sqlite3.Error as exc:
        rows = []
        yield f"{path}", f"not a Switchboard database: {exc}"
    finally:
        db.close()
    for rowid, body in rows:
        try:
            yield f"{path}#{rowid}", AuditRecord.from_json(body)
        except (ValueError, TypeError) as exc:
            yield f"{path}#{rowid}", f"not an audit record: {exc}"
