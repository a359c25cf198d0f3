"""The transcript a person reads while a conversation runs: who said what, each handoff with its reason.

Every line is made safe before it reaches a console: cut to :data:`LINE_LIMIT` characters, control
characters, bidi overrides and lone surrogates written as escapes (a frame's text can never break or
spoof the console), and the printer itself never raises into a conversation.
"""

from __future__ import annotations

import re
from typing import Protocol

from rich.markup import escape

from engine.session.actions import Action, ProtocolProblem, Transcript
from engine.wire.protocol import ProtocolError

STYLES = {
    "user": "bold cyan",
    "assistant": "green",
    "handoff": "bold magenta",
    "tool": "blue",
    "escalation": "bold yellow",
    "notice": "red",
}

LINE_LIMIT = 500
"""The most characters of one event's text a transcript line shows."""

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, limit: int = LINE_LIMIT) -> str:
    """``text`` safe for one console line: at most ``limit`` characters of it, unsafe ones escaped."""
    cut = text[:limit]
    more = f"… (+{len(text) - limit} chars)" if len(text) > limit else ""
    return _UNSAFE.sub(_escape_char, cut) + more


class Printer(Protocol):
    """A rich ``Console`` or anything with its ``print(markup)``."""

    def print(self, text: str, /) -> None: ...


class TranscriptPrinter:
    """Prints the conversation as it happens: who said what, each handoff with its reason."""

    def __init__(self, console: Printer, limit: int = LINE_LIMIT) -> None:
        self.console = console
        self.limit = limit
        self.failures = 0
        """Lines the console refused (counted, never raised)."""

    def __call__(self, action: Action | ProtocolError) -> None:
        if isinstance(action, ProtocolError | ProtocolProblem):
            line = f"[red]! protocol:[/] {escape(printable(str(action), self.limit))}"
        elif isinstance(action, Transcript):
            style = STYLES.get(action.kind, "")
            label = {"user": "user", "assistant": action.agent}.get(action.kind, action.kind)
            arrow = "⇢ " if action.kind == "handoff" else ""
            text = escape(printable(action.text, self.limit))
            line = f"[{style}]{escape(printable(label, 64)):>14}[/] {arrow}{text}"
        else:
            return
        try:
            self.console.print(line)
        except Exception:  # a console that cannot write must not end a conversation
            self.failures += 1
