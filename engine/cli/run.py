"""``switchboard run``, ``chat``, ``serve`` and ``emulate``: conversations over the Realtime protocol."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.cli.console import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, err, out
from engine.cli.diagnostics import DiagnosticPrinter
from engine.errors import SwitchboardError


def _compiled_or_report(path: str) -> Any:
    """Load, verify, compile and bind ``path`` (what ``lint --import-tools`` checks) and print its findings
    as ``lint`` does, the flow's ignores applied; return ``None`` when it does not pass."""
    from engine.runtime.prepare import lint_flow
    from engine.verify.report import suppressed_text

    linted = lint_flow(path, import_tools=True)
    show = DiagnosticPrinter(err)
    for d in linted.findings:
        show(d)
    if linted.suppressed:
        err.print(f"switchboard: {path}: {suppressed_text(linted.suppressed)}", markup=False)
    if linted.compiled is None:
        err.print(f"switchboard: {path} does not pass lint; nothing was run", markup=False)
    return linted.compiled


def _context_or_report(args: argparse.Namespace, compiled: Any) -> dict[str, Any] | None:
    """The ``--context KEY=VALUE`` values, checked against the flow's ``initial_context``; ``None`` if bad."""
    from engine.session.context import ContextError, initial_context, parse_assignments

    try:
        return initial_context(compiled.flow, parse_assignments(args.context))
    except ContextError as exc:
        err.print(f"switchboard {args.command}: {exc}", markup=False)
        return None


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from engine.cli.transcript import TranscriptPrinter
    from engine.runtime.audit_file import JsonlSink
    from engine.runtime.client import UpstreamError
    from engine.runtime.conversation import ConversationError
    from engine.runtime.runner import RunOptions, run_conversation, script_or_empty, stdin_lines
    from engine.runtime.tools import ToolBindingError
    from engine.session.audit import AuditSink, MemorySink

    compiled = _compiled_or_report(args.flow)
    if compiled is None:
        return EXIT_FINDINGS
    context = _context_or_report(args, compiled)
    if context is None:
        return EXIT_USAGE
    try:
        script = script_or_empty(args.script)
    except (OSError, ValueError) as exc:
        err.print(f"switchboard: bad script: {exc}", markup=False)
        return EXIT_USAGE
    if args.command == "run" and not args.upstream and not script.turns:
        err.print(f"switchboard run: {args.script} has no [[turn]] entries", markup=False)
        return EXIT_USAGE
    sink: AuditSink = JsonlSink(args.audit) if args.audit else MemorySink()
    options = RunOptions(
        upstream=args.upstream,
        api_key=args.api_key,
        turn_timeout=args.turn_timeout,
        supervisor_url=args.supervisor_base_url,
        modalities=("audio",) if args.audio else ("text",),
        context=context,
    )
    target = args.upstream or "embedded emulator"
    out.print(f"[bold]{compiled.flow.flow.name}[/]: entry [bold]{compiled.flow.flow.entry}[/] · {target}")
    try:
        session = asyncio.run(
            run_conversation(
                compiled,
                script,
                sink,
                options,
                on_action=TranscriptPrinter(out),
                read_line=stdin_lines if args.command == "chat" else None,
            )
        )
    except ConversationError as exc:
        err.print(f"switchboard {args.command}: {exc}", markup=False)
        return EXIT_FINDINGS
    except (UpstreamError, ToolBindingError, ValueError, OSError) as exc:
        # a refused upstream, an unbindable tool, a bad supervisor script: one clear line, no traceback
        err.print(f"switchboard {args.command}: {type(exc).__name__}: {exc}", markup=False)
        return EXIT_FINDINGS
    finally:
        if isinstance(sink, JsonlSink):
            sink.close()
    out.print(
        f"ended with [bold]{session.agent}[/] after {session.depth} handoff(s)"
        + (f"; audit log: {args.audit}" if args.audit else "")
    )
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    import asyncio
    from contextlib import AsyncExitStack

    from engine.cli.transcript import TranscriptPrinter
    from engine.emulator.server import Emulator
    from engine.runtime.audit_file import JsonlSink
    from engine.runtime.relay import Relay, run_relay
    from engine.runtime.runner import script_or_empty
    from engine.session.audit import AuditSink, MemorySink

    compiled = _compiled_or_report(args.flow)
    if compiled is None:
        return EXIT_FINDINGS
    context = _context_or_report(args, compiled)
    if context is None:
        return EXIT_USAGE
    sink: AuditSink = JsonlSink(args.audit) if args.audit else MemorySink()

    async def serve() -> None:
        async with AsyncExitStack() as stack:
            upstream = args.upstream
            if not upstream:
                emulator = await stack.enter_async_context(Emulator(script_or_empty(args.script)))
                upstream = emulator.url
            relay = Relay(
                compiled,
                upstream,
                audit=sink,
                api_key=args.api_key,
                host=args.host,
                port=args.port,
                on_action=TranscriptPrinter(out),
                context=context,
            )
            out.print(f"switchboard relay for [bold]{compiled.flow.flow.name}[/] -> {upstream}")
            await run_relay(relay, lambda url: out.print(f"clients connect to {url}", markup=False))

    try:
        asyncio.run(serve())
    except (OSError, ValueError) as exc:
        err.print(f"switchboard serve: {exc}", markup=False)
        return EXIT_USAGE
    finally:
        if isinstance(sink, JsonlSink):
            sink.close()
    return EXIT_OK


async def serve_emulator(script_path: str | Path | None, host: str = "127.0.0.1", port: int = 8765) -> None:
    """``switchboard emulate``: load the script (none: every answer is "no rule matched"), print the URL,
    serve until cancelled."""
    from engine.emulator.server import Emulator
    from engine.runtime.runner import script_or_empty

    script = script_or_empty(script_path)
    async with Emulator(script, host, port) as emulator:
        sdk_url = emulator.url.removesuffix("/realtime")
        out.print(
            f"switchboard emulator: {emulator.url} ({len(script.rules)} rules from {script.name})",
            markup=False,
        )
        out.print(f"  OpenAI SDK: AsyncOpenAI(websocket_base_url={sdk_url!r})", markup=False)
        await emulator.serve_forever()


def cmd_emulate(args: argparse.Namespace) -> int:
    import asyncio

    try:
        asyncio.run(serve_emulator(args.script, args.host, args.port))
    except (OSError, SwitchboardError) as exc:
        err.print(f"switchboard emulate: {exc}", markup=False)
        return EXIT_USAGE
    return EXIT_OK
