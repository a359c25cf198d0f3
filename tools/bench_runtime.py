"""Runtime overhead: the session core's handoff and escalation paths, and whole turns over loopback sockets.

1. Core handoff: a ``response.function_call_arguments.done`` for ``transfer_to_*`` in, ``session.update`` out
   (validate, fire the transition, apply the contract, build the config, audit). Baseline in the same run: a
   bare python-statemachine transition on the same compiled machine. Next to it, a ``history = "reset"``
   handoff over four earlier items: the call in -> four ``conversation.item.delete`` out, then the four
   ``conversation.item.deleted`` in -> ``session.update`` out (the core's time for all of it).
2. Core escalation: the escalation tool call in -> the supervisor request out; the supervisor answer in ->
   ``function_call_output`` out. Same baseline.
3. Loopback: whole user turns through the embedded emulator over a real websocket — a turn whose reply is a
   handoff (``keep``, and ``reset`` with its deletions), against a plain text turn (the baseline) in the same
   run.
4. Relay pass-through: plain text turns from a raw websocket client straight to the emulator (the direct path,
   the baseline) and through the relay (``switchboard serve``'s ``Relay``), with permessage-deflate off on both
   hops (the default) and on, all in the same run.

    python tools/bench_runtime.py [--n 20000] [--turns 200] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from pathlib import Path

from bench_relay import FLOW as PLAIN_FLOW
from benchlib import machine_line, percentiles, table, write_section

from engine.compile.pipeline import CompiledFlow, compile_document
from engine.emulator.script import Script
from engine.emulator.server import Emulator
from engine.flow.loader import parse_flow
from engine.flow.model import ESCALATION_TOOL
from engine.runtime.client import RealtimeClient
from engine.runtime.conversation import Conversation, UserTurn
from engine.runtime.relay import Relay
from engine.runtime.tools import ToolRegistry
from engine.session import MemorySink, Session
from engine.session.actions import Escalate, Send, Transcript
from engine.session.audit import CountingSink

FLOW = """
[flow]
name = "pingpong"
entry = "ping"
recovery = "help"
max_handoff_depth = 1000
max_tool_calls_per_turn = 1000
[agents.ping]
instructions = "You are ping."
handoffs = ["pong"]
[agents.pong]
instructions = "You are pong."
handoffs = ["ping"]
[agents.help]
terminal = true
[[handoff]]
from = "ping"
to = "pong"
when = "the user says pong"
[supervisor]
script = "unused.toml"
front = ["ping", "pong"]
max_escalations = 10000
"""

SCRIPT = """
[[rule]]
agent = "ping"
user = "switch"
call = "transfer_to_pong"
arguments = { reason = "asked to switch" }
[[rule]]
agent = "pong"
user = "switch"
call = "transfer_to_ping"
arguments = { reason = "asked to switch" }
[[rule]]
after = "transfer_to_pong"
say = "Hello, how can I help?"
[[rule]]
after = "transfer_to_ping"
say = "Hello, how can I help?"
[[rule]]
user = "hello"
say = "Hello, how can I help?"
"""


def _call(name: str, arguments: dict[str, str], call_id: str) -> dict[str, object]:
    return {
        "type": "response.function_call_arguments.done",
        "event_id": "e",
        "response_id": "r",
        "item_id": "i",
        "output_index": 0,
        "call_id": call_id,
        "name": name,
        "arguments": json.dumps(arguments),
    }


RESPONSE_DONE = {"type": "response.done", "event_id": "e", "response": {"id": "r", "status": "completed"}}


RESET_ITEMS = 4
"""Earlier conversation items each ``reset`` handoff of the core benchmark deletes."""


def _added(item_id: str) -> dict[str, object]:
    item = {
        "id": item_id,
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "hi"}],
    }
    return {"type": "conversation.item.added", "event_id": "e", "previous_item_id": None, "item": item}


def bench_reset(compiled: CompiledFlow, n: int) -> list[float]:
    """The core's time for a ``reset`` handoff: the call in, then every deletion confirmed."""
    clock = itertools.count().__next__
    samples = []
    session = Session(compiled, "bench", clock=lambda: float(clock()))
    for i in range(n):
        if session.depth >= 990:
            session = Session(compiled, "bench", clock=lambda: float(clock()))
        for j in range(RESET_ITEMS):  # the turns before the handoff (not timed)
            session.receive(_added(f"i{i}-{j}"))
        target = "pong" if session.agent == "ping" else "ping"
        event = _call(f"transfer_to_{target}", {"reason": "bench"}, f"c{i}")
        start = time.perf_counter()
        actions = session.receive(event)
        took = time.perf_counter() - start
        deletes = [a.event["item_id"] for a in actions if isinstance(a, Send)]
        assert len(deletes) == RESET_ITEMS, deletes
        for item_id in deletes:
            confirmed = {"type": "conversation.item.deleted", "event_id": "e", "item_id": item_id}
            start = time.perf_counter()
            session.receive(confirmed)
            took += time.perf_counter() - start
        samples.append(took)
        assert session.agent == target
        session.receive(RESPONSE_DONE)
    return samples


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


