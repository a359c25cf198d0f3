"""``switchboard run``, ``chat``, ``serve`` and ``emulate``: conversations over the Realtime protocol."""

from __future__ import annotations

import argparse
import time
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
    """The ``--context KEY=VALUE`` values, checked against the flow's ``initial_context``; ``None`` if bad.

    ``run``/``chat`` need every declared key; ``serve`` checks completeness per connection, where a client
    secret may carry the rest."""
    from engine.session.context import ContextError, initial_context, parse_assignments

    try:
        values = parse_assignments(args.context)
        return initial_context(compiled.flow, values, complete=args.command != "serve")
    except ContextError as exc:
        err.print(f"switchboard {args.command}: {exc}", markup=False)
        return None


MAX_WORKERS = 64
"""The most ``serve --workers`` forks (one per core is the point; a typo must not fork a thousand)."""

API_KEY_FILE_MAX = 64 * 1024
"""The largest ``--api-key-file`` read (a key is ~200 bytes)."""


def _api_key(args: argparse.Namespace) -> str | None:
    """The upstream key: ``--api-key-file``'s first line, else ``None`` (the client reads ``$OPENAI_API_KEY``).

    There is deliberately no ``--api-key VALUE``: a command line is visible to every user of the machine."""
    from engine.flow.files import read_confined

    if args.api_key_file is None:
        return None
    # bounded and non-blocking like every file read here: /dev/zero or a FIFO is an error, not a hang
    text = read_confined(args.api_key_file, None, max_bytes=API_KEY_FILE_MAX).strip()
    if not text:
        raise ValueError(f"{args.api_key_file} holds no API key")
    return text.splitlines()[0].strip()


