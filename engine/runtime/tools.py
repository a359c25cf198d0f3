"""Flow tools bound to Python callables (``impl = "module:function"`` in the flow, or registered in code), run
with a timeout in a bounded executor the runtime owns.

Async tools run as tasks: past its timeout a call's task is cancelled (and not waited for, so a tool that
ignores cancellation cannot stall its conversation). Sync tools run in the executor's own pool of daemon
threads, never the event loop's default executor, so hung tools cannot starve the rest of the process. A
thread cannot be killed: a sync call past its timeout is answered ``timed out`` and its thread counts as *hung*
until the function returns; once ``max_hung`` threads are hung, new sync calls are refused
(:class:`ToolUnavailable`) instead of queueing behind them, so ``max_workers - max_hung`` threads always serve
live calls. Daemon threads do not hold up the process's exit either.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import queue
import threading
import traceback
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any

from engine.errors import SwitchboardError
from engine.flow.loader import FlowDocument
from engine.runtime.binding import ToolBindingError, load

ToolFunction = Callable[..., Any] | Callable[..., Awaitable[Any]]

MAX_WORKERS = 32
"""Threads of a :class:`ToolExecutor` (sync tools are expected to be I/O-bound: an HTTP call, a query)."""
MAX_HUNG = 16
"""Hung threads a :class:`ToolExecutor` tolerates before it refuses new sync calls."""
DEFAULT_TIMEOUT_S = 10.0
"""Timeout of a call to a tool registered without one (a flow's tools get theirs from the flow)."""


class ToolTimedOut(SwitchboardError):
    """A tool call gave no result within its timeout (its task was cancelled, or its thread is hung)."""


class ToolUnavailable(SwitchboardError):
    """The executor refused to start a sync tool: too many of its threads are hung."""


def describe_exception(exc: BaseException) -> str:
    """``Type: message (at file:line in function)``, the innermost frame: what the audit keeps of an error."""
    text = f"{type(exc).__name__}: {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        text += f" (at {last.filename}:{last.lineno} in {last.name})"
    return text


def _is_async(function: ToolFunction) -> bool:
    """An ``async def`` function, or an object whose ``__call__`` is one."""
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - the method itself, not callability
    )