def bench_core(compiled: CompiledFlow, n: int) -> dict[str, list[float]]:
    clock = itertools.count().__next__
    bare, handoff, esc_out, esc_in = [], [], [], []
    machine = compiled.machine()
    for i in range(n):  # baseline: the bare library transition
        event = "transfer_to_pong" if i % 2 == 0 else "transfer_to_ping"
        start = time.perf_counter()
        machine.send(event)
        bare.append(time.perf_counter() - start)
    session = Session(compiled, "bench", clock=lambda: float(clock()))
    for i in range(n):
        if session.depth >= 990 or session.status().tool_calls_left == 0:  # no user turns here
            session = Session(compiled, "bench", clock=lambda: float(clock()))
        target = "pong" if session.agent == "ping" else "ping"
        event = _call(f"transfer_to_{target}", {"reason": "bench"}, f"c{i}")
        start = time.perf_counter()
        actions = session.receive(event)
        handoff.append(time.perf_counter() - start)
        assert session.agent == target and actions
        session.receive(RESPONSE_DONE)  # the response the step asked for is over
    for i in range(n):
        if session.status().escalations_left == 0 or session.status().tool_calls_left == 0:
            session = Session(compiled, "bench", clock=lambda: float(clock()))
        event = _call(ESCALATION_TOOL, {"relevantContextFromLastUserMessage": "hard question"}, f"e{i}")
        start = time.perf_counter()
        actions = session.receive(event)
        esc_out.append(time.perf_counter() - start)
        (escalate,) = [a for a in actions if isinstance(a, Escalate)]
        start = time.perf_counter()
        session.supervisor_result(escalate.request.escalation_id, "the supervisor's answer", tool_rounds=1)
        esc_in.append(time.perf_counter() - start)
        session.receive(RESPONSE_DONE)  # the response the step asked for is over
    return {"bare": bare, "handoff": handoff, "escalate": esc_out, "resolve": esc_in}


async def bench_loopback(
    compiled: CompiledFlow, turns: int, reset: CompiledFlow | None = None
) -> dict[str, list[float]]:
    """Time from each user turn to the assistant's reply (after the handoff, for a switching turn); with
    ``reset``, a second conversation on that flow gives the ``reset`` handoff turns."""
    script = Script.parse(SCRIPT, "bench")
    samples: dict[str, list[float]] = {"plain": [], "handoff": []}
    said: list[tuple[str, float]] = []
    replied: list[Transcript] = []

    def on_action(action: object) -> None:
        if isinstance(action, Transcript) and action.kind == "user":
            said.append(("handoff" if "switch" in action.text else "plain", time.perf_counter()))
        elif isinstance(action, Transcript) and action.kind == "assistant" and said:
            replied.append(action)
            kind, start = said.pop()
            samples[kind].append(time.perf_counter() - start)

    # the first turn pays one-off costs (the emulator imports the openai types lazily): a warm-up, not a sample
    texts = ["hello"] + ["please switch" if i % 2 else "hello" for i in range(turns)]
    async with Emulator(script) as emulator, RealtimeClient.connect(emulator.url, api_key="bench") as client:
        session = Session(compiled, "loop", clock=time.time)
        conversation = Conversation(session, client, ToolRegistry(), MemorySink(), on_action)
        await conversation.run_turns([UserTurn(t) for t in texts])
    samples["plain"].pop(0)
    if reset is not None:
        keep, first = samples["handoff"], len(samples["plain"])
        samples["handoff"] = []
        async with Emulator(script) as emulator, RealtimeClient.connect(emulator.url, api_key="b") as client:
            session = Session(reset, "loop-reset", clock=time.time)
            conversation = Conversation(session, client, ToolRegistry(), MemorySink(), on_action)
            await conversation.run_turns([UserTurn(t) for t in texts])
        samples["reset"], samples["handoff"] = samples["handoff"], keep
        samples["plain"].pop(first)  # the second conversation's warm-up turn
    replies = {a.text for a in replied}
    assert replies == {"Hello, how can I help?"}, f"the emulator script did not match: {replies}"
    return samples


