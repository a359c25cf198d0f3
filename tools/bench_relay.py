"""The relay against the floor: a raw Python websocket forwarder, ``switchboard serve``, and the direct path.

All in one run, plain text turns against the embedded emulator, compression off everywhere:

1. Latency at one connection: a raw client straight to the emulator (direct), through a minimal
   ``websockets`` proxy that forwards frames unchanged (the floor), and through ``serve``, each proxy a
   process of its own, as deployed (the client and the emulator share this one). The paths take turns in
   rounds, so a burst of load on a shared machine hits all of them. Target: ``serve``'s added p50 over
   direct <= 1.3x the forwarder's. The same two proxies also run inside this process's event loop, where
   every CPU cycle of the proxy is on the turn's critical path: that ratio is shown, without a target.
2. Throughput: the forwarder and ``serve`` in their processes, ~10 concurrent conversations through each;
   forwarded events (both directions) per CPU-second of that process (``/proc/PID/stat``).
   Target for ``serve``: >= 9,000.
3. Memory per live session: N idle conversations held open through a relay subprocess; the growth of
   its traced heap (``tracemalloc``) and of its RSS, per session. Target: <= 100 KiB.

    python tools/bench_relay.py [--turns 300] [--conversations 10] [--seconds 5] [--sessions 200] [--write]

Exits 1 when a target fails.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import Any

from benchlib import (
    Target,
    cpu_seconds,
    failed,
    machine_line,
    percentiles,
    table,
    targets_table,
    write_section,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from engine.compile.pipeline import CompiledFlow, compile_document
from engine.emulator.script import Script
from engine.emulator.server import Emulator
from engine.flow.loader import parse_flow
from engine.runtime.limits import RelayLimits, raise_open_files_limit
from engine.runtime.relay import Relay
from engine.session.audit import CountingSink

FLOW = """
[flow]
name = "plain"
entry = "ping"
recovery = "ping"

[agents.ping]
instructions = "Answer briefly."
terminal = true
"""

SCRIPT = """
[[rule]]
say = "Hello, how can I help?"
"""

ITEM = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
SAY = json.dumps({"type": "conversation.item.create", "item": ITEM})
CREATE = json.dumps({"type": "response.create"})

LATENCY_RATIO, EVENTS_PER_CPU_S, KIB_PER_SESSION = 1.3, 9000.0, 100.0


def compiled_flow() -> CompiledFlow:
    return compile_document(parse_flow(FLOW, "plain.toml"))


class Forwarder:
    """The floor: per client connection, one upstream connection; frames go both ways unchanged."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.url = ""
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Forwarder:
        server = await self._stack.enter_async_context(
            serve(self._handle, "127.0.0.1", 0, compression=None, max_size=None)
        )
        port = server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/v1/realtime"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def _handle(self, client: ServerConnection) -> None:
        async with connect(self.upstream, compression=None, max_size=None) as upstream:
            await asyncio.wait(
                [asyncio.create_task(_pipe(client, upstream)), asyncio.create_task(_pipe(upstream, client))],
                return_when=asyncio.FIRST_COMPLETED,
            )


async def _pipe(
    source: ServerConnection | ClientConnection, sink: ServerConnection | ClientConnection
) -> None:
    try:
        async for frame in source:
            await sink.send(frame)
    except ConnectionClosed:
        pass


# -- 1. latency ------------------------------------------------------------------------------------------


async def turns(ws: ClientConnection, count: int) -> tuple[list[float], int]:
    """Seconds from sending a user message (and ``response.create``) to its ``response.done``, and the
    events received."""
    samples, events = [], 0
    for _ in range(count):
        start = time.perf_counter()
        await ws.send(SAY)
        await ws.send(CREATE)
        while True:
            events += 1
            if json.loads(await ws.recv())["type"] == "response.done":
                break
        samples.append(time.perf_counter() - start)
    return samples, events


CALL_TURNS = 20
"""Turns of a call in the latency runs (a phone call's length, its snapshot a few KiB)."""


async def call_turns(url: str, count: int) -> list[float]:
    """``count`` turns as calls of :data:`CALL_TURNS`: each a fresh connection, its first turn (the
    session's setup) not measured."""
    samples: list[float] = []
    while len(samples) < count:
        async with connect(url, compression=None) as ws:
            await turns(ws, 1)
            samples += (await turns(ws, min(CALL_TURNS, count - len(samples))))[0]
    return samples


