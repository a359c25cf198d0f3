"""``switchboard run`` and ``switchboard chat``: a compiled flow against the embedded emulator or an upstream."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.compile.pipeline import CompiledFlow
from engine.emulator.script import Script
from engine.emulator.server import Emulator
from engine.runtime.client import RealtimeClient
from engine.runtime.conversation import Conversation, UserTurn
from engine.runtime.tools import ToolRegistry
from engine.session.actions import Action
from engine.session.audit import AuditSink
from engine.session.context import initial_context
from engine.session.core import Session
from engine.supervisor.backend import SupervisorBackend
from engine.supervisor.factory import make_supervisor
from engine.supervisor.scripted import ScriptedSupervisor
from engine.wire.protocol import ProtocolError


@dataclass
class RunOptions:
    upstream: str | None = None
    """Realtime URL; ``None`` starts the embedded emulator with the script's rules."""
    api_key: str | None = None
    modalities: tuple[str, ...] = ("text",)
    turn_timeout: float = 30.0
    supervisor_url: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    """Trusted initial context (``--context KEY=VALUE``), checked against the flow's ``initial_context``."""


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


def _supervisor(
    compiled: CompiledFlow, script: Script, tools: ToolRegistry, options: RunOptions
) -> SupervisorBackend:
    """The flow's supervisor; a script's own supervisor rules are tried first (and stand in for an openai
    backend, which a test cannot reach)."""
    config = compiled.flow.supervisor
    if not script.supervisor:
        return make_supervisor(compiled.doc, tools, base_url=options.supervisor_url, api_key=options.api_key)
    rules = list(script.supervisor)
    if config is not None and config.backend == "scripted":
        own = make_supervisor(compiled.doc, tools)
        assert isinstance(own, ScriptedSupervisor)
        rules += own.rules
    return ScriptedSupervisor(rules, tools, name=f"{script.name} (supervisor rules)")


def new_session(compiled: CompiledFlow, options: RunOptions) -> Session:
    """A fresh session of ``compiled`` with the options' modalities and trusted initial context."""
    return Session(
        compiled,
        f"conv-{uuid.uuid4().hex[:8]}",
        clock=time.time,
        modalities=options.modalities,
        initial_context=initial_context(compiled.flow, options.context),
    )


async def run_conversation(
    compiled: CompiledFlow,
    script: Script,
    audit: AuditSink,
    options: RunOptions,
    *,
    on_action: Callable[[Action | ProtocolError], None],
    turns: Sequence[UserTurn] | None = None,
    read_line: Callable[[], object] | None = None,
    session: Session | None = None,
) -> Session:
    """Run one conversation; the scripted ``turns`` (default: the script's) or ``read_line`` give the user's.

    Pass a ``session`` from :func:`new_session` to read its state when the run raises."""
    tools = ToolRegistry.from_flow(compiled.doc)
    supervisor: SupervisorBackend | None = None
    if compiled.flow.supervisor is not None:
        supervisor = _supervisor(compiled, script, tools, options)
    session = session or new_session(compiled, options)
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


__all__ = ["RunOptions", "new_session", "run_conversation", "script_or_empty", "stdin_lines"]