def _gate(args: argparse.Namespace) -> tuple[Any, Any]:
    """Who may connect to ``serve``: the server token, client secrets, the Origin allowlist; or ``--no-auth``."""
    import os

    from engine.runtime.auth import ClientSecrets, Gate, signing_key_from
    from engine.runtime.client import is_loopback

    origins = frozenset(args.allow_origin)
    if args.no_auth:
        if not is_loopback(args.host):
            raise ValueError(f"--no-auth is allowed only on a loopback --host, not {args.host!r}")
        return Gate(None, None, origins, open=True), None
    token = os.environ.get("SWITCHBOARD_TOKEN", "").strip()
    if len(token) < 16:
        raise ValueError(
            "set SWITCHBOARD_TOKEN (at least 16 characters) to authenticate clients, "
            "or pass --no-auth on a loopback --host"
        )
    signing = os.environ.get("SWITCHBOARD_SIGNING_KEY", "").encode() or signing_key_from(token)
    secrets = ClientSecrets(signing, time.time)
    return Gate(token, secrets, origins), secrets


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from engine.cli.transcript import TranscriptPrinter
    from engine.flowtest.observe import Recorder
    from engine.runtime.audit_file import JsonlSink
    from engine.runtime.client import UpstreamError
    from engine.runtime.conversation import ConversationError
    from engine.runtime.runner import RunOptions, run_conversation, script_or_empty, stdin_lines
    from engine.runtime.tools import ToolBindingError
    from engine.session.audit import AuditSink, MemorySink, Stamped

    compiled = _compiled_or_report(args.flow)
    if compiled is None:
        return EXIT_FINDINGS
    context = _context_or_report(args, compiled)
    if context is None:
        return EXIT_USAGE
    try:
        api_key = _api_key(args)
    except (OSError, ValueError) as exc:
        err.print(f"switchboard {args.command}: {exc}", markup=False)
        return EXIT_USAGE
    try:
        script = script_or_empty(args.script)
    except (OSError, ValueError) as exc:
        err.print(f"switchboard: bad script: {exc}", markup=False)
        return EXIT_USAGE
    if args.command == "run" and not args.upstream and not script.turns:
        err.print(f"switchboard run: {args.script} has no [[turn]] entries", markup=False)
        return EXIT_USAGE
    file = JsonlSink(args.audit) if args.audit else None
    sink: AuditSink = Stamped.of(file or MemorySink(), compiled.flow)
    options = RunOptions(
        upstream=args.upstream,
        api_key=api_key,
        turn_timeout=args.turn_timeout,
        supervisor_url=args.supervisor_base_url,
        modalities=("audio",) if args.audio else ("text",),
        context=context,
    )
    target = args.upstream or "embedded emulator"
    out.print(f"[bold]{compiled.flow.flow.name}[/]: entry [bold]{compiled.flow.flow.entry}[/] · {target}")
    printer, recorder = TranscriptPrinter(out), Recorder()

    def on_action(action: Any) -> None:
        printer(action)
        recorder(action)

    try:
        session = asyncio.run(
            run_conversation(
                compiled,
                script,
                sink,
                options,
                on_action=on_action,
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
        if file is not None:
            file.close()
    out.print(
        f"ended with [bold]{session.agent}[/] after {session.depth} handoff(s)"
        + (f"; audit log: {args.audit}" if args.audit else "")
    )
    if args.command == "run":
        return _scripted_run_status(recorder.observation, len(script.turns))
    return EXIT_OK


def _scripted_run_status(observation: Any, turns: int) -> int:
    """``run`` fails when a response matched no emulator rule (the script does not cover the flow) or the
    conversation ended before every scripted turn was said."""
    missed = [t.index + 1 for t in observation.turns if t.misses]
    if missed:
        err.print(
            f"switchboard run: no script rule matched a response in turn(s) {', '.join(map(str, missed))}",
            markup=False,
        )
    said = len(observation.turns)
    if said < turns:
        err.print(f"switchboard run: the conversation ended after {said} of {turns} turn(s)", markup=False)
    return EXIT_FINDINGS if missed or said < turns else EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    compiled = _compiled_or_report(args.flow)
    if compiled is None:
        return EXIT_FINDINGS
    context = _context_or_report(args, compiled)
    if context is None:
        return EXIT_USAGE
    try:
        api_key = _api_key(args)
        gate, secrets = _gate(args)
        if args.admin_port is not None and secrets is None:
            raise ValueError("--admin-port mints client secrets: it needs SWITCHBOARD_TOKEN, not --no-auth")
        if not 1 <= args.workers <= MAX_WORKERS:
            raise ValueError(f"--workers must be from 1 to {MAX_WORKERS}, not {args.workers}")
    except (OSError, ValueError) as exc:
        err.print(f"switchboard serve: {exc}", markup=False)
        return EXIT_USAGE

    def start(worker: int | None, ready_fd: int | None) -> int:
        return _serve_process(args, compiled, context, api_key, gate, secrets, worker, ready_fd)

    if args.workers == 1:
        return start(None, None)
    from engine.cli.workers import serve_workers

    return serve_workers(args, start)


def _serve_process(
    args: argparse.Namespace,
    compiled: Any,
    context: dict[str, Any],
    api_key: str | None,
    gate: Any,
    secrets: Any,
    worker: int | None,
    ready_fd: int | None,
) -> int:
    """One relay process: until SIGTERM/SIGINT (then the drain). A worker (``worker`` set) binds with
    ``SO_REUSEPORT`` and reports it listens by writing one byte to ``ready_fd`` instead of printing the URL."""
    import asyncio
    import logging
    import os
    import signal
    from contextlib import AsyncExitStack

    from engine.cli.transcript import TranscriptPrinter
    from engine.cli.writer import QueuedConsole
    from engine.emulator.server import Emulator
    from engine.runtime.audit_file import JsonlSink
    from engine.runtime.limits import RelayLimits, raise_open_files_limit
    from engine.runtime.relay import Relay, run_relay
    from engine.runtime.runner import script_or_empty
    from engine.session.audit import AuditSink, CountingSink
    from engine.store import (
        StoreError,
        default_store,
        is_store_url,
        open_audit,
        open_store,
        same_sqlite_file,
    )
    from engine.store.redis import RedisAuditSink
    from engine.store.sqlite import SqliteAuditSink
    from engine.tracing import configure_from_env

    who = "switchboard serve" if worker is None else f"switchboard serve[{worker}]"
    logging.basicConfig(level=logging.WARNING, format=f"{who}: %(message)s")
    raise_open_files_limit()
    limits = RelayLimits(
        max_frame=args.max_frame,
        max_conversations=args.max_conversations,
        send_timeout_s=args.send_timeout_s,
        idle_timeout_s=args.idle_timeout_s or None,
    )
    try:
        journal = bool(args.audit) and args.audit == args.store and is_store_url(args.audit)
        store_url = args.store or default_store()
        sink: AuditSink = open_audit(args.audit, worker) if args.audit else CountingSink()
        store = open_store(store_url, worker, records=journal or same_sqlite_file(args.audit, store_url))
    except (StoreError, OSError, ValueError) as exc:
        err.print(f"{who}: {exc}", markup=False)
        return EXIT_USAGE
    console = QueuedConsole(out) if args.transcript else None

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with AsyncExitStack() as stack:
            upstream = args.upstream
            if not upstream:
                emulator = await stack.enter_async_context(Emulator(script_or_empty(args.script)))
                upstream = emulator.url
            relay = Relay(
                compiled,
                upstream,
                audit=sink,
                api_key=api_key,
                host=args.host,
                port=args.port,
                on_action=TranscriptPrinter(console) if console is not None else lambda _: None,
                context=context,
                limits=limits,
                expose_session=args.expose_session,
                gate=gate,
                reuse_port=worker is not None,
                store=store,
                journal=journal,
            )
            stack.push_async_callback(store.close)
            if isinstance(sink, RedisAuditSink):
                stack.push_async_callback(sink.aclose)
            if args.admin_port is not None:
                from engine.runtime.admin import AdminServer
                from engine.session.context import initial_context

                admin = AdminServer(
                    secrets,
                    gate.token,
                    compiled.flow.flow.name,
                    lambda values: initial_context(compiled.flow, {**context, **values}),
                    host=args.host,
                    port=args.admin_port,
                    reuse_port=worker is not None,
                )
                await stack.enter_async_context(admin)
                if not worker:
                    out.print(f"client secrets: POST {admin.url}/realtime/client_secrets", markup=False)
            if not worker:
                out.print(f"switchboard relay for [bold]{compiled.flow.flow.name}[/] -> {upstream}")

            def ready(url: str) -> None:
                if ready_fd is None:
                    out.print(f"clients connect to {url}", markup=False)
                else:  # the parent prints the URL once every worker listens
                    os.write(ready_fd, b"1")
                    os.close(ready_fd)

            await run_relay(relay, ready, stop, args.drain_s)
            label = "switchboard relay" if worker is None else f"switchboard relay worker {worker}"
            out.print(f"{label} stopped after {relay.conversations} conversation(s)", markup=False)

    flush_spans = configure_from_env()
    try:
        asyncio.run(serve())
    except (OSError, ValueError) as exc:
        err.print(f"{who}: {exc}", markup=False)
        return EXIT_USAGE
    finally:
        flush_spans()
        if console is not None:
            console.close()
        if isinstance(sink, JsonlSink | SqliteAuditSink):
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
