"""The snapshot stores (memory, SQLite, Redis) and the audit sinks (SQLite, Redis Stream) with their readers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.session.audit import AuditRecord, write_to
from engine.store import StoreError, open_audit, open_store, read_audit
from engine.store.base import SnapshotStore
from tests.realtime_schema import run


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory:"
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'state' / 'conversations.db'}"
    url: str = request.getfixturevalue("redis_url")
    return f"{url}?prefix=test-{tmp_path.name}:"


def test_a_store_keeps_the_latest_text_of_each_conversation(store_url: str) -> None:
    async def main() -> list[str | None]:
        store: SnapshotStore = open_store(store_url)
        try:
            await store.save("conv_a", '{"n": 1}')
            await store.save("conv_a", '{"n": 2}')  # replaced whole
            await store.save("conv_b", '{"n": 3}')
            seen = [await store.load("conv_a"), await store.load("conv_b"), await store.load("conv_c")]
            await store.delete("conv_a")
            return [*seen, await store.load("conv_a"), await store.load("conv_b")]
        finally:
            await store.close()

    assert run(main()) == ['{"n": 2}', '{"n": 3}', None, None, '{"n": 3}']


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_a_shared_store_is_seen_by_another_process_s_client(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two store objects on one URL (two relay processes): what one saves, the other loads."""
    url = (
        f"sqlite:{tmp_path / 'shared.db'}"
        if kind == "sqlite"
        else request.getfixturevalue("redis_url") + "?prefix=shared:"
    )

    async def main() -> str | None:
        one, two = open_store(url), open_store(url)
        try:
            await one.save("conv_x", "snapshot")
            return await two.load("conv_x")
        finally:
            await one.close()
            await two.close()

    assert run(main()) == "snapshot"


def test_an_expired_snapshot_is_gone(tmp_path: Path, redis_url: str) -> None:
    import redis

    async def main() -> None:
        store = open_store(f"{redis_url}?prefix=ttl:&ttl_s=30")
        try:
            await store.save("conv_t", "x")
        finally:
            await store.close()

    run(main())
    assert 0 < redis.Redis.from_url(redis_url).ttl("ttl:conv:conv_t") <= 30
    sqlite_url = f"sqlite:{tmp_path / 'old.db'}?ttl_s=1"

    async def stale() -> str | None:
        store = open_store(sqlite_url)
        try:
            await store.save("conv_old", "x")
            import sqlite3

            db = sqlite3.connect(tmp_path / "old.db")
            db.execute("UPDATE conversations SET updated_at = updated_at - 10")
            db.commit()
            db.close()
            return await store.load("conv_old")
        finally:
            await store.close()

    assert run(stale()) is None


def record(conversation: str, seq: int, kind: str = "handoff") -> AuditRecord:
    return AuditRecord(conversation, seq, 1.0 + seq, kind, "done", "front", "billing", "why", (), 1)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "redis", "jsonl"])
def audit_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'audit.db'}"
    if request.param == "jsonl":
        return str(tmp_path / "audit.jsonl")
    url: str = request.getfixturevalue("redis_url")
    return f"{url}?prefix=audit-{tmp_path.name}:"


def test_every_audit_sink_is_read_back_in_order(audit_url: str) -> None:
    records = [record("conv_1", 1), record("conv_1", 2), record("conv_2", 1, "end")]

    async def main() -> None:
        sink = open_audit(audit_url)
        for r in records:
            await write_to(sink, r)
        closing: Callable[[], object] | None = getattr(sink, "aclose", None) or getattr(sink, "close", None)
        result = closing() if closing is not None else None
        if hasattr(result, "__await__"):
            await result  # type: ignore[misc]

    run(main())
    back = [item for _, item in read_audit(audit_url)]
    assert back == records


def test_the_sqlite_sink_keeps_one_row_per_conversation_and_sequence(tmp_path: Path) -> None:
    """A record written twice (a resumed conversation repeating a sequence number) is kept once."""
    url = f"sqlite:{tmp_path / 'audit.db'}"
    sink = open_audit(url)
    sink.write(record("conv_1", 1))
    sink.write(record("conv_1", 1))
    assert len(list(read_audit(url))) == 1


