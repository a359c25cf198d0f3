"""Diagnostics as a person reads them (rustc and ruff are the models), the same from ``lint``, ``run`` and ``serve``::

    flows/bank.toml:17:13: error[SB301]: agent 'loans' requires 'customer_id', which is lost on path …
       |
    17 | requires = ["customer_id"]
       |             ^^^^^^^^^^^^^
       = help: add "customer_id" to carry on card_services -> loans
       = note: the contract that drops it: flows/bank.toml:40:1
       |
    40 | [[handoff]]
       | ^^^^^^^^^^^

Colour only on a terminal (rich decides); every source line is escaped, so a flow's text can never inject markup.
"""

from __future__ import annotations

import re
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from engine.flow.diagnostics import Diagnostic, Location, Severity

MAX_SOURCE = 4 * 1024 * 1024
"""Source files larger than this are shown without code frames."""
_WORD = re.compile(r"[A-Za-z0-9_.\-]+")


class DiagnosticPrinter:
    """Prints diagnostics with code frames; reads each source file once."""

    def __init__(self, console: Console, *, frames: bool = True) -> None:
        self.console = console
        self.frames = frames
        self._sources: dict[str, list[str] | None] = {}

    def __call__(self, diagnostic: Diagnostic) -> None:
        d = diagnostic
        style = "bold red" if d.severity is Severity.ERROR else "bold yellow"
        self.console.print(
            f"[bold]{escape(str(d.location))}:[/] [{style}]{d.severity}\\[{d.code}][/]: {escape(d.message)}"
        )
        self._frame(d.location)
        if d.help:
            self.console.print(f"   [bold cyan]= help:[/] {escape(d.help)}")
        for related in d.related:
            self.console.print(
                f"   [bold]= note:[/] {escape(related.message)}: {escape(str(related.location))}"
            )
            self._frame(related.location)

    def _frame(self, location: Location) -> None:
        if not self.frames:
            return
        text = self._line(location.file, location.line)
        if text is None:
            return
        start = min(max(location.col - 1, 0), len(text))
        width = len(str(location.line))
        gutter = " " * width
        caret = " " * start + "^" * span(text, start, location.length)
        self.console.print(f"[bold blue]{gutter} |[/]")
        self.console.print(f"[bold blue]{location.line} |[/] {escape(text)}")
        self.console.print(f"[bold blue]{gutter} |[/] [bold]{caret}[/]")

    def _line(self, file: str, line: int) -> str | None:
        if file not in self._sources:
            self._sources[file] = _read_lines(Path(file))
        lines = self._sources[file]
        if lines is None or not 1 <= line <= len(lines):
            return None
        return _printable(lines[line - 1])


def span(text: str, start: int, length: int = 1) -> int:
    """How many characters the caret run covers from ``start`` (0-based): ``length`` when the finding gave
    one, else the token there (a quoted string, a ``[table]`` header, a word), at least 1."""
    if length > 1 or start >= len(text):
        return max(1, length)
    first = text[start]
    if first in "\"'":
        end = text.find(first, start + 1)
        return end - start + 1 if end > start else len(text) - start
    if first == "[" and not text[:start].strip():  # a [table] or [[array]] header, not a comment after it
        close = "]]" if text.startswith("[[", start) else "]"
        end = text.find(close, start)
        return end + len(close) - start if end > start else max(1, len(text.rstrip()) - start)
    word = _WORD.match(text, start)
    return max(1, word.end() - start) if word else 1


def _read_lines(path: Path) -> list[str] | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_SOURCE:
            return None
        return path.read_text(encoding="utf-8", errors="replace").removeprefix("\ufeff").splitlines()
    except OSError:
        return None


def _printable(text: str) -> str:
    """Tabs as spaces (so the caret lines up), other control characters escaped."""
    text = text.replace("\t", " ")
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)
