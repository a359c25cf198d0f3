"""Soak the relay: many concurrent conversations over loopback, a share of them hostile, bounded in time.

Every conversation is open at the same time: all connect (a bounded number of handshakes in flight), wait
until every one is in, then talk. Honest clients say ``--turns`` plain turns and hang up; hostile ones
(``--hostile`` of the total, the kinds taking turns) send a lone surrogate, a ``content: null`` item, a frame
of 2 MiB, never read while asking for a lot, or connect bare TCP and leave. Asserted at the end: every
honest conversation completed, every conversation that got a session has its ``end`` record in the JSONL
audit file (none lost, none twice), and the process holds no more descriptors than before.

    python tools/soak_relay.py [--conversations 1000] [--hostile 0.1] [--turns 2] [--budget 120] [--write]

Exits 1 when an assertion fails or the budget runs out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from benchlib import machine_line, table, write_section
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from engine.compile.pipeline import compile_document
from engine.emulator.script import Script
from engine.emulator.server import Emulator
from engine.flow.loader import parse_flow
from engine.runtime.audit_file import JsonlSink, read_jsonl
from engine.runtime.limits import RelayLimits, raise_open_files_limit
from engine.runtime.relay import Relay

FLOW = """
[flow]
name = "soak"
entry = "front"
recovery = "front"