async def _plain_turns(url: str, turns: int, compression: str | None) -> list[float]:
    """Seconds from sending a user message (and ``response.create``) to its ``response.done``."""
    from websockets.asyncio.client import connect

    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
    say = json.dumps({"type": "conversation.item.create", "item": item})
    create = json.dumps({"type": "response.create"})
    samples = []
    async with connect(url, compression=compression) as ws:
        for _ in range(turns + 1):
            start = time.perf_counter()
            await ws.send(say)
            await ws.send(create)
            while json.loads(await ws.recv())["type"] != "response.done":
                pass
            samples.append(time.perf_counter() - start)
    return samples[1:]  # the first turn is a warm-up


async def bench_relay(compiled: CompiledFlow, turns: int) -> dict[str, list[float]]:
    """Plain turns direct to the emulator and through the relay, compression off and on."""
    script = Script.parse(SCRIPT, "bench")
    samples: dict[str, list[float]] = {}
    async with Emulator(script) as emulator:
        samples["direct"] = await _plain_turns(emulator.url, turns, None)
        for name, compression in (("relay", None), ("relay+deflate", "deflate")):
            relay = Relay(
                compiled,
                emulator.url,
                audit=CountingSink(),
                compression=compression,
                upstream_compression=compression,
            )
            async with relay:
                samples[name] = await _plain_turns(relay.url, turns, compression)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="core iterations")
    parser.add_argument("--turns", type=int, default=200, help="loopback turns")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    compiled = compile_document(parse_flow(FLOW, "pingpong.toml"))
    reset = compile_document(
        parse_flow(FLOW.replace("[flow]\n", '[flow]\nhistory = "reset"\n'), "reset.toml")
    )
    print("… core", file=sys.stderr, flush=True)
    core = bench_core(compiled, args.n)
    core["reset"] = bench_reset(reset, args.n)
    print("… loopback", file=sys.stderr, flush=True)
    loop = asyncio.run(bench_loopback(compiled, args.turns, reset))
    print("… relay", file=sys.stderr, flush=True)
    relayed = asyncio.run(bench_relay(compile_document(parse_flow(PLAIN_FLOW, "plain.toml")), args.turns))
    (bare50,) = percentiles(core["bare"], 50)
    rows = []
    for name, label in (
        ("bare", "bare python-statemachine transition (baseline)"),
        ("handoff", "handoff: function call in -> session.update out"),
        (
            "reset",
            f'handoff, history = "reset": call in, {RESET_ITEMS} deletions confirmed -> session.update out',
        ),
        ("escalate", "escalation: tool call in -> supervisor request out"),
        ("resolve", "escalation: answer in -> function_call_output out"),
    ):
        p50, p99 = percentiles(core[name], 50, 99)
        rows.append([label, ms(p50), ms(p99), f"{p50 / bare50:.1f}x"])
    (plain50,) = percentiles(loop["plain"], 50)
    loop_rows = []
    for name, label in (
        ("plain", "text turn, no handoff (baseline)"),
        ("handoff", "turn with a handoff (transfer, session.update, new agent's reply)"),
        ("reset", 'turn with a history = "reset" handoff (deletions confirmed first)'),
    ):
        p50, p99 = percentiles(loop[name], 50, 99)
        loop_rows.append([label, ms(p50), ms(p99), f"{p50 / plain50:.2f}x"])
    (direct50,) = percentiles(relayed["direct"], 50)
    relay_rows = []
    for name, label in (
        ("direct", "raw client -> emulator (direct path, baseline)"),
        ("relay", "raw client -> relay -> emulator, compression off (default)"),
        ("relay+deflate", "raw client -> relay -> emulator, permessage-deflate on both hops"),
    ):
        p50, p99 = percentiles(relayed[name], 50, 99)
        relay_rows.append([label, ms(p50), ms(p99), f"{p50 / direct50:.2f}x", ms(p50 - direct50)])
    body = "\n".join(
        [
            "## Runtime overhead (`tools/bench_runtime.py`)",
            "",
            f"{machine_line()}. Core: {args.n:,} iterations each; loopback: {args.turns} turns over a real websocket",
            "to the embedded emulator. Target: core handoff overhead p50 <= 0.5 ms.",
            "",
            table(["session core", "p50 ms", "p99 ms", "p50 vs baseline"], rows),
            "",
            table(["loopback (client + core + emulator)", "p50 ms", "p99 ms", "p50 vs baseline"], loop_rows),
            "",
            table(
                ["relay pass-through (plain text turn)", "p50 ms", "p99 ms", "p50 vs direct", "added ms"],
                relay_rows,
            ),
        ]
    )
    print(body)
    if args.write:
        write_section("runtime", body)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