class _DaemonThreads:
    """Up to ``size`` daemon threads serving submitted callables; an idle thread leaves after ``linger_s``."""

    def __init__(self, size: int, name: str, linger_s: float = 60.0) -> None:
        self._size, self._name, self._linger_s = size, name, linger_s
        self._work: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        """One token per thread waiting for work (a submitter that takes one counts on that thread)."""
        self._lock = threading.Lock()
        self._threads = 0
        self._started = 0

    @property
    def threads(self) -> int:
        return self._threads

    def submit(self, function: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        self._work.put((future, function))
        if not self._idle.acquire(blocking=False):
            with self._lock:
                if self._threads < self._size:
                    self._threads += 1
                    self._started += 1
                    name = f"{self._name}-{self._started}"
                    threading.Thread(target=self._serve, name=name, daemon=True).start()
        return future

    def _serve(self) -> None:
        while True:
            try:
                future, function = self._work.get(timeout=self._linger_s)
            except queue.Empty:
                if self._idle.acquire(blocking=False):  # no submitter counts on this thread: leave
                    with self._lock:
                        self._threads -= 1
                    return
                continue
            if future.set_running_or_notify_cancel():
                try:
                    result = function()
                except BaseException as exc:  # the caller gets it, as ThreadPoolExecutor does
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del future, function
            self._idle.release()


class ToolExecutor:
    """Runs tool calls with a timeout: async ones as tasks, sync ones on ``max_workers`` daemon threads, of
    which at most ``max_hung`` may be hung (past their timeout and still running) before sync calls are refused.

    One executor serves every conversation of a runtime (the relay shares one across its connections).
    """

    def __init__(self, max_workers: int = MAX_WORKERS, max_hung: int = MAX_HUNG) -> None:
        if not 0 < max_hung <= max_workers:
            raise ValueError(f"need 0 < max_hung <= max_workers, got {max_hung} and {max_workers}")
        self.max_workers, self.max_hung = max_workers, max_hung
        self._threads = _DaemonThreads(max_workers, "switchboard-tool")
        self._lock = threading.Lock()
        self._hung = 0
        self._abandoned: set[asyncio.Future[Any]] = set()

    @property
    def hung(self) -> int:
        """Sync calls given up (timed out or cancelled) whose thread is still running."""
        return self._hung

    @property
    def threads(self) -> int:
        """Threads alive now (started on demand, up to ``max_workers``)."""
        return self._threads.threads

    async def run(
        self, name: str, function: ToolFunction, arguments: dict[str, Any], timeout_s: float
    ) -> Any:
        """``function(**arguments)``; raise :class:`ToolTimedOut` past ``timeout_s``, :class:`ToolUnavailable`
        when too many threads are hung, or whatever the function raises."""
        if _is_async(function):
            return await self._run_async(name, function(**arguments), timeout_s)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        result = await self._run_sync(name, functools.partial(function, **arguments), timeout_s)
        if inspect.isawaitable(result):  # a sync function that returned a coroutine: the rest of the time
            return await self._run_async(name, result, timeout_s, deadline - loop.time())
        return result

    async def _run_async(
        self, name: str, awaitable: Awaitable[Any], timeout_s: float, left_s: float | None = None
    ) -> Any:
        task = asyncio.ensure_future(awaitable)
        try:
            done, _ = await asyncio.wait({task}, timeout=max(0.0, timeout_s if left_s is None else left_s))
        except asyncio.CancelledError:
            self._abandon(task)
            raise
        if not done:
            self._abandon(task)
            raise ToolTimedOut(f"'{name}' gave no result within {timeout_s:g}s; its task was cancelled")
        return task.result()

    def _abandon(self, task: asyncio.Future[Any]) -> None:
        """Cancel ``task`` without waiting for it (it may ignore the cancellation); keep it until it ends."""
        task.cancel()
        if not task.done():
            self._abandoned.add(task)
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Future[Any]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: an abandoned call's error is not reported again

    async def _run_sync(self, name: str, function: Callable[[], Any], timeout_s: float) -> Any:
        with self._lock:
            if self._hung >= self.max_hung:
                raise ToolUnavailable(
                    f"'{name}' was not started: {self._hung} sync tool threads are hung (past their "
                    f"timeout and still running; the limit is {self.max_hung} of {self.max_workers})"
                )
        future = self._threads.submit(function)
        waiter = asyncio.wrap_future(future)
        try:
            done, _ = await asyncio.wait({waiter}, timeout=timeout_s)
        except asyncio.CancelledError:
            self._give_up(future, waiter)
            raise
        if not done and future.done() and not future.cancelled():
            return future.result()  # it returned just as the wait ended
        if not done:
            if self._give_up(future, waiter):
                raise ToolTimedOut(
                    f"'{name}' gave no result within {timeout_s:g}s; its thread cannot be stopped and "
                    "counts as hung until it returns"
                )
            raise ToolTimedOut(f"'{name}' did not start within {timeout_s:g}s: every tool thread was busy")
        return waiter.result()

    def _give_up(self, future: Future[Any], waiter: asyncio.Future[Any]) -> bool:
        """Stop waiting for ``future``; ``True`` when its thread had started (it now counts as hung)."""
        started = not future.cancel()  # a call still queued is dropped and never runs
        waiter.cancel()
        if started:
            with self._lock:
                self._hung += 1
            future.add_done_callback(self._unhang)
        return started

    def _unhang(self, _: Future[Any]) -> None:
        with self._lock:
            self._hung -= 1


class ToolRegistry:
    """Name -> callable (and timeout); calls run in ``executor`` (by default one of its own)."""

    def __init__(
        self,
        functions: dict[str, ToolFunction] | None = None,
        *,
        timeouts: dict[str, float] | None = None,
        default_timeout_s: float = DEFAULT_TIMEOUT_S,
        executor: ToolExecutor | None = None,
    ) -> None:
        self.functions: dict[str, ToolFunction] = dict(functions or {})
        self.timeouts: dict[str, float] = dict(timeouts or {})
        self.default_timeout_s = default_timeout_s
        self.executor = executor if executor is not None else ToolExecutor()

    def register(self, name: str, function: ToolFunction, *, timeout_s: float | None = None) -> None:
        self.functions[name] = function
        if timeout_s is not None:
            self.timeouts[name] = timeout_s

    @classmethod
    def from_flow(cls, doc: FlowDocument, *, executor: ToolExecutor | None = None) -> ToolRegistry:
        """Bind every tool with an ``impl`` (importing its module: see :mod:`engine.runtime.binding`), with
        the tool's ``timeout_s`` (or the flow's ``tool_timeout_s``)."""
        settings = doc.flow.flow
        registry = cls(default_timeout_s=settings.tool_timeout_s, executor=executor)
        for name, tool in doc.flow.tools.items():
            if tool.timeout_s is not None:
                registry.timeouts[name] = tool.timeout_s
            if tool.impl:
                registry.register(name, load(tool.impl, doc.base_dir))
        return registry

    async def call(self, name: str, arguments: dict[str, Any], *, timeout_s: float | None = None) -> Any:
        """Run tool ``name`` within ``timeout_s`` (default: its own); raise ``LookupError`` when it has no
        implementation, :class:`ToolTimedOut`, :class:`ToolUnavailable`, or whatever the tool raises."""
        function = self.functions.get(name)
        if function is None:
            raise LookupError(f"tool '{name}' has no implementation (set `impl` in the flow or register it)")
        if timeout_s is None:
            timeout_s = self.timeouts.get(name, self.default_timeout_s)
        return await self.executor.run(name, function, arguments, timeout_s)


__all__ = [
    "ToolBindingError",
    "ToolExecutor",
    "ToolFunction",
    "ToolRegistry",
    "ToolTimedOut",
    "ToolUnavailable",
    "describe_exception",
]