def test_unusable_urls_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unknown store"):
        open_store("postgres://db/x")
    with pytest.raises(StoreError, match="no such database"):
        list(read_audit(f"sqlite:{tmp_path / 'missing.db'}"))
    with pytest.raises(StoreError):
        list(read_audit("redis://127.0.0.1:1/0"))  # nothing listens on port 1
    (tmp_path / "junk.db").write_text("not sqlite")
    problems = [item for _, item in read_audit(f"sqlite:{tmp_path / 'junk.db'}")]
    assert len(problems) == 1 and "not a Switchboard database" in str(problems[0])


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_an_audit_sink_tells_the_last_sequence_of_a_conversation(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """What a resumed conversation numbers on from (a process may die between a record and its snapshot)."""
    if kind == "redis":
        url = f"{request.getfixturevalue('redis_url')}?prefix=seq-{tmp_path.name}:"
    else:
        url = f"sqlite:{tmp_path / 'audit.db'}"

    async def main() -> list[int]:
        sink = open_audit(url)
        for r in (record("conv_1", 1), record("conv_1", 2), record("conv_2", 7)):
            await write_to(sink, r)
        seqs = [await sink.last_seq(c) for c in ("conv_1", "conv_2", "conv_3")]  # type: ignore[attr-defined]
        if kind == "redis":
            await sink.aclose()  # type: ignore[attr-defined]
        return seqs

    assert run(main()) == [2, 7, 0]


@pytest.mark.parametrize("write", ["save", "commit"])
def test_sqlite_waits_for_another_process_lock_without_blocking_the_loop(tmp_path: Path, write: str) -> None:
    """``serve --workers N`` share one file: a write that finds the lock taken must let the worker's other
    conversations run (SQLite's busy handler would sleep the whole event loop) and land once it is free."""
    import asyncio
    import sqlite3

    path = tmp_path / "conversations.db"

    async def main() -> tuple[bool, str | None, list[int]]:
        store: Any = open_store(f"sqlite:{path}")
        await store.save("conv_a", '{"n": 1}')  # the file and its tables exist
        other = sqlite3.connect(path, isolation_level=None)  # another worker, mid-write
        other.execute("BEGIN IMMEDIATE")
        if write == "save":
            pending = asyncio.ensure_future(store.save("conv_a", '{"n": 2}'))
        else:
            record = AuditRecord("conv_a", 1, 0.0, "handoff", "done", "front", "billing", "why", (), 1)
            pending = asyncio.ensure_future(store.commit("conv_a", '{"n": 2}', [record]))
        for _ in range(3):  # the loop turns while the write waits: other conversations go on
            await asyncio.sleep(0)
        waited = not pending.done()
        other.commit()  # the other worker is done
        await pending
        seqs = [row[0] for row in other.execute("SELECT seq FROM audit WHERE conversation_id = 'conv_a'")]
        other.close()
        try:
            return waited, await store.load("conv_a"), seqs
        finally:
            await store.close()

    waited, text, seqs = run(main())
    assert waited and text == '{"n": 2}'
    assert seqs == ([1] if write == "commit" else [])


def test_each_worker_writes_a_file_of_its_own_and_they_are_one_store(tmp_path: Path) -> None:
    """``serve --workers 2``: a client that reconnects may land on the other worker. It finds the newest
    copy in either file, and the conversation's end deletes the copies it found."""
    url = f"sqlite:{tmp_path / 'state' / 'c.db'}"

    async def main() -> list[str | None]:
        zero: Any = open_store(url, 0)
        one: Any = open_store(url, 1)
        try:
            await one.save("conv_a", "on worker 1")  # the call starts on worker 1
            await one.save("conv_b", "b, older")
            found = [await zero.load("conv_a")]  # it resumes on worker 0: found in worker 1's file
            await zero.save("conv_a", "on worker 0")
            await zero.save("conv_b", "b, newer")
            found.append(await one.load("conv_b"))  # the newest copy, whichever file holds it
            await zero.delete("conv_a")  # the client hangs up on worker 0: gone from both files
            found += [await zero.load("conv_a"), await one.load("conv_a"), await zero.load("conv_b")]
            return found
        finally:
            await zero.close()
            await one.close()

    assert run(main()) == ["on worker 1", "b, newer", None, None, "b, newer"]
    assert sorted(p.name for p in (tmp_path / "state").glob("*.db")) == ["c.db", "c.w1.db"]


def test_worker_files_are_named_beside_the_store() -> None:
    from engine.store.sqlite import worker_path

    assert worker_path("/s/conversations.db", None) == "/s/conversations.db"
    assert worker_path("/s/conversations.db", 0) == "/s/conversations.db"
    assert worker_path("/s/conversations.db", 3) == "/s/conversations.w3.db"
    assert worker_path("/s/plain", 1) == "/s/plain.w1"


def test_worker_files_leave_out_sqlite_s_own_files_and_other_names(tmp_path: Path) -> None:
    from engine.store.sqlite import worker_files

    for name in ("c.db", "c.w1.db", "c.w12.db", "c.db-wal", "c.w1.db-shm", "c.w0.db", "c.wx.db", "cc.w1.db"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in worker_files(str(tmp_path / "c.db"))] == ["c.db", "c.w1.db", "c.w12.db"]


def test_the_workers_audit_files_are_read_as_one_log(tmp_path: Path) -> None:
    """Each worker's ``sqlite:`` audit sink writes its own file; the readers and ``last_seq`` see them all
    (a conversation resumed on the other worker numbers on from the highest sequence in either)."""
    url = f"sqlite:{tmp_path / 'audit.db'}"
    from dataclasses import replace

    zero, one = open_audit(url, 0), open_audit(url, 1)
    zero.write(replace(record("conv_1", 1), time=10.0))
    one.write(replace(record("conv_1", 2), time=11.0))  # resumed on worker 1
    one.write(replace(record("conv_2", 1), time=12.0))
    zero.write(replace(record("conv_1", 3), time=13.0))  # and back on worker 0

    async def seqs() -> list[int]:
        return [await sink.last_seq(c) for sink in (zero, one) for c in ("conv_1", "conv_2")]  # type: ignore[attr-defined]

    assert run(seqs()) == [3, 1, 3, 1]
    read = list(read_audit(url))
    assert [(r.conversation_id, r.seq) for _, r in read] == [  # type: ignore[union-attr]
        ("conv_1", 1),
        ("conv_1", 2),
        ("conv_2", 1),
        ("conv_1", 3),
    ]
    assert {where.split("#")[0].rsplit("/", 1)[1] for where, _ in read} == {"audit.db", "audit.w1.db"}


def test_a_file_of_snapshots_alone_is_not_fsynced_and_one_with_records_is(tmp_path: Path) -> None:
    """Snapshots serve a relay process that dies (page cache: safe) and only this machine's relays read
    them, so their file skips the checkpoints' fsync; a file that holds audit records keeps it."""
    from engine.store import same_sqlite_file

    async def synchronous(store: Any) -> int:
        await store.save("conv_a", "x")
        try:
            return int(store._db.execute("PRAGMA synchronous").fetchone()[0])
        finally:
            await store.close()

    url = f"sqlite:{tmp_path / 'c.db'}"
    assert run(synchronous(open_store(url))) == 0  # OFF
    assert run(synchronous(open_store(url, records=True))) == 1  # NORMAL
    sink: Any = open_audit(url)
    assert sink._db.execute("PRAGMA synchronous").fetchone()[0] == 1
    sink.close()
    assert same_sqlite_file(url, f"sqlite:{tmp_path / 'c.db'}?ttl_s=60")
    assert not same_sqlite_file(url, f"sqlite:{tmp_path / 'd.db'}")
    assert not same_sqlite_file(str(tmp_path / "audit.jsonl"), url)
    assert not same_sqlite_file(None, url)


def test_a_save_after_the_end_does_not_bring_the_conversation_back(store_url: str) -> None:
    """A relay that held a conversation's old, half-open connection notices the drop only after the
    resumed call ended elsewhere; its last save must not make the ended call resumable again."""

    async def main() -> list[str | None]:
        store: SnapshotStore = open_store(store_url)
        try:
            await store.save("conv_a", "turn 3")
            await store.save("conv_b", "b")
            await store.delete("conv_a")  # the client hung up (close 1000) on the relay it resumed on
            await store.save("conv_a", "turn 2, late")  # the old relay's save as it winds up
            return [await store.load("conv_a"), await store.load("conv_b")]
        finally:
            await store.close()

    assert run(main()) == [None, "b"]


def test_a_late_save_in_another_worker_s_file_stays_ended(tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path / 'c.db'}"

    async def main() -> list[str | None]:
        zero: Any = open_store(url, 0)
        one: Any = open_store(url, 1)
        try:
            await one.save("conv_a", "on worker 1")
            assert await zero.load("conv_a") == "on worker 1"  # resumed on worker 0
            await zero.delete("conv_a")  # and ended there
            await one.save("conv_a", "worker 1 winds up late")
            await one.commit("conv_a", "and commits its end", [record("conv_a", 9, "end")])
            return [await zero.load("conv_a"), await one.load("conv_a")]
        finally:
            await zero.close()
            await one.close()

    assert run(main()) == [None, None]
