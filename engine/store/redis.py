"""Redis: snapshots (one key per conversation, with a TTL) and audit records (one Stream per deployment).

The official ``redis`` client, asyncio for the relay (``redis.asyncio``) and blocking for the readers
(``switchboard log``). Keys: ``PREFIX conv:ID`` (a string, ``SET … EX ttl``: atomic) and ``PREFIX audit``
(a Stream, one ``XADD`` per record, awaited before the conversation goes on, so an acknowledged record is
in Redis). An ended conversation leaves ``PREFIX ended:ID`` for the TTL, and a save of it is then ignored. ``PREFIX`` is ``switchboard:`` (``?prefix=`` in the URL); several deployments can share a
server under different prefixes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from engine.session.audit import AuditRecord
from engine.store.base import StoreError, ttl_of

DEFAULT_PREFIX = "switchboard:"
OURS = ("prefix", "ttl_s")
"""Query parameters that are Switchboard's, not the client's."""


def split_url(url: str) -> tuple[str, str, int]:
    """``(the URL the redis client gets, key prefix, ttl)``."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    prefix = query.get("prefix", [DEFAULT_PREFIX])[-1]
    rest = urlencode({k: v[-1] for k, v in query.items() if k not in OURS})
    return urlunsplit(parts._replace(query=rest)), prefix, ttl_of(parts.query)


POOL_SIZE = 64
"""Connections per store or sink object; past it a call waits for a free one (``BlockingConnectionPool``)
instead of failing with ``Too many connections`` (100 conversations resuming at once)."""
POOL_WAIT_S = 10.0


def _async_client(url: str) -> Any:
    import redis.asyncio

    pool = redis.asyncio.BlockingConnectionPool.from_url(url, max_connections=POOL_SIZE, timeout=POOL_WAIT_S)
    return redis.asyncio.Redis.from_pool(pool)  # closing the client closes its pool


class _Redis:
    """One deployment's keys on one server: the client (opened on first use) and the audit appends."""

    def __init__(self, url: str) -> None:
        self.url, self.prefix, self.ttl_s = split_url(url)
        self.stream = f"{self.prefix}audit"
        self._client: Any = None

    def _redis(self) -> Any:
        if self._client is None:
            self._client = _async_client(self.url)
        return self._client

    def _append(self, tx: Any, records: list[AuditRecord]) -> None:
        """Queue ``records`` on the stream and note their conversation's last sequence number (in ``tx``)."""
        for record in records:
            tx.xadd(self.stream, _fields(record))
        if records:
            last = records[-1]
            tx.set(f"{self.prefix}seq:{last.conversation_id}", last.seq, ex=self.ttl_s)

    async def _close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


SAVE_UNLESS_ENDED = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
"""``SET conv:ID`` unless ``ended:ID`` exists (a script: atomic, and queueable in a ``MULTI``)."""


class RedisStore(_Redis):
    def _keys(self, conversation_id: str) -> tuple[str, str]:
        return f"{self.prefix}conv:{conversation_id}", f"{self.prefix}ended:{conversation_id}"

    async def load(self, conversation_id: str) -> str | None:
        value = await self._redis().get(self._keys(conversation_id)[0])
        return None if value is None else bytes(value).decode("utf-8")

    async def save(self, conversation_id: str, text: str) -> None:
        await self._redis().eval(SAVE_UNLESS_ENDED, 2, *self._keys(conversation_id), text, self.ttl_s)

    async def delete(self, conversation_id: str) -> None:
        """The snapshot deleted and ``ended:ID`` set (for the TTL), in one ``MULTI``."""
        conv, ended = self._keys(conversation_id)
        async with self._redis().pipeline(transaction=True) as tx:
            tx.delete(conv)
            tx.set(ended, 1, ex=self.ttl_s)
            await tx.execute()

    async def commit(self, conversation_id: str, text: str, records: list[AuditRecord]) -> None:
        """``records`` onto the audit stream (with the sequence counter) and the snapshot (unless the
        conversation has ended), in one ``MULTI``: a process killed at any instant leaves both or neither."""
        async with self._redis().pipeline(transaction=True) as tx:
            self._append(tx, records)
            tx.eval(SAVE_UNLESS_ENDED, 2, *self._keys(conversation_id), text, self.ttl_s)
            await tx.execute()

    async def close(self) -> None:
        await self._close()


class RedisAuditSink(_Redis):
    """``write`` returns the ``XADD`` to await (the conversation awaits it before going on)."""

    async def write(self, record: AuditRecord) -> None:
        """The record appended to the stream and the conversation's last sequence number noted, in one
        ``MULTI`` (so :meth:`last_seq` never lags a record that is in the stream)."""
        async with self._redis().pipeline(transaction=True) as tx:
            self._append(tx, [record])
            await tx.execute()

    async def last_seq(self, conversation_id: str) -> int:
        """The highest sequence number written for the conversation (0: none)."""
        value = await self._redis().get(f"{self.prefix}seq:{conversation_id}")
        return int(value) if value is not None else 0

    async def aclose(self) -> None:
        await self._close()


def _fields(record: AuditRecord) -> dict[str, str | int]:
    return {"conversation_id": record.conversation_id, "seq": record.seq, "record": record.to_json()}


def read_redis_audit(url: str, batch: int = 1000) -> Iterator[tuple[str, AuditRecord | str]]:
    """The stream's entries in order, read in batches (``XRANGE``)."""
    import redis

    plain, prefix, _ = split_url(url)
    client: Any = redis.Redis.from_url(plain)
    stream, start = f"{prefix}audit", "-"
    try:
        while True:
            try:
                entries = client.xrange(stream, min=start, count=batch)
            except redis.RedisError as exc:
                raise StoreError(f"{plain}: {exc}") from None
            for entry_id, fields in entries:
                where = f"{stream}#{entry_id.decode()}"
                try:
                    yield where, AuditRecord.from_json(fields[b"record"].decode("utf-8"))
                except (KeyError, ValueError, TypeError) as exc:
                    yield where, f"not an audit record: {exc}"
            if len(entries) < batch:
                return
            start = "(" + entries[-1][0].decode()
    finally:
        client.close()
