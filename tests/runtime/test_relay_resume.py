"""Resuming a relayed conversation: a client that reconnects with ``?conversation_id=ID`` continues with
the agent it was talking to, on any relay sharing the store; nobody else's credential gets it back."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from engine.emulator.script import Script
from engine.emulator.server import Emulator
from engine.runtime.auth import ClientSecrets, Gate
from engine.runtime.relay import CONVERSATION_HEADER, Relay
from engine.session import MemorySink
from engine.store import open_store
from engine.store.base import SnapshotStore
from tests.realtime_schema import run
from tests.runtime.relay_helpers import RESUME_SCRIPT, ask, desk, next_event, to_billing

TOKEN = "t" * 32


def relay(emulator: Emulator, store: SnapshotStore, sink: MemorySink, gate: Gate | None = None) -> Relay:
    return Relay(desk(), emulator.url, audit=sink, store=store, gate=gate)


def resume_url(url: str, conversation_id: str) -> str:
    return f"{url}?conversation_id={conversation_id}"


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_a_dropped_client_resumes_with_its_agent_on_another_relay(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Relay A loses the client (no close frame); relay B, sharing the store, continues the conversation
    with billing; the audit has a ``resume`` record and one sequence throughout."""
    sink = MemorySink()
    if kind == "redis":
        url = f"{request.getfixturevalue('redis_url')}?prefix={tmp_path.name}:"
    else:
        url = "memory:" if kind == "memory" else f"sqlite:{tmp_path / 'c.db'}"

    async def main() -> tuple[str, list[str]]:
        store_a = open_store(url)
        store_b = store_a if kind == "memory" else open_store(url)
        async with Emulator(Script.parse(RESUME_SCRIPT, "s")) as emulator:
            async with relay(emulator, store_a, sink) as a, relay(emulator, store_b, sink) as b:
                ws = await connect(a.url)
                conversation_id = await to_billing(ws)
                ws.transport.abort()  # the network drops: no close frame
                await a.until_ended(conversation_id)
                async with connect(resume_url(b.url, conversation_id)) as again:
                    assert again.response is not None
                    assert again.response.headers[CONVERSATION_HEADER] == conversation_id
                    updated = await next_event(again, "session.updated")
                    assert updated["session"]["instructions"] == "agent: billing"
                    answer = await ask(again, "again")
                await b.until_ended(conversation_id)
        for store in {store_a, store_b}:
            await store.close()
        return answer, [f"{r.kind}:{r.outcome}" for r in sink.records]

    answer, kinds = run(main())
    assert answer == "Still billing."
    assert "resume:resumed" in kinds
    seqs = [r.seq for r in sink.records]
    assert seqs == list(range(1, len(seqs) + 1))  # no sequence number reused across the two relays


def test_a_conversation_the_client_ended_cannot_be_resumed() -> None:
    async def main() -> dict[str, Any]:
        store = open_store("memory:")
        async with Emulator(Script.parse(RESUME_SCRIPT, "s")) as emulator:
            async with relay(emulator, store, MemorySink()) as r:
                async with connect(r.url) as ws:
                    conversation_id = await to_billing(ws)
                await r.until_ended(conversation_id)  # closed with 1000 by the client: over
                assert await store.load(conversation_id) is None
                async with connect(resume_url(r.url, conversation_id)) as again:
                    error = await next_event(again, "error")
                    await again.wait_closed()
                    assert again.close_code == 1008
                    return dict(error["error"])

    assert run(main())["code"] == "conversation_not_found"


def test_only_the_credential_that_started_a_conversation_resumes_it() -> None:
    """Started with the server token; a client secret (someone else) asking for it is refused."""
    secrets = ClientSecrets(b"k" * 32, time.time)
    gate = Gate(TOKEN, secrets)
    secret, _ = secrets.mint("desk", {})

    async def main() -> tuple[dict[str, Any], str]:
        store = open_store("memory:")
        async with Emulator(Script.parse(RESUME_SCRIPT, "s")) as emulator:
            async with relay(emulator, store, MemorySink(), gate) as r:
                token = {"Authorization": f"Bearer {TOKEN}"}
                ws = await connect(r.url, additional_headers=token)
                conversation_id = await to_billing(ws)
                ws.transport.abort()
                await r.until_ended(conversation_id)
                other = {"Authorization": f"Bearer {secret}"}
                async with connect(resume_url(r.url, conversation_id), additional_headers=other) as thief:
                    error = await next_event(thief, "error")
                async with connect(resume_url(r.url, conversation_id), additional_headers=token) as owner:
                    updated = await next_event(owner, "session.updated")
                return dict(error["error"]), updated["session"]["instructions"]

    error, instructions = run(main())
    assert error["code"] == "conversation_forbidden"
    assert instructions == "agent: billing"  # the refusal left it intact for its owner


@pytest.mark.parametrize(
    ("query", "store", "status"),
    [
        ("conversation_id=conv_123", True, 400),  # not an id
        ("conversation_id=../../etc", True, 400),
        (f"conversation_id=conv_{'a' * 32}", False, 400),  # nothing to resume from
    ],
)
def test_bad_resume_requests_are_refused_at_the_handshake(query: str, store: bool, status: int) -> None:
    async def main() -> int:
        async with Emulator(Script.parse(RESUME_SCRIPT, "s")) as emulator:
            r = Relay(
                desk(), emulator.url, audit=MemorySink(), store=open_store("memory:") if store else None
            )
            async with r:
                with pytest.raises(InvalidStatus) as refused:
                    await connect(f"{r.url}?{query}")
                return refused.value.response.status_code

    assert run(main()) == status


def test_an_unknown_conversation_id_gets_a_clear_error() -> None:
    async def main() -> dict[str, Any]:
        async with Emulator(Script.parse(RESUME_SCRIPT, "s")) as emulator:
            async with relay(emulator, open_store("memory:"), MemorySink()) as r:
                async with connect(resume_url(r.url, f"conv_{'b' * 32}")) as ws:
                    return dict(json.loads(await ws.recv())["error"])

    assert run(main())["code"] == "conversation_not_found"