async def bench_latency(
    turns_each: int, rounds: int
) -> tuple[dict[str, list[float]], list[dict[str, list[float]]], dict[str, list[float]]]:
    """Plain turns over every path, the paths taking turns call by call (after warm-up turns on each):
    direct, the forwarder and ``serve`` in processes of their own, and the forwarder and ``Relay`` in this
    event loop; first as calls of :data:`CALL_TURNS` turns over ``rounds`` rounds, each with a fresh
    forwarder and ``serve`` process (on this VM how fast a process turns out varies from one process to the
    next, more than the relay's own cost: pooled, the rounds sample that), then as one long call per
    path (``serve`` also with ``--store memory:``, to show what its SQLite store costs when a snapshot
    grows). Returns every call turn by path, each round's, and the long calls'."""
    calls_each = max(1, turns_each // rounds // CALL_TURNS)
    async with Emulator(Script.parse(SCRIPT, "bench")) as emulator, AsyncExitStack() as stack:
        local_forwarder = await stack.enter_async_context(Forwarder(emulator.url))
        local_relay = Relay(
            compiled_flow(),
            emulator.url,
            audit=CountingSink(),
            compression=None,
            upstream_compression=None,
            gate=None,
        )
        await stack.enter_async_context(local_relay)
        steady = {
            "direct": emulator.url,
            "forwarder in-loop": local_forwarder.url,
            "relay in-loop": local_relay.url,
        }
        for url in steady.values():
            await call_turns(url, 3)  # warm-up: lazy imports, first-use caches
        per_round: list[dict[str, list[float]]] = []
        for number in range(rounds):
            print(f"… latency round {number + 1} of {rounds}", file=sys.stderr, flush=True)
            async with AsyncExitStack() as processes:
                forwarder = await Child.start("forwarder", emulator.url)
                processes.push_async_callback(forwarder.stop)
                relay_process = await ServeProcess.start(emulator.url)
                processes.push_async_callback(relay_process.stop)
                urls = {"direct": emulator.url, "forwarder": forwarder.url, "serve": relay_process.url}
                urls |= {name: url for name, url in steady.items() if name != "direct"}
                for name in ("forwarder", "serve"):
                    await call_turns(urls[name], 3)
                samples: dict[str, list[float]] = {name: [] for name in urls}
                for _ in range(calls_each):
                    for name, url in urls.items():
                        gc.collect()
                        samples[name] += await call_turns(url, CALL_TURNS)
                per_round.append(samples)
        calls = {name: [t for r in per_round for t in r[name]] for name in per_round[0]}
        forwarder = await Child.start("forwarder", emulator.url)
        stack.push_async_callback(forwarder.stop)
        relay_process = await ServeProcess.start(emulator.url)
        stack.push_async_callback(relay_process.stop)
        in_memory = await ServeProcess.start(emulator.url, ["--store", "memory:"])
        stack.push_async_callback(in_memory.stop)
        long_urls = {
            "direct": emulator.url,
            "forwarder": forwarder.url,
            "serve": relay_process.url,
            "serve --store memory:": in_memory.url,
        }
        sockets = {
            name: await stack.enter_async_context(connect(url, compression=None))
            for name, url in long_urls.items()
        }
        long: dict[str, list[float]] = {name: [] for name in sockets}
        for ws in sockets.values():
            await turns(ws, 3)
        per_round_long = max(1, turns_each // 10)
        for _ in range(10):
            for name, ws in sockets.items():
                gc.collect()
                long[name] += (await turns(ws, per_round_long))[0]
    return calls, per_round, long


# -- 2. and 3. the proxy in a subprocess of its own --------------------------------------------------------


async def serve_child(kind: str, upstream: str) -> None:
    """The subprocess: run ``kind`` (relay or forwarder) towards ``upstream``, print its URL, then answer
    commands on stdin: ``trace`` (start tracemalloc), ``mem`` (traced bytes,
    RSS bytes, live conversations)."""
    raise_open_files_limit()
    loop = asyncio.get_running_loop()
    async with AsyncExitStack() as stack:
        if kind == "relay":
            limits = RelayLimits(max_conversations=100_000, idle_timeout_s=None)
            relay = Relay(
                compiled_flow(),
                upstream,
                audit=CountingSink(),
                compression=None,
                upstream_compression=None,
                gate=None,
                limits=limits,
            )
            proxy: Relay | Forwarder = await stack.enter_async_context(relay)
        else:
            proxy = await stack.enter_async_context(Forwarder(upstream))
        print(proxy.url, flush=True)
        while command := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            if command == "trace":
                gc.collect()
                tracemalloc.start()
                reply: Any = [tracemalloc.get_traced_memory()[0], rss()]
            elif command == "mem":
                gc.collect()
                live = len(proxy.active) if isinstance(proxy, Relay) else 0
                reply = [tracemalloc.get_traced_memory()[0], rss(), live]
            else:
                reply = f"unknown command {command!r}"
            print(json.dumps(reply), flush=True)


def rss() -> int:
    """This process's resident set, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Child:
    """A proxy subprocess and its command line (stdin/stdout)."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process, self.url = process, url

    @classmethod
    async def start(cls, kind: str, upstream: str) -> Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve",
            kind,
            "--upstream",
            upstream,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        )
        assert process.stdout is not None
        url = (await process.stdout.readline()).decode().strip()
        if not url.startswith("ws://"):
            raise RuntimeError(f"the {kind} subprocess did not start (said {url!r})")
        return cls(process, url)

    async def ask(self, command: str) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()
        return json.loads(await self.process.stdout.readline())

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()


class ServeProcess:
    """``switchboard serve`` for the benchmark's flow, towards ``upstream``, as users run it (its default
    SQLite store, in a temporary state directory), without client authentication (a loopback bind)."""

    def __init__(
        self, process: asyncio.subprocess.Process, url: str, state: tempfile.TemporaryDirectory[str]
    ) -> None:
        self.process, self.url, self._state = process, url, state

    @classmethod
    async def start(cls, upstream: str, extra: list[str] | None = None) -> ServeProcess:
        state = tempfile.TemporaryDirectory(prefix="bench-relay-")
        flow = Path(state.name) / "plain.toml"
        flow.write_text(FLOW, encoding="utf-8")
        root = Path(__file__).resolve().parent.parent
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "engine.cli",
            "serve",
            str(flow),
            "--upstream",
            upstream,
            "--no-auth",
            "--port",
            "0",
            "--max-conversations",
            "100000",
            "--idle-timeout-s",
            "0",
            *(extra or []),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(root), "XDG_STATE_HOME": state.name, "COLUMNS": "200"},
        )
        assert process.stdout is not None
        while line := (await process.stdout.readline()).decode():
            if line.startswith("clients connect to "):
                return cls(process, line.split()[3], state)
        raise RuntimeError("switchboard serve did not start")

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    async def stop(self) -> None:
        self.process.terminate()
        await self.process.wait()
        self._state.cleanup()


