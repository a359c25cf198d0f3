"""A console written off the event loop: ``print`` queues the line, a thread renders and writes it.

The queue is bounded; when it is full the line is dropped and counted, and the writer reports the count
before its next line, so a flood of big frames can neither stall the loop nor grow memory.
"""

from __future__ import annotations

import queue
import threading

from rich.console import Console

_STOP = object()


class QueuedConsole:
    """``print(markup)`` from any thread (or the event loop) without blocking; :meth:`close` flushes."""

    def __init__(self, console: Console, maxsize: int = 1000) -> None:
        self.console = console
        self.dropped = 0
        self.failed = 0
        self._reported = 0
        self._queue: queue.Queue[object] = queue.Queue(maxsize)
        self._thread = threading.Thread(target=self._write, name="switchboard-console", daemon=True)
        self._thread.start()

    def print(self, text: str) -> None:
        try:
            self._queue.put_nowait(text)
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        self._queue.put(_STOP)
        self._thread.join()
        self._report_drops()

    def _write(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            self._report_drops()
            self._emit(str(item))

    def _report_drops(self) -> None:
        dropped = self.dropped
        if dropped > self._reported:
            self._emit(f"[dim]… {dropped - self._reported} transcript line(s) dropped (console too slow)[/]")
            self._reported = dropped

    def _emit(self, text: str) -> None:
        try:
            self.console.print(text)
        except Exception:  # never let the console kill its own writer
            self.failed += 1
