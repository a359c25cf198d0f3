"""``switchboard run`` and ``switchboard chat``: a compiled flow against the embedded emulator or an upstream."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from engine.compile.pipeline import CompiledFlow
from engine.realtime.client import RealtimeClient
from engine.realtime.conversation import Conversation, UserTurn
from engine.realtime.emulator import Emulator
from engine.realtime.protocol import ProtocolError
from engine.realtime.script import Script
from engine.realtime.supervisor import make_supervisor
from engine.realtime.tools import ToolRegistry
from engine.session.actions import Action, ProtocolProblem, Transcript
from engine.session.audit import AuditSink
from engine.session.core import Session

STYLES = {
    "user": "bold cyan",
    "assistant": "green",
    "handoff": "bold magenta",
    "tool": "blue",
    "escalation": "bold yellow",
    "notice": "red",
}


@dataclass
class RunOptions:
    upstream: str | None = None
    """Realtime URL; ``None`` starts the embedded emulator with the script's rules."""
    api_key: str | None = None
    modalities: tuple[str, ...] = ("text",)
    turn_timeout: float = 30.0
    supervisor_url: str | None = None


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


@asynccontextmanager
async def connect(
    compiled: CompiledFlow, script: Script, options: RunOptions
) -> AsyncIterator[RealtimeClient]:
    """A realtime connection: to ``options.upstream``, or to an embedded emulator serving ``script``."""
    if options.upstream:
        async with RealtimeClient.connect(options.upstream, api_key=options.api_key) as client:
            yield client
        return
    async with (
        Emulator(script) as emulator,
        RealtimeClient.connect(emulator.url, api_key="emulator") as client,
    ):
        yield client


async def run_conversation(
    compiled: CompiledFlow,
    script: Script,
    audit: AuditSink,
    options: RunOptions,
    *,
    on_action: Callable[[Action | ProtocolError], None],
    turns: Sequence[UserTurn] | None = None,
    read_line: Callable[[], object] | None = None,
) -> Session:
    """Run one conversation; the scripted ``turns`` (default: the script's) or ``read_line`` give the user's."""
    tools = ToolRegistry.from_flow(compiled.doc)
    supervisor = None
    if compiled.flow.supervisor is not None:
        supervisor = make_supervisor(
            compiled.doc, tools, base_url=options.supervisor_url, api_key=options.api_key
        )
    session = Session(
        compiled, f"conv-{uuid.uuid4().hex[:8]}", clock=time.time, modalities=options.modalities
    )
    async with connect(compiled, script, options) as client:
        conversation = Conversation(session, client, tools, audit, on_action, supervisor)
        if read_line is not None:
            await conversation.run_interactive(read_line, turn_timeout=options.turn_timeout)
        else:
            if turns is None:
                turns = [UserTurn(t.user, t.interrupt) for t in script.turns]
            await conversation.run_turns(turns, turn_timeout=options.turn_timeout)
    return session


async def stdin_lines(prompt: str = "you> ") -> str | None:
    """One line typed by a person (``None`` at end of input)."""

    def read() -> str | None:
        try:
            return input(prompt)
        except EOFError:
            return None

    return await asyncio.to_thread(read)


def script_or_empty(path: str | Path | None) -> Script:
    return Script.load(path) if path else Script(name="<no script>")


__all__ = ["RunOptions", "TranscriptPrinter", "run_conversation", "script_or_empty", "stdin_lines"]