async def bench_throughput(upstream: str, kind: str, conversations: int, seconds: float) -> dict[str, float]:
    """Forwarded events (client -> upstream and back) per CPU-second of the ``kind`` (``forwarder`` or
    ``serve``) subprocess."""
    child = await (ServeProcess.start(upstream) if kind == "serve" else Child.start(kind, upstream))
    try:
        sockets = [await connect(child.url, compression=None) for _ in range(conversations)]
        for ws in sockets:
            await turns(ws, 3)  # warm-up
        stop = time.perf_counter() + seconds
        counted = [0] * conversations

        async def drive(i: int, ws: ClientConnection) -> None:
            while time.perf_counter() < stop:
                _, received = await turns(ws, 5)
                counted[i] += received + 10  # 2 events sent per turn
            await ws.close()

        cpu0, wall0 = child.cpu(), time.perf_counter()
        await asyncio.gather(*(drive(i, ws) for i, ws in enumerate(sockets)))
        cpu, wall = child.cpu() - cpu0, time.perf_counter() - wall0
    finally:
        await child.stop()
    events = sum(counted)
    return {"events": events, "cpu_s": cpu, "wall_s": wall, "per_cpu_s": events / cpu, "busy": cpu / wall}


async def bench_memory(upstream: str, sessions: int) -> dict[str, float]:
    """Traced-heap and RSS growth of the relay subprocess per live, idle session (``sessions`` of them)."""
    child = await Child.start("relay", upstream)
    try:
        warm = await connect(child.url, compression=None)
        await turns(warm, 3)  # imports and caches before the baseline
        await warm.close()
        while (await child.ask("mem"))[2]:  # the warm-up conversation has ended
            pass
        traced0, rss0 = await child.ask("trace")
        sockets: list[ClientConnection] = []
        for _ in range(sessions):
            ws = await connect(child.url, compression=None)
            while json.loads(await ws.recv())["type"] != "session.updated":  # the entry agent is configured
                pass
            sockets.append(ws)
        traced, rss1, live = await child.ask("mem")
        assert live == sessions, (live, sessions)
        for ws in sockets:
            await ws.close()
    finally:
        await child.stop()
    return {"traced_kib": (traced - traced0) / sessions / 1024, "rss_kib": (rss1 - rss0) / sessions / 1024}


