"""Bounded tools end to end over loopback sockets: timeouts, hung sync threads, the tool budgets and what the
model (the emulator) is told when a tool fails."""

from __future__ import annotations

import asyncio
import json
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from typing import Any

import pytest

from engine.compile.pipeline import CompiledFlow
from engine.emulator.script import Script
from engine.emulator.server import Emulator
from engine.runtime.client import RealtimeClient
from engine.runtime.conversation import Conversation
from engine.runtime.tools import ToolExecutor, ToolRegistry
from engine.session import MemorySink, Session
from engine.session.audit import AuditRecord
from tests.e2e_helpers import Recorder, converse
from tests.realtime_schema import run
from tests.session_helpers import compiled_from_text

FLOW = """
[flow]
name = "bounds"
entry = "front"
recovery = "help"

[agents.front]
tools = ["ping", "lookup", "stall", "hang", "quick", "explode"]
handoffs = ["help"]

[agents.help]
terminal = true

[tools.ping]
[tools.lookup]
parameters = { type = "object", properties = { q = { type = "string" } }, required = ["q"] }
[tools.stall]
timeout_s = 0.2
[tools.hang]
timeout_s = 60
[tools.quick]
[tools.explode]
"""

SCRIPT = """
[[rule]]
user = "loop"
call = "ping"
[[rule]]
agent = "front"
after = "ping"
call = "ping"
[[rule]]
user = "bad"
call = "lookup"
arguments = { q = 7 }
[[rule]]
agent = "front"
after = "lookup"
output = "error"
call = "lookup"
arguments = { q = 7 }
[[rule]]
user = "stall"
call = "stall"
[[rule]]
after = "stall"
output = "timed out"
say = "That took too long."
[[rule]]
user = "hang"
call = "hang"
[[rule]]
after = "hang"
output = "timed out"
say = "Still waiting, sorry."
[[rule]]
after = "hang"
output = "not available"
say = "That is not available now."
[[rule]]
after = "hang"
say = "Done waiting."
[[rule]]
user = "quick"
call = "quick"
[[rule]]
after = "quick"
output = "not available"
say = "That is not available now."
[[rule]]
after = "quick"
say = "Quick answer."
[[rule]]
user = "explode"
call = "explode"
[[rule]]
after = "explode"
say = "Sorry, that failed."
[[rule]]
agent = "help"
say = "Recovery here."
"""


class PricingServiceDown(Exception):
    pass


def ping() -> dict[str, str]:
    return {"pong": "yes"}


async def explode() -> None:
    raise PricingServiceDown("pricing service timed out after 3s")


