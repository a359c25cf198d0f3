"""SQLite: snapshots and audit records in one local file (WAL), ``serve``'s embedded default.

Calls run on the event loop: with WAL a commit is a write to the log with no fsync (tens of microseconds
for a short call, growing with the snapshot: ~0.15 ms for a 300-turn call's ~70 KiB;
``tools/bench_snapshot.py``). A thread of its own for the writes was measured slower in
``tools/bench_relay.py``: handing each write over cost more than the write.

A file of snapshots alone is never fsynced (``synchronous=OFF``): the snapshots are there for a relay
*process* that dies (its writes are safe in the OS's page cache), while a power loss, the one thing an
fsync guards against, ends every call the machine held, and only relays on this machine read the file.
The fsync at each checkpoint cost two workers ~10% more CPU a turn (``tools/bench_workers.py``). A file
that also holds audit records (``--audit`` naming the same file) keeps ``synchronous=NORMAL``: a power
loss may cost its last commits, never the file.

Workers (``serve --workers N``) write a file each: worker 0 the named file, worker K ``NAME.wK.SUFFIX``
beside it (:func:`worker_path`), so that no worker waits for another's lock or re-reads pages another
changed (two workers on one file cost 6–20% more CPU a turn than one, ``tools/bench_workers.py``). The
files are one store: a load looks in every one of them (:func:`worker_files`) and takes the newest copy,
since a client that reconnects may land on any worker, and the conversation's end replaces the copies
it found, and its own row, with a tombstone (an empty body: a late save of an ended conversation, by a
relay that held its old half-open connection, is ignored, and a load finds nothing); the audit records of ``sqlite:`` are read from every file too. Whatever the worker count of
the next start, a conversation saved by any worker is found. A call that finds a file's write lock taken
by another process (a delete in another worker's file, two ``serve`` processes given one path) yields to
the event loop and retries (:meth:`SqliteStore._run`) rather than sleep in SQLite's busy handler. Rows
older than the TTL are pruned when the store opens.
"""

from __future__ import annotations

import asyncio
import re
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


UPSERT = (
    "INSERT INTO conversations (id, body, updated_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
    "body = excluded.body, updated_at = excluded.updated_at WHERE conversations.body != ''"
)
"""A snapshot written, unless the conversation has ended (its row is a tombstone: an empty body)."""
TOMBSTONE = "INSERT OR REPLACE INTO conversations (id, body, updated_at) VALUES (?, '', ?)"

LOCK_WAIT_S = 5.0
"""How long a store call waits for the file's write lock held by another process (``serve --workers N``)."""


def worker_path(path: str, worker: int | None) -> str:
    """The file worker ``worker`` of ``serve --workers N`` writes: ``path`` itself for worker 0 and for a
    single process (``None``), else ``NAME.wK.SUFFIX`` beside it (``conversations.w1.db``)."""
    if not worker:
        return path
    named = Path(path)
    return str(named.with_name(f"{named.stem}.w{worker}{named.suffix}"))


def worker_files(path: str) -> list[Path]:
    """``path`` and the workers' files beside it that exist (:func:`worker_path`), ``path`` first. Cost:
    one directory listing."""
    named = Path(path).expanduser()
    pattern = re.compile(rf"{re.escape(named.stem)}\.w[1-9][0-9]*{re.escape(named.suffix)}")
    try:
        others = sorted(p for p in named.parent.iterdir() if pattern.fullmatch(p.name))
    except OSError:  # no folder yet
        others = []
    return [named, *others]