async def bench_processes(conversations: int, seconds: float, sessions: int) -> dict[str, dict[str, float]]:
    async with Emulator(Script.parse(SCRIPT, "bench")) as emulator:
        return {
            "forwarder": await bench_throughput(emulator.url, "forwarder", conversations, seconds),
            "serve": await bench_throughput(emulator.url, "serve", conversations, seconds),
            "memory": await bench_memory(emulator.url, sessions),
        }


# -- report ---------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=480, help="latency turns per path")
    parser.add_argument(
        "--rounds", type=int, default=8, help="latency rounds, each with fresh proxy processes"
    )
    parser.add_argument("--conversations", type=int, default=10, help="concurrent conversations (throughput)")
    parser.add_argument("--seconds", type=float, default=5.0, help="throughput run per proxy")
    parser.add_argument("--sessions", type=int, default=200, help="idle sessions held open (memory)")
    parser.add_argument(
        "--awake",
        action="store_true",
        help="keep every core busy with an idle-priority spinner (no vCPU halts: a diagnostic, not the target)",
    )
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--serve", choices=["relay", "forwarder"], help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve_child(args.serve, args.upstream))
        return
    raise_open_files_limit()
    print("… latency", file=sys.stderr, flush=True)
    with spinners(args.awake):
        calls, per_round, long = asyncio.run(bench_latency(args.turns, args.rounds))
    print("… throughput and memory", file=sys.stderr, flush=True)
    proc = asyncio.run(bench_processes(args.conversations, args.seconds, args.sessions))
    added, lat_rows = latency_rows(
        calls,
        {
            "direct": "raw client -> emulator (direct path, baseline)",
            "forwarder": "raw client -> raw websockets forwarder (its own process) -> emulator (the floor)",
            "serve": "raw client -> `switchboard serve` (its own process) -> emulator",
            "forwarder in-loop": "raw client -> raw forwarder in the client's event loop -> emulator",
            "relay in-loop": "raw client -> `Relay` in the client's event loop -> emulator",
        },
    )
    round_ratios = [round_ratio(r) for r in per_round]
    ratio = added["serve"] / added["forwarder"]
    in_loop = added["relay in-loop"] / added["forwarder in-loop"]
    long_added, long_rows = latency_rows(
        long,
        {
            "direct": "direct path (baseline)",
            "forwarder": "raw forwarder (the floor)",
            "serve": "`switchboard serve` (SQLite store, the default)",
            "serve --store memory:": "`switchboard serve --store memory:`",
        },
    )
    long_ratio = long_added["serve"] / long_added["forwarder"]
    memory_ratio = long_added["serve --store memory:"] / long_added["forwarder"]
    thr_rows = [
        [
            name,
            f"{r['events']:,.0f}",
            f"{r['cpu_s']:.2f}",
            f"{r['busy']:.0%}",
            f"{r['per_cpu_s']:,.0f}",
        ]
        for name, r in (("raw forwarder", proc["forwarder"]), ("`switchboard serve`", proc["serve"]))
    ]
    mem = proc["memory"]
    targets = [
        Target(
            f"`serve` added p50 / forwarder added p50, one connection, {CALL_TURNS}-turn calls "
            f"({len(per_round)} rounds pooled)",
            ratio,
            LATENCY_RATIO,
            "x",
        ),
        Target(
            "forwarded events per CPU-second (`serve` process)",
            proc["serve"]["per_cpu_s"],
            EVENTS_PER_CPU_S,
            "",
            at_least=True,
            number=",.0f",
        ),
        Target(
            "traced heap per live idle session (relay process)", mem["traced_kib"], KIB_PER_SESSION, " KiB"
        ),
    ]
    body = "\n".join(
        [
            "## Relay against the floor (`tools/bench_relay.py`)",
            "",
            f"{machine_line()}. Plain text turns against the embedded emulator, permessage-deflate off on every",
            f"hop. Latency: {len(calls['direct'])} turns per path at one connection, as calls of {CALL_TURNS} turns "
            "(a fresh",
            "connection each, its first turn not measured), the paths taking turns call by call; `serve` as",
            "users run it (its default SQLite store; `--no-auth` on loopback), the forwarder and `serve` each in",
            f"a process of their own, the client and the emulator in the benchmark's; {len(per_round)} rounds, "
            "each with a fresh",
            "forwarder and `serve` process"
            + (
                " (`--awake`: an idle-priority spinner on every core, so no vCPU halts)."
                if args.awake
                else "."
            ),
            f"Throughput: {args.conversations} concurrent conversations for {args.seconds:g} s through each of",
            "those two processes; events counted both ways, CPU from `/proc/PID/stat`. Memory: "
            f"{args.sessions} idle sessions",
            "held open through a `Relay` subprocess (each configured: `session.updated` seen).",
            "",
            table(["path (plain text turn)", "p50 ms", "p99 ms", "added p50 ms", "added p99 ms"], lat_rows),
            "",
            "On this VM how fast a proxy process turns out varies from one process to the next more than the",
            "relay's own cost (a process that sleeps between frames pays the hypervisor's wake-up each time):",
            "the rounds' ratios of `serve`'s added p50 to the forwarder's were "
            + ", ".join(f"{r:.2f}x" for r in round_ratios)
            + f" (their median: {statistics.median(round_ratios):.2f}x); the target pools every round's turns: "
            f"{ratio:.2f}x.",
            "",
            "In one event loop with the client and the emulator, every CPU cycle of the proxy is on the",
            f"turn's critical path: there the relay adds {in_loop:.2f}x the forwarder's p50 (no target; the",
            "throughput table gives the same cost per event).",
            "",
            f"One long call per path instead ({args.turns + 3} turns on one connection): `serve` adds "
            f"{long_ratio:.2f}x the forwarder's p50, with",
            f"`--store memory:` {memory_ratio:.2f}x. The difference is SQLite rewriting the call's whole snapshot "
            "once a turn (it grows",
            "with the call: ~0.15 ms a turn at 300 turns).",
            "",
            table(["path, one long call", "p50 ms", "p99 ms", "added p50 ms", "added p99 ms"], long_rows),
            "",
            table(["proxy process", "events", "CPU s", "CPU busy", "events / CPU-s"], thr_rows),
            "",
            f"Per live idle session in the relay process: {mem['traced_kib']:.1f} KiB traced heap "
            f"(`tracemalloc`), {mem['rss_kib']:.1f} KiB RSS.",
            "",
            targets_table(targets),
        ]
    )
    print(body)
    if args.write:
        write_section("relay", body)
    sys.exit(1 if failed(targets) else 0)