class Stall:
    """An async tool that never answers; it notes the cancellation its timeout brings."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()

    async def __call__(self) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


class Hang:
    """A sync tool that blocks its thread until released; ``entered`` fires once ``expect`` threads are in."""

    def __init__(self, expect: int = 1) -> None:
        self.release = threading.Event()
        self.expect = expect
        self.inside = 0
        self.lock = threading.Lock()
        self.entered: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def __call__(self) -> dict[str, bool]:
        with self.lock:
            self.inside += 1
            full = self.inside == self.expect
        if full and self.entered is not None and self.loop is not None:
            self.loop.call_soon_threadsafe(self.entered.set)
        self.release.wait(60)
        return {"released": True}


@pytest.fixture(scope="module")
def bounds() -> CompiledFlow:
    return compiled_from_text(FLOW, "bounds.toml")


@pytest.fixture
def hang() -> Iterator[Hang]:
    tool = Hang()
    yield tool
    tool.release.set()  # teardown: every hung thread returns


def tool_records(sink: MemorySink, outcome: str | None = None) -> list[AuditRecord]:
    return [r for r in sink.records if r.kind == "tool" and outcome in (None, r.outcome)]


def client_events(rec: Recorder) -> list[dict[str, Any]]:
    """Every event the emulator (the model) received."""
    return [e for side, e in rec.wire if side == "client"]


def outputs(rec: Recorder) -> list[dict[str, Any]]:
    return [
        json.loads(e["item"]["output"])
        for e in client_events(rec)
        if e.get("item", {}).get("type") == "function_call_output"
    ]


def test_a_hanging_async_tool_times_out_is_cancelled_and_audited(bounds: CompiledFlow) -> None:
    stall = Stall()
    session, rec, sink = converse(bounds, SCRIPT, ["stall please"], tools=ToolRegistry({"stall": stall}))
    (record,) = tool_records(sink)
    assert record.outcome == "timed_out" and "within 0.2s; its task was cancelled" in record.reason
    assert outputs(rec) == [{"error": "the tool timed out"}]
    assert rec.transcript("assistant") == ["That took too long."]
    assert stall.cancelled.is_set()
    assert session.idle and session.agent == "front"


def test_six_hung_sync_tools_do_not_delay_a_seventh_conversation(bounds: CompiledFlow, hang: Hang) -> None:
    """Six conversations hang a sync tool each; a seventh one's tool call still answers at once. The loop's
    default executor is six threads here (what the old ``to_thread`` shared and the six would fill)."""
    hang.expect = 6
    recorder, sink = Recorder(), MemorySink()
    registry = ToolRegistry({"hang": hang, "quick": lambda: {"fast": True}})

    async def go() -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=6))
        hang.entered, hang.loop = asyncio.Event(), loop
        emulator = Emulator(Script.parse(textwrap.dedent(SCRIPT), "bounds"), on_event=recorder.on_event)
        async with emulator, AsyncExitStack() as stack:
            conversations = []
            for i in range(7):
                client = await stack.enter_async_context(RealtimeClient.connect(emulator.url, api_key="t"))
                session = Session(bounds, f"conv-{i}", clock=time.monotonic)
                conversations.append(Conversation(session, client, registry, sink))
            hung = [
                asyncio.ensure_future(c.run_turns(["hang on"], turn_timeout=30)) for c in conversations[:6]
            ]
            try:
                await asyncio.wait_for(hang.entered.wait(), 10)
                await conversations[6].run_turns(["quick please"], turn_timeout=5)
                assert not any(task.done() for task in hung)  # the six are still hung meanwhile
                assert hang.inside == 6 and not hang.release.is_set()
            finally:
                hang.release.set()
                await asyncio.gather(*hung)

    run(go(), timeout=40)
    assert recorder.invalid == []
    quick = [r for r in tool_records(sink, "ok") if r.detail["tool"] == "quick"]
    assert [r.conversation_id for r in quick] == ["conv-6"]
    hung_ok = [r for r in tool_records(sink, "ok") if r.detail["tool"] == "hang"]
    assert len(hung_ok) == 6  # released at the end, each answered


def test_past_the_hung_limit_sync_calls_are_refused_and_audited(hang: Hang) -> None:
    flow = compiled_from_text(FLOW.replace("timeout_s = 60", "timeout_s = 0.1"), "bounds.toml")
    registry = ToolRegistry(
        {"hang": hang, "quick": lambda: {"fast": True}}, executor=ToolExecutor(max_workers=2, max_hung=1)
    )
    _, rec, sink = converse(flow, SCRIPT, ["hang on", "hang on", "quick please"], tools=registry)
    assert [(r.detail["tool"], r.outcome) for r in tool_records(sink)] == [
        ("hang", "timed_out"),
        ("hang", "refused"),
        ("quick", "refused"),
    ]
    timed_out, refused, _ = tool_records(sink)
    assert "its thread cannot be stopped and counts as hung" in timed_out.reason
    assert refused.reason == (
        "'hang' was not started: 1 sync tool threads are hung (past their timeout and still running; "
        "the limit is 1 of 2)"
    )
    assert outputs(rec)[1:] == [{"error": "the tool is not available right now"}] * 2
    assert rec.transcript("assistant") == [
        "Still waiting, sorry.",
        "That is not available now.",
        "That is not available now.",
    ]


def test_a_tool_call_loop_ends_at_the_budget_in_the_recovery_agent(bounds: CompiledFlow) -> None:
    session, rec, sink = converse(bounds, SCRIPT, ["loop forever"], tools=ToolRegistry({"ping": ping}))
    budget = bounds.flow.flow.max_tool_calls_per_turn
    assert [r.outcome for r in tool_records(sink)] == ["ok"] * budget + ["refused"]
    (recovered,) = [r for r in sink.records if r.kind == "handoff"]
    assert (recovered.outcome, recovered.from_agent, recovered.to_agent) == ("recovered", "front", "help")
    assert recovered.reason == "max_tool_calls_per_turn"
    calls = [e for side, e in rec.wire if side == "server" and e["type"].endswith("arguments.done")]
    assert len(calls) == budget + 1  # the model asked once more, and was sent to recovery
    assert session.agent == "help" and rec.transcript("assistant") == ["Recovery here."]


def test_a_loop_of_refused_calls_ends_in_the_recovery_agent(bounds: CompiledFlow) -> None:
    session, rec, sink = converse(bounds, SCRIPT, ["bad lookup"], tools=ToolRegistry())
    limit = bounds.flow.flow.max_refused_calls
    assert [r.outcome for r in tool_records(sink)] == ["refused"] * (limit + 1)
    assert [(r.outcome, r.reason) for r in sink.records if r.kind == "handoff"] == [
        ("recovered", "max_refused_calls")
    ]
    assert session.agent == "help" and rec.transcript("assistant") == ["Recovery here."]


def test_a_tools_exception_never_reaches_the_model_but_is_in_the_audit(bounds: CompiledFlow) -> None:
    _, rec, sink = converse(bounds, SCRIPT, ["explode"], tools=ToolRegistry({"explode": explode}))
    (record,) = tool_records(sink)
    assert record.outcome == "failed"
    assert record.reason.startswith("PricingServiceDown: pricing service timed out after 3s (at ")
    assert "test_tool_bounds.py:" in record.reason and record.reason.endswith("in explode)")
    assert outputs(rec) == [{"error": "the tool failed"}]
    received = json.dumps(client_events(rec))
    assert "PricingServiceDown" not in received and "pricing service" not in received
    assert rec.transcript("assistant") == ["Sorry, that failed."]


def test_every_successful_call_is_audited_with_arguments_and_result(bounds: CompiledFlow) -> None:
    _, _, sink = converse(bounds, SCRIPT, ["quick please"], tools=ToolRegistry({"quick": lambda: {"n": 1}}))
    (record,) = tool_records(sink)
    assert (record.outcome, record.detail["arguments"], record.detail["result"]) == ("ok", {}, {"n": 1})
