"""A fleet losing a process: relays sharing Redis, concurrent scripted conversations, one relay SIGKILLed.

Each relay is a real ``switchboard serve`` (its own embedded emulator) with ``--store`` and ``--audit`` on one
Redis. Every conversation talks to relay ``i % relays``: "bill please" (a handoff to billing), then "again"
twice (billing answers). Once every conversation on relay 0 has said its second turn (each mid-call, its
answer not yet read), relay 0 is killed with SIGKILL while the others talk on. A client whose
connection drops reconnects to the next live relay with ``?conversation_id=ID`` and says its turn again (what
was in flight died with the process). Checked at the end, from the Redis audit stream: every conversation
finished; its last ``end`` record is at billing with depth 1; its ``(conversation_id, seq)`` are unique
and contiguous from 1 (no record written twice, none skipped); the killed relay's conversations resumed.

    python tools/fault_resume.py --redis redis://127.0.0.1:6379/0 [--relays 3] [--conversations 300] [--write]

``make soak`` runs it at 300 conversations on a ``redis-server`` it starts; ``make test`` runs a small one
(``tests/runtime/test_fault_resume.py``). Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

ROOT = Path(__file__).resolve().parent.parent

FLOW = """
[flow]
name = "fleet"
entry = "front"
recovery = "help"

[agents.front]
instructions = "You are the front desk."
handoffs = ["billing"]

[agents.billing]
instructions = "You are billing."
terminal = true