@contextmanager
def spinners(on: bool) -> Iterator[None]:
    """With ``on``, one busy loop per core at ``SCHED_IDLE`` (it runs only when nothing else would): the
    cores never halt, so a process woken by a frame skips the hypervisor's wake-up of its vCPU."""
    children: list[subprocess.Popen[bytes]] = []
    if on:
        for cpu in sorted(os.sched_getaffinity(0)):
            child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            os.sched_setaffinity(child.pid, {cpu})
            os.sched_setscheduler(child.pid, os.SCHED_IDLE, os.sched_param(0))
            children.append(child)
    try:
        yield
    finally:
        for child in children:
            child.kill()
            child.wait()


def round_ratio(samples: dict[str, list[float]]) -> float:
    """One round's ``serve`` added p50 over the forwarder's."""
    direct = statistics.median(samples["direct"])
    return (statistics.median(samples["serve"]) - direct) / (statistics.median(samples["forwarder"]) - direct)


def latency_rows(
    samples: dict[str, list[float]], labels: dict[str, str]
) -> tuple[dict[str, float], list[list[str]]]:
    """Each path's added p50 over ``direct`` (seconds), and its table rows (p50, p99, added p50, added p99)."""
    p = {name: percentiles(samples[name], 50, 99) for name in labels}
    d50, d99 = p["direct"]
    rows = [
        [label, ms(p[name][0]), ms(p[name][1]), ms(p[name][0] - d50), ms(p[name][1] - d99)]
        for name, label in labels.items()
    ]
    return {name: p50 - d50 for name, (p50, _) in p.items()}, rows


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