[agents.front]
instructions = "Answer briefly."
terminal = true
"""

SCRIPT = """
[[rule]]
say = "Hello."
"""

HANDSHAKES = 64
"""Handshakes in flight at once (the listen backlog is 100; past it, connects wait on SYN retries)."""

NEVER_READS_FRAMES = 100
"""What a never-reading client sends (6 MB) before it only waits: a client that keeps sending is a
different attack (see docs/benchmarks.md)."""

LIMITS = RelayLimits(max_conversations=100_000, send_timeout_s=2.0, idle_timeout_s=60.0)
"""The relay's defaults but for the conversation cap (the soak's count) and a shorter slow-reader timeout."""


def say(text: str) -> str:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return json.dumps({"type": "conversation.item.create", "item": item})


CREATE = json.dumps({"type": "response.create"})


async def until(ws: ClientConnection, kind: str) -> dict[str, Any]:
    async for frame in ws:
        event: dict[str, Any] = json.loads(frame)
        if event["type"] == kind:
            return event
    raise AssertionError(f"closed before {kind} ({ws.close_code} {ws.close_reason})")


class Soak:
    """The clients; each waits at :attr:`go` once connected, so all are live at once."""

    def __init__(self, url: str, address: tuple[str, int], total: int, turns: int) -> None:
        self.url, self.address, self.turns = url, address, turns
        self.gate = asyncio.Semaphore(HANDSHAKES)
        self.connected = 0
        self.total = total
        self.go = asyncio.Event()

    async def _open(self, **kwargs: Any) -> ClientConnection:
        async with self.gate:
            ws = await connect(self.url, compression=None, **kwargs)
            await until(ws, "session.updated")
        self._arrived()
        await self.go.wait()
        return ws

    def _arrived(self) -> None:
        self.connected += 1
        if self.connected == self.total:
            self.go.set()

    async def honest(self) -> str:
        ws = await self._open()
        async with ws:
            for i in range(self.turns):
                await ws.send(say(f"hello {i}"))
                await ws.send(CREATE)
                if (await until(ws, "response.output_text.done"))["text"] != "Hello.":
                    return "wrong answer"
        return "completed"

    async def surrogate(self) -> str:
        ws = await self._open()
        async with ws:
            await ws.send(say("PLACEHOLDER").replace("PLACEHOLDER", "a\\ud800b"))
            return f"error {(await until(ws, 'error'))['error']['code']}"

    async def null_content(self) -> str:
        ws = await self._open()
        async with ws:
            item = {"type": "message", "role": "user", "content": None}
            await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
            return f"error {(await until(ws, 'error'))['error']['param']}"

    async def big_frame(self) -> str:
        ws = await self._open(max_size=None)
        async with ws:
            await ws.send(say("x" * (2 * 1024 * 1024)))
            await ws.wait_closed()
            return f"closed {ws.close_code}"

    async def never_reads(self) -> str:
        """Asks for a lot (``NEVER_READS_FRAMES`` messages of 60 kB, each echoed back twice) and reads
        nothing; waits until the relay cuts it off (reading paused, it learns of the reset by writing)."""
        async with self.gate:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, self.address)
            ws = await connect(self.url, sock=sock, compression=None, max_queue=1, max_size=None)
        self._arrived()
        await self.go.wait()
        big = say("y" * 60_000)
        try:
            for _ in range(NEVER_READS_FRAMES):
                await ws.send(big)
                await ws.send(CREATE)
            while True:  # a ping is a write: the first after the relay's reset fails
                await ws.ping()
                with suppress(TimeoutError):
                    await asyncio.wait_for(ws.wait_closed(), 0.1)
        except ConnectionClosed:
            pass
        finally:
            ws.transport.abort()
        return "cut off"

    async def bare_tcp(self) -> str:
        async with self.gate:
            _, writer = await asyncio.open_connection(*self.address)
        self._arrived()
        await self.go.wait()
        writer.close()
        await writer.wait_closed()
        return "left"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class LogCount(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines[record.levelname] += 1


async def soak(conversations: int, hostile_share: float, turns: int, budget: float) -> dict[str, Any]:
    compiled = compile_document(parse_flow(FLOW, "soak.toml"))
    audit_path = Path(tempfile.mkdtemp(prefix="soak-")) / "audit.jsonl"
    sink = JsonlSink(audit_path)
    logs = LogCount()
    logging.getLogger("switchboard").addHandler(logs)
    logging.getLogger("switchboard").propagate = False
    before = open_fds()
    start = time.perf_counter()
    async with Emulator(Script.parse(SCRIPT, "soak")) as emulator:
        relay = Relay(compiled, emulator.url, audit=sink, limits=LIMITS, gate=None)
        async with relay:
            host, port = relay.server.sockets[0].getsockname()[:2]
            clients = Soak(relay.url, (host, port), conversations, turns)
            kinds: list[Callable[[], Awaitable[str]]] = [
                clients.surrogate,
                clients.null_content,
                clients.big_frame,
                clients.never_reads,
                clients.bare_tcp,
            ]
            hostile = round(conversations * hostile_share)
            spots = {i * conversations // hostile: i for i in range(hostile)}  # spread evenly
            plan: list[tuple[str, Callable[[], Awaitable[str]]]] = []
            for i in range(conversations):
                run = kinds[spots[i] % len(kinds)] if i in spots else clients.honest
                plan.append((run.__name__, run))
            peak_fds = 0

            async def watch() -> None:
                nonlocal peak_fds
                while True:
                    peak_fds = max(peak_fds, open_fds())
                    await asyncio.sleep(0.2)

            watcher = asyncio.create_task(watch())
            async with asyncio.timeout(budget):
                results = await asyncio.gather(*(run() for _, run in plan), return_exceptions=True)
                connected_s = time.perf_counter() - start
                while relay.active:  # handlers still closing (the slow readers' upstreams)
                    await asyncio.sleep(0.05)
            watcher.cancel()
            handled = relay.conversations
    sink.close()
    wall = time.perf_counter() - start
    after = open_fds()
    outcomes: dict[str, Counter[str]] = {}
    for (name, _), result in zip(plan, results, strict=True):
        shown = f"{type(result).__name__}: {result}"[:80] if isinstance(result, BaseException) else result
        outcomes.setdefault(name, Counter())[shown] += 1
    records = [r for _, r in read_jsonl(audit_path)]
    bad_lines = [r for r in records if isinstance(r, str)]
    ids = {r.conversation_id for r in records if not isinstance(r, str)}
    ends = Counter(r.conversation_id for r in records if not isinstance(r, str) and r.kind == "end")
    audit_path.unlink()
    audit_path.parent.rmdir()
    return {
        "conversations": conversations,
        "hostile": hostile,
        "turns": turns,
        "outcomes": outcomes,
        "handled": handled,
        "ends": len(ends),
        "twice": sum(1 for n in ends.values() if n > 1),
        "without_end": len(ids - set(ends)),
        "bad_lines": len(bad_lines),
        "fds": (before, peak_fds, after),
        "wall_s": wall,
        "talk_s": connected_s,
        "cpu_s": resource.getrusage(resource.RUSAGE_SELF).ru_utime
        + resource.getrusage(resource.RUSAGE_SELF).ru_stime,
        "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "log_lines": dict(logs.lines),
    }


def check(r: dict[str, Any]) -> list[str]:
    """What went wrong (empty: the soak passed)."""
    problems = []
    honest = r["outcomes"].get("honest", Counter())
    if honest != Counter({"completed": r["conversations"] - r["hostile"]}):
        problems.append(f"honest conversations did not all complete: {dict(honest)}")
    if r["ends"] != r["handled"] or r["without_end"] or r["twice"] or r["bad_lines"]:
        problems.append(
            f"audit: {r['handled']} conversations handled, {r['ends']} end records, {r['without_end']} "
            f"conversations without one, {r['twice']} with two, {r['bad_lines']} unreadable lines"
        )
    before, _, after = r["fds"]
    if after > before:
        problems.append(f"descriptors leaked: {before} -> {after}")
    return problems


def report(r: dict[str, Any], problems: list[str]) -> str:
    rows = [
        [name, f"{sum(c.values()):,}", ", ".join(f"{k}: {n:,}" for k, n in sorted(c.items()))]
        for name, c in sorted(r["outcomes"].items(), key=lambda kv: kv[0] != "honest")
    ]
    before, peak, after = r["fds"]
    verdict = "PASS" if not problems else "FAIL: " + "; ".join(problems)
    return "\n".join(
        [
            "## Relay soak (`tools/soak_relay.py`, `make soak`)",
            "",
            f"{machine_line()}. One process: the emulator, the relay (defaults but no conversation cap and a 2 s",
            f"slow-reader timeout) and {r['conversations']:,} clients, all connected at once before any talks;",
            f"{r['hostile']:,} of them hostile, the kinds taking turns; honest ones say {r['turns']} plain turns.",
            "",
            table(["client", "count", "outcome"], rows),
            "",
            f"- Conversations the relay handled: {r['handled']:,}; `end` records in the JSONL audit file: "
            f"{r['ends']:,} ({r['without_end']} conversations without one, {r['twice']} with two).",
            f"- Descriptors: {before} before, {peak:,} at the peak, {after} after.",
            f"- Wall time {r['wall_s']:.1f} s (all connected and done talking in {r['talk_s']:.1f} s), CPU "
            f"{r['cpu_s']:.1f} s, peak RSS {r['max_rss_mib']:.0f} MiB; relay log lines: "
            + (", ".join(f"{n} {level}" for level, n in sorted(r["log_lines"].items())) or "none")
            + ".",
            f"- Verdict: {verdict}.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--hostile", type=float, default=0.1, help="share of hostile clients")
    parser.add_argument("--turns", type=int, default=2, help="turns per honest conversation")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds before the soak fails")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    soft, _ = raise_open_files_limit()
    if soft < 4 * args.conversations + 100:
        sys.exit(f"the descriptor limit ({soft}) is too low for {args.conversations} conversations")
    try:
        result = asyncio.run(soak(args.conversations, args.hostile, args.turns, args.budget))
    except TimeoutError:
        sys.exit(f"FAIL: the soak did not finish within {args.budget:g} s")
    problems = check(result)
    body = report(result, problems)
    print(body)
    if args.write:
        write_section("soak", body)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
