"""The tool executor with real threads and tasks: timeouts cancel async calls, sync calls run on the
executor's own daemon threads, hung threads are counted and past the limit new sync calls are refused."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from engine.compile.pipeline import compile_document
from engine.flow.loader import parse_flow
from engine.runtime.tools import (
    ToolExecutor,
    ToolRegistry,
    ToolTimedOut,
    ToolUnavailable,
    describe_exception,
)
from tests.realtime_schema import run


class Gate:
    """A sync tool that blocks its thread until released (and says when it started)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.threads: list[threading.Thread] = []

    def __call__(self) -> str:
        self.threads.append(threading.current_thread())
        self.started.set()
        self.release.wait(30)
        return "released"


@pytest.fixture
def gate() -> Any:
    g = Gate()
    yield g
    g.release.set()  # teardown: no thread stays hung past the test


def test_sync_tools_run_on_the_executors_daemon_threads_not_the_loops(gate: Gate) -> None:
    gate.release.set()
    executor = ToolExecutor(max_workers=2, max_hung=1)
    assert run(executor.run("gate", gate, {}, 5)) == "released"
    (thread,) = gate.threads
    assert thread.daemon and thread.name.startswith("switchboard-tool-")
    assert executor.threads == 1


def test_a_sync_tools_exception_reaches_the_caller() -> None:
    def broken(x: int) -> int:
        raise ValueError(f"bad {x}")

    with pytest.raises(ValueError, match="bad 3"):
        run(ToolExecutor().run("broken", broken, {"x": 3}, 5))


def test_an_async_tool_past_its_timeout_is_cancelled() -> None:
    async def stall(cancelled: asyncio.Event) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def go() -> None:
        cancelled = asyncio.Event()
        with pytest.raises(
            ToolTimedOut, match=r"'stall' gave no result within 0.05s; its task was cancelled"
        ):
            await ToolExecutor().run("stall", stall, {"cancelled": cancelled}, 0.05)
        await asyncio.wait_for(cancelled.wait(), 5)

    run(go())


def test_an_async_tool_that_ignores_cancellation_does_not_stall_its_caller() -> None:
    async def stubborn(done: asyncio.Event) -> str:
        while True:
            try:
                await done.wait()
                return "finally"
            except asyncio.CancelledError:
                continue  # swallowed: a badly written tool

    async def go() -> int:
        done = asyncio.Event()
        executor = ToolExecutor()
        with pytest.raises(ToolTimedOut):
            await executor.run("stubborn", stubborn, {"done": done}, 0.05)
        abandoned = len(executor._abandoned)  # kept alive until it ends
        done.set()
        return abandoned

    assert run(go()) == 1


def test_hung_threads_are_counted_and_past_the_limit_sync_calls_are_refused(gate: Gate) -> None:
    async def quick() -> str:
        return "async still runs"

    async def go() -> None:
        executor = ToolExecutor(max_workers=2, max_hung=1)
        with pytest.raises(ToolTimedOut, match="cannot be stopped and counts as hung"):
            await executor.run("gate", gate, {}, 0.05)
        assert gate.started.is_set() and executor.hung == 1
        with pytest.raises(ToolUnavailable) as refused:
            await executor.run("other", lambda: "never", {}, 5)
        assert str(refused.value) == (
            "'other' was not started: 1 sync tool threads are hung (past their timeout and still running; "
            "the limit is 1 of 2)"
        )
        assert await executor.run("quick", quick, {}, 5) == "async still runs"

    run(go())


def test_the_hung_count_drops_when_the_thread_returns(gate: Gate) -> None:
    """One worker: after the hung call returns, the next item on that thread sees the count back at 0."""

    async def go() -> int:
        executor = ToolExecutor(max_workers=1, max_hung=1)
        with pytest.raises(ToolTimedOut):
            await executor.run("gate", gate, {}, 0.05)
        assert executor.hung == 1
        gate.release.set()
        pool = executor._threads  # one thread: this runs after the callback
        hung: int = await asyncio.wrap_future(pool.submit(lambda: executor.hung))
        return hung

    assert run(go()) == 0


def test_a_call_still_queued_at_its_timeout_never_runs(gate: Gate) -> None:
    ran: list[str] = []

    async def go() -> None:
        executor = ToolExecutor(max_workers=1, max_hung=1)
        first = asyncio.ensure_future(executor.run("gate", gate, {}, 30))
        await asyncio.get_running_loop().run_in_executor(None, gate.started.wait)
        with pytest.raises(ToolTimedOut, match=r"did not start within 0\.05s: every tool thread was busy"):
            await executor.run("queued", lambda: ran.append("queued"), {}, 0.05)
        assert executor.hung == 0  # it never started: nothing is hung
        gate.release.set()
        assert await first == "released"
        assert await executor.run("after", lambda: ran.append("after"), {}, 5) is None

    run(go())
    assert ran == ["after"]


def test_limits_must_make_sense() -> None:
    with pytest.raises(ValueError, match="max_hung <= max_workers"):
        ToolExecutor(max_workers=2, max_hung=3)
    with pytest.raises(ValueError):
        ToolExecutor(max_workers=2, max_hung=0)


def test_the_registry_takes_each_tools_timeout_from_the_flow() -> None:
    doc = compile_document(
        parse_flow(
            """
[flow]
name = "t"
entry = "a"
recovery = "a"
tool_timeout_s = 3
[agents.a]
terminal = true
tools = ["fast", "slow"]
[tools.fast]
timeout_s = 0.5
[tools.slow]
""",
            "t.toml",
        )
    ).doc
    registry = ToolRegistry.from_flow(doc)
    assert registry.timeouts == {"fast": 0.5} and registry.default_timeout_s == 3.0
    with pytest.raises(LookupError, match="has no implementation"):
        run(registry.call("fast", {}))


def test_describe_exception_names_the_type_message_and_innermost_frame() -> None:
    def inner() -> None:
        raise KeyError("card")

    try:
        inner()
    except KeyError as exc:
        text = describe_exception(exc)
    assert text.startswith("KeyError: 'card' (at ") and text.endswith("in inner)")
    assert "test_tools.py:" in text
