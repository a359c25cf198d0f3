"""The transcript a person reads while a conversation runs: who said what, each handoff with its reason."""

from __future__ import annotations

from rich.console import Console
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


class TranscriptPrinter:
    """Prints the conversation as it happens: who said what, each handoff with its reason."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def __call__(self, action: Action | ProtocolError) -> None:
        if isinstance(action, ProtocolError | ProtocolProblem):
            self.console.print(f"[red]! protocol:[/] {escape(str(action))}")
        elif isinstance(action, Transcript):
            style = STYLES.get(action.kind, "")
            label = {"user": "user", "assistant": action.agent}.get(action.kind, action.kind)
            arrow = "⇢ " if action.kind == "handoff" else ""
            self.console.print(f"[{style}]{escape(label):>14}[/] {arrow}{escape(action.text)}")