def connect(path: str, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """The file opened (created with its parent folder) in WAL mode, autocommit, with the tables;
    ``synchronous="OFF"`` for a file of snapshots alone (see the module's docstring)."""
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(
        Path(path).expanduser(), isolation_level=None, timeout=LOCK_WAIT_S, check_same_thread=False
    )
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={'OFF' if synchronous == 'OFF' else 'NORMAL'}")
    db.executescript(SCHEMA)
    return db


def _locked(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or (
        "locked" in str(exc)
    )


def _open_existing(path: str) -> sqlite3.Connection:
    """Another worker's file, read and written where it is (never created)."""
    db = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout = 0")
    return db


class SqliteStore:
    """``path``'s store; ``worker`` K of ``serve --workers N`` writes its own file (:func:`worker_path`);
    ``records=True`` when it also holds audit records (:meth:`commit`), which keeps its fsyncs."""

    def __init__(
        self, path: str, ttl_s: int = DEFAULT_TTL_S, worker: int | None = None, *, records: bool = False
    ) -> None:
        self.family, self.ttl_s, self.records = path, ttl_s, records
        self.path = worker_path(path, worker)
        """The file this store writes."""
        self._db: sqlite3.Connection | None = None
        self._others: dict[str, sqlite3.Connection] = {}
        """Other workers' files, opened by a load that looked in them."""
        self._copies: dict[str, list[str]] = {}
        """Per conversation, the other workers' files in which a load found a copy (deleted with it)."""

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            db = connect(self.path, "NORMAL" if self.records else "OFF")
            db.execute("DELETE FROM conversations WHERE updated_at < ?", (time.time() - self.ttl_s,))
            db.execute("PRAGMA busy_timeout = 0")  # from now on a lock held elsewhere is waited for in _run
            self._db = db
        return self._db

    def _other(self, path: str) -> sqlite3.Connection:
        if path not in self._others:
            self._others[path] = _open_existing(path)
        return self._others[path]

    async def _run(self, call: Callable[[sqlite3.Connection], T], path: str | None = None) -> T:
        """``call(db)`` on this store's file (or another worker's, ``path``); while another process holds
        the file's write lock, retry after yielding to the event loop (backing off up to 10 ms, for
        :data:`LOCK_WAIT_S`). SQLite's own busy handler would sleep the whole loop, 1 ms and up a try,
        every conversation of the process with it."""
        db = self._open() if path is None else self._other(path)
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
        """The newest copy in any worker's file (a resumed conversation was saved where it ran last);
        ``None`` when any file holds its tombstone (it has ended)."""

        def select(db: sqlite3.Connection) -> tuple[str, float] | None:
            return db.execute(  # type: ignore[no-any-return]
                "SELECT body, updated_at FROM conversations WHERE id = ? AND updated_at >= ?",
                (conversation_id, time.time() - self.ttl_s),
            ).fetchone()

        own = str(Path(self.path).expanduser())
        others = [path for path in map(str, worker_files(self.family)) if path != own]
        rows = [(None, await self._run(select))] + [(path, await self._run(select, path)) for path in others]
        found = [(path, row) for path, row in rows if row is not None]
        copies = [path for path, _ in found if path is not None]
        if copies:
            self._copies[conversation_id] = copies
        if not found or any(not body for _, (body, _) in found):
            return None
        return str(max((row for _, row in found), key=lambda row: row[1])[0])

    async def save(self, conversation_id: str, text: str) -> None:
        await self._run(lambda db: db.execute(UPSERT, (conversation_id, text, time.time())))

    async def delete(self, conversation_id: str) -> None:
        """The conversation's row here, and the copies a load found in other workers' files, replaced by
        its tombstone (so that a late save there, by a relay that held its old connection, is ignored)."""

        def delete(db: sqlite3.Connection) -> None:
            db.execute(TOMBSTONE, (conversation_id, time.time()))

        await self._run(delete)
        for path in self._copies.pop(conversation_id, []):
            await self._run(delete, path)

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
                db.execute(UPSERT, (conversation_id, text, time.time()))

        await self._run(write)

    async def close(self) -> None:
        for db in [self._db, *self._others.values()]:
            if db is not None:
                db.close()
        self._db, self._others = None, {}


class SqliteAuditSink:
    """One row per record; a record already there (the same conversation and sequence) is kept, not doubled.
    Worker K of ``serve --workers N`` writes its own file (:func:`worker_path`)."""

    def __init__(self, path: str, worker: int | None = None) -> None:
        self.family, self.path = path, worker_path(path, worker)
        self._db: sqlite3.Connection | None = connect(self.path)

    def write(self, record: AuditRecord) -> None:
        if self._db is None:
            raise ValueError(f"{self.path}: the audit sink is closed")
        self._db.execute(
            "INSERT OR IGNORE INTO audit (conversation_id, seq, body) VALUES (?, ?, ?)",
            (record.conversation_id, record.seq, record.to_json()),
        )

    async def last_seq(self, conversation_id: str) -> int:
        """The highest sequence number written for the conversation, by any worker (0: none)."""
        if self._db is None:
            return 0
        own, highest = str(Path(self.path).expanduser()), 0
        for path in map(str, worker_files(self.family)):
            try:
                db = self._db if path == own else _open_existing(path)
            except sqlite3.OperationalError:  # gone since the listing
                continue
            try:
                row = db.execute("SELECT max(seq) FROM audit WHERE conversation_id = ?", (conversation_id,))
                highest = max(highest, int(row.fetchone()[0] or 0))
            finally:
                if db is not self._db:
                    db.close()
        return highest

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def read_sqlite_audit(path: str) -> Iterator[tuple[str, AuditRecord | str]]:
    """The records of ``path`` and of the workers' files beside it, in the order they were written (by
    their time, when there are several files)."""
    files = worker_files(path)
    found = [entry for file in files for entry in _read_one(file)]
    if len(files) > 1:
        found.sort(key=lambda entry: entry[1].time if isinstance(entry[1], AuditRecord) else 0.0)
    yield from found


def _read_one(path: Path) -> list[tuple[str, AuditRecord | str]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    found: list[tuple[str, AuditRecord | str]] = []
    try:
        rows = db.execute("SELECT rowid, body FROM audit ORDER BY rowid").fetchall()
    except sqlite3.Error as exc:
        return [(f"{path}", f"not a Switchboard database: {exc}")]
    finally:
        db.close()
    for rowid, body in rows:
        try:
            found.append((f"{path}#{rowid}", AuditRecord.from_json(body)))
        except (ValueError, TypeError) as exc:
            found.append((f"{path}#{rowid}", f"not an audit record: {exc}"))
    return found
