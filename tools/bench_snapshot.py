"""Benchmark session snapshots: size and cost of `Session.snapshot()` / `Session.restore()` after the retail
script, next to creating a new session (the baseline) in the same run; the write cost of each store (a
snapshot alone, and a handoff's record with its snapshot in one commit) next to one turn of the retail
script; and the resume time through the relay (reconnect to the first agent reply) next to a fresh
conversation's start (connect to the first reply).

    python tools/bench_snapshot.py [--n 2000] [--writes 500] [--resumes 100] [--write]

Starts its own ``redis-server`` on a free port (Debian package ``redis-server``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchlib import best_of, machine_line, table, write_section  # noqa: E402
from fault_resume import start_redis  # noqa: E402

from engine.flowtest.case import load_case  # noqa: E402
from engine.runtime.runner import RunOptions, new_session, run_conversation  # noqa: E402
from engine.session import Session  # noqa: E402
from engine.session.audit import AuditRecord, CountingSink  # noqa: E402
from engine.store import open_store  # noqa: E402


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="repetitions per measurement")
    parser.add_argument("--writes", type=int, default=500, help="store writes per measurement")
    parser.add_argument("--resumes", type=int, default=100, help="fresh starts and resumes through the relay")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    case = load_case(ROOT / "flows" / "scripts" / "retail.toml")
    options = RunOptions()
    for _ in range(2):  # the first run pays the lazy imports; the second is timed
        session = new_session(case.compiled, options)
        began = time.perf_counter()
        asyncio.run(
            run_conversation(
                case.compiled, case.script, CountingSink(), options, on_action=lambda _: None, session=session
            )
        )
        per_turn = (time.perf_counter() - began) / len(case.script.turns)
    text = json.dumps(session.snapshot())

    def each(fn: object) -> float:
        assert callable(fn)
        return best_of(lambda: [fn() for _ in range(args.n)]) / args.n

    fresh = each(lambda: new_session(case.compiled, options))
    take = each(lambda: json.dumps(session.snapshot()))
    back = each(lambda: Session.restore(case.compiled, json.loads(text), clock=time.time))
    take_json = each(session.snapshot_json)
    long_call = talked(new_session(case.compiled, options), LONG_TURNS)
    long_dumps = each(lambda: json.dumps(long_call.snapshot()))
    long_json = each(long_call.snapshot_json)
    rows = [
        ["a new session (baseline)", us(fresh), "1.00x"],
        ["`snapshot()` + `json.dumps`", us(take), f"{take / fresh:.2f}x"],
        ["`snapshot_json()` (what the relay stores)", us(take_json), f"{take_json / fresh:.2f}x"],
        ["`json.loads` + `Session.restore()`", us(back), f"{back / fresh:.2f}x"],
        [
            f"a {LONG_TURNS}-turn call: `snapshot()` + `json.dumps`",
            us(long_dumps),
            f"{long_dumps / fresh:.2f}x",
        ],
        [f"a {LONG_TURNS}-turn call: `snapshot_json()`", us(long_json), f"{long_json / fresh:.2f}x"],
    ]
    body = "\n".join(
        [
            "## Session snapshots (`tools/bench_snapshot.py`)",
            "",
            f"{machine_line()}. After the 8-turn retail script (6 handoffs, {len(session.item_ids())} items): "
            f"a snapshot is {len(text):,} bytes of JSON. A {LONG_TURNS}-turn call (plain turns, "
            f"{len(long_call.item_ids())} items): {len(long_call.snapshot_json()):,} bytes. "
            f"Best of 3 runs of {args.n:,}.",
            "",
            table(["operation", "µs", "vs a new session"], rows),
        ]
    )
    with tempfile.TemporaryDirectory() as tmp:
        redis_server, redis_url = start_redis(Path(tmp))
        try:
            stores = {
                "memory": "memory:",
                "SQLite (WAL, one file)": f"sqlite:{Path(tmp) / 'bench.db'}",
                "Redis (loopback)": f"{redis_url}?prefix=bench:",
            }
            writes = asyncio.run(store_costs(stores, text, args.writes))
            fresh_s, resume_s = asyncio.run(resume_times(f"sqlite:{Path(tmp) / 'resume.db'}", args.resumes))
        finally:
            redis_server.terminate()
            redis_server.wait()
    store_rows = [
        [name, us(save), "-" if commit is None else us(commit), f"{((commit or save) + take) / per_turn:.1%}"]
        for name, (save, commit) in writes.items()
    ]
    body += "\n".join(
        [
            "",
            "",
            f"Store writes, mean of {args.writes:,} on one connection, next to one turn of the retail script run "
            f"through the runtime and the emulator in this run ({per_turn * 1e3:.2f} ms a turn). A handoff commits "
            "its audit record with the snapshot (`--store URL --audit URL`).",
            "",
            table(
                ["store", "save a snapshot µs", "commit a handoff µs", "snapshot() + commit, of a turn"],
                store_rows,
            ),
            "",
            f"Through the relay (SQLite store, embedded emulator), p50 of {args.resumes}: a fresh conversation, "
            f"connect to the first reply, {fresh_s * 1e3:.2f} ms; a resume (reconnect with `?conversation_id=`, "
            f"the snapshot loaded, the agent reconfigured, the messages re-created) to the first reply, "
            f"{resume_s * 1e3:.2f} ms: {resume_s / fresh_s:.2f}x.",
        ]
    )
    print(body)
    if args.write:
        write_section("snapshot", body)


LONG_TURNS = 300
"""Turns of the long call: its history and items are what grows in a snapshot."""


def talked(session: Session, turns: int) -> Session:
    """``session`` after ``turns`` plain turns (a user item, a response, an assistant item each)."""
    session.start()
    for n in range(turns):
        said = f"question number {n}: what about my order?"
        session.user_text(said)
        for item_id, role, text in ((f"u{n}", "user", said), (f"a{n}", "assistant", "Here is the answer.")):
            content = [{"type": "input_text" if role == "user" else "output_text", "text": text}]
            item = {"id": item_id, "type": "message", "role": role, "content": content}
            session.receive({"type": "conversation.item.added", "event_id": "e", "item": item})
        session.receive({"type": "response.created", "event_id": "e", "response": {"id": f"r{n}"}})
        session.receive(
            {"type": "response.done", "event_id": "e", "response": {"id": f"r{n}", "status": "completed"}}
        )
    return session


async def store_costs(stores: dict[str, str], text: str, n: int) -> dict[str, tuple[float, float | None]]:
    """Mean seconds of ``save`` and (where the store has it) of ``commit`` with one handoff record, each
    as ``serve`` opens the store for it (a store that commits records holds them: SQLite keeps its fsyncs)."""
    record = AuditRecord("conv_bench", 1, 0.0, "handoff", "done", "front", "billing", "why", ("user_id",), 1)
    costs: dict[str, tuple[float, float | None]] = {}
    for name, url in stores.items():
        store: Any = open_store(url)
        try:
            await store.save("conv_warm", text)
            start = time.perf_counter()
            for i in range(n):
                await store.save(f"conv_{i % 50}", text)
            save = (time.perf_counter() - start) / n
        finally:
            await store.close()
        store = open_store(url, records=True)
        try:
            commit = None
            if hasattr(store, "commit"):
                start = time.perf_counter()
                for i in range(n):
                    await store.commit(f"conv_{i % 50}", text, [record])
                commit = (time.perf_counter() - start) / n
            costs[name] = (save, commit)
        finally:
            await store.close()
    return costs


async def resume_times(store_url: str, n: int) -> tuple[float, float]:
    """p50 seconds: connect to the first reply (fresh), and reconnect with the id to the first reply."""
    from websockets.asyncio.client import connect

    from engine.emulator.script import Script
    from engine.emulator.server import Emulator
    from engine.runtime.relay import CONVERSATION_HEADER, Relay

    compiled = load_case(ROOT / "flows" / "scripts" / "retail.toml").compiled
    say = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}

    async def first_reply(url: str) -> tuple[float, str]:
        start = time.perf_counter()
        ws = await connect(url, compression=None)
        conversation_id = ws.response.headers[CONVERSATION_HEADER] if ws.response is not None else ""
        await ws.send(json.dumps({"type": "conversation.item.create", "item": say}))
        await ws.send(json.dumps({"type": "response.create"}))
        async for frame in ws:
            if '"response.output_text.done"' in str(frame)[:60]:
                break
        took = time.perf_counter() - start
        ws.transport.abort()  # a drop: the conversation stays resumable
        return took, conversation_id

    fresh: list[float] = []
    resumed: list[float] = []
    store = open_store(store_url)
    async with Emulator(Script.parse('[[rule]]\nsay = "Hello."', "bench")) as emulator:
        async with Relay(
            compiled, emulator.url, audit=CountingSink(), store=store, compression=None
        ) as relay:
            await first_reply(relay.url)  # warm-up
            for _ in range(n):
                took, conversation_id = await first_reply(relay.url)
                fresh.append(took)
                await relay.until_ended(conversation_id)
                took, _ = await first_reply(f"{relay.url}?conversation_id={conversation_id}")
                resumed.append(took)
                await relay.until_ended(conversation_id)
    await store.close()
    return statistics.median(fresh), statistics.median(resumed)


if __name__ == "__main__":
    main()