[agents.help]
terminal = true
"""

SCRIPT = """
[[rule]]
agent = "front"
user = "bill"
call = "transfer_to_billing"
arguments = { reason = "billing" }
[[rule]]
agent = "billing"
say = "Billing here."
[[rule]]
say = "Hello."
"""

TURNS = ("bill please", "again", "again")
HEADER = "X-Switchboard-Conversation-Id"
TIMEOUT_S = 60.0
ACTIVE = "conversation_already_has_active_response"
"""The upstream refusing a client's ``response.create`` while the relay's own (after a handoff) runs."""


class NotFound(Exception):
    """The relay does not know the conversation id (it was never saved)."""


@dataclass
class Report:
    conversations: int
    relays: int
    finished: int = 0
    reconnects: int = 0
    resumed: int = 0
    records: int = 0
    problems: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        victims = len(range(0, self.conversations, self.relays))
        return not self.problems and self.finished == self.conversations and self.resumed >= victims


def start_relay(folder: Path, store: str, n: int) -> tuple[subprocess.Popen[bytes], str]:
    """A ``serve`` on a free port; its log in ``folder/relay-N.log``."""
    command = [sys.executable, "-m", "engine.cli", "serve", str(folder / "flow.toml"), "--port", "0"]
    command += ["--script", str(folder / "script.toml"), "--no-auth", "--store", store, "--audit", store]
    command += ["--max-conversations", "5000", "--idle-timeout-s", "0", "--drain-s", "5"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with (folder / f"relay-{n}.log").open("wb") as log:
        proc = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=log)
    assert proc.stdout is not None
    for line in proc.stdout:
        text = line.decode()
        if text.startswith("clients connect to "):
            return proc, text.split()[3]
    raise RuntimeError(f"a relay exited before listening ({proc.wait()})")


async def turn(ws: ClientConnection, text: str, said: Awaitable[None] | None = None) -> None:
    """Say ``text`` (then await ``said``) and wait for its ``response.done`` (raises ``ConnectionClosed`` if
    the relay dies)."""
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
    await ws.send(json.dumps({"type": "response.create"}))
    if said is not None:
        await said
    async with asyncio.timeout(TIMEOUT_S):
        async for frame in ws:
            event = json.loads(frame)
            if event["type"] == "response.done":
                return
            if event["type"] == "error" and event["error"].get("code") == "conversation_not_found":
                raise NotFound(event["error"]["message"])
            if event["type"] == "error" and event["error"].get("code") != ACTIVE:
                raise RuntimeError(f"error event: {event['error']}")
    raise ConnectionClosed(ws.close_rcvd, ws.close_sent)


@dataclass
class Kill:
    """The moment relay 0 dies: once every one of its ``victims`` has said its second turn and waits for
    the answer (so each is mid-conversation, none has ended), ``ready`` is set; the victims go on reading
    once ``done`` is."""

    victims: int
    arrived: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def arrive(self) -> None:
        self.arrived += 1
        if self.arrived == self.victims:
            self.ready.set()
        await self.done.wait()


async def converse(index: int, urls: list[str], dead: set[int], kill: Kill, report: Report) -> None:
    at = index % len(urls)
    conversation_id: str | None = None  # until a relay gave one
    step = 0
    ws: ClientConnection | None = None
    while step < len(TURNS):
        try:
            if ws is None:
                query = f"?conversation_id={conversation_id}" if conversation_id else ""
                ws = await connect(urls[at] + query, compression=None)
                if ws.response is not None:
                    conversation_id = ws.response.headers[HEADER]
            victim = at == 0 and step == 1 and not kill.done.is_set()
            await turn(ws, TURNS[step], kill.arrive() if victim else None)
            step += 1
        except NotFound:  # it died with its relay before anything of it was saved: start afresh
            conversation_id, step, ws = None, 0, None
        except (ConnectionClosed, OSError, InvalidHandshake):
            report.reconnects += 1
            ws = None
            at = next(i for k in range(1, len(urls) + 1) if (i := (at + k) % len(urls)) not in dead)
    assert ws is not None
    await ws.close()
    report.finished += 1


def check_audit(store: str, report: Report) -> None:
    from engine.store import read_audit

    seqs: dict[str, list[int]] = defaultdict(list)
    last_end: dict[str, Any] = {}
    for where, item in read_audit(store):
        if isinstance(item, str):
            report.problems.append(f"{where}: {item}")
            continue
        report.records += 1
        seqs[item.conversation_id].append(item.seq)
        if item.kind == "resume":
            report.resumed += 1
        if item.kind == "end" and item.seq >= last_end.get(item.conversation_id, (0,))[0]:
            last_end[item.conversation_id] = (item.seq, item.from_agent, item.depth)
    if len(seqs) != report.conversations:
        report.problems.append(f"{len(seqs)} conversations in the audit, {report.conversations} expected")
    for conversation_id, numbers in seqs.items():
        if sorted(numbers) != list(range(1, len(numbers) + 1)):
            report.problems.append(f"{conversation_id}: sequence {sorted(numbers)} is not 1..N, once each")
        end = last_end.get(conversation_id)
        if end is None or end[1:] != ("billing", 1):
            report.problems.append(
                f"{conversation_id}: ended at {end and end[1:]}, expected billing at depth 1"
            )


async def fault_run(redis_url: str, folder: Path, relays: int = 3, conversations: int = 30) -> Report:
    """Run the whole fault scenario (see the module doc) under a fresh key prefix of ``redis_url``."""
    report = Report(conversations, relays)
    (folder / "flow.toml").write_text(FLOW, encoding="utf-8")
    (folder / "script.toml").write_text(SCRIPT, encoding="utf-8")
    store = f"{redis_url}?prefix=fault-{uuid.uuid4().hex[:8]}:"
    started = await asyncio.gather(*(asyncio.to_thread(start_relay, folder, store, n) for n in range(relays)))
    procs, urls = [p for p, _ in started], [u for _, u in started]
    dead: set[int] = set()
    kill = Kill(len(range(0, conversations, relays)))
    try:
        start = time.perf_counter()
        clients = [asyncio.create_task(converse(i, urls, dead, kill, report)) for i in range(conversations)]
        everyone = asyncio.gather(*clients, return_exceptions=True)
        await asyncio.wait(
            [asyncio.ensure_future(kill.ready.wait()), everyone], return_when="FIRST_COMPLETED"
        )
        dead.add(0)
        procs[0].send_signal(signal.SIGKILL)
        await asyncio.to_thread(procs[0].wait)
        kill.done.set()
        results = await everyone
        report.problems += [f"a client failed: {r!r}" for r in results if isinstance(r, BaseException)]
        report.wall_s = time.perf_counter() - start
    finally:
        for proc in procs[1:]:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            await asyncio.to_thread(proc.wait)
            if proc.stdout is not None:
                proc.stdout.close()
    check_audit(store, report)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", help="a Redis URL (default: start redis-server on a free port)")
    parser.add_argument("--relays", type=int, default=3)
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--write", action="store_true", help="rewrite the section in docs/benchmarks.md")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    server: subprocess.Popen[str] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        url = args.redis
        if url is None:
            server, url = start_redis(Path(tmp))
        try:
            report = asyncio.run(fault_run(url, Path(tmp), args.relays, args.conversations))
        finally:
            if server is not None:
                server.terminate()
                server.wait()
    print(summary(report))
    if args.write:
        from benchlib import machine_line, write_section

        write_section(
            "fault",
            f"## Fleet fault (`tools/fault_resume.py`, `make soak`)\n\n{machine_line()}\n\n{summary(report)}",
        )
    sys.exit(0 if report.ok else 1)


def free_port() -> int:
    """A loopback port nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(folder: Path) -> tuple[subprocess.Popen[str], str]:
    """A ``redis-server`` (Debian's) on a free loopback port, no persistence, ready once its log says so;
    the process (stop it) and its ``redis://`` URL. Raises ``RuntimeError`` when it exits first."""
    command = ["redis-server", "--port", str(port := free_port()), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(folder), "--logfile", ""]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # blocks on its log, line by line, until it is ready (or exits)
        if "Ready to accept connections" in line:
            return proc, f"redis://127.0.0.1:{port}/0"
    raise RuntimeError(f"redis-server exited ({proc.wait()}) before accepting connections")


def summary(report: Report) -> str:
    lines = [
        f"{report.relays} relays (`serve --store redis:// --audit redis://`, each with its embedded emulator), "
        f"{report.conversations} concurrent conversations of {len(TURNS)} turns; relay 0 killed with SIGKILL "
        "once each of its conversations had said its second turn (mid-call).",
        "",
        f"- Finished: {report.finished} of {report.conversations}; reconnects {report.reconnects}; "
        f"`resume` records {report.resumed}.",
        f"- Audit stream: {report.records} records; every conversation's `(conversation_id, seq)` unique and "
        f"contiguous, its last `end` at billing with depth 1: {'yes' if not report.problems else 'NO'}.",
        f"- Wall time {report.wall_s:.1f} s.",
        f"- Verdict: {'PASS' if report.ok else 'FAIL'}.",
    ]
    lines += [f"  - {p}" for p in report.problems[:10]]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
