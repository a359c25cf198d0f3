"""The ``switchboard`` command: lint, schema, render, run, chat, emulate, serve, log.

Exit codes: 0 clean, 1 findings (or a failed run), 2 usage error or unreadable input.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from engine.flow.diagnostics import Diagnostic, FlowError, Severity
from engine.flow.loader import FORMATS, load_flow
from engine.flow.schema import flow_json_schema_text

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
NOT_FLOWS = {"scripts", "prompts", "tools"}
"""Folders under a flow folder that hold a flow's companions (emulator scripts, prompts, tool code)."""

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def package_version() -> str:
    try:
        return version("switchboard")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def find_flow_files(paths: Iterable[str], exclude: Sequence[str] = ()) -> list[Path]:
    """Files as given; folders expanded to their ``.toml``/``.json`` flows (companion folders skipped)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in FORMATS and p.is_file() and not NOT_FLOWS & set(p.relative_to(path).parts[:-1])
            )
        else:
            candidates = [path]
        found += [p for p in candidates if not any(fnmatch.fnmatch(str(p), pat) for pat in exclude)]
    return found


def cmd_lint(args: argparse.Namespace) -> int:
    from engine.compile.pipeline import compile_flow
    from engine.verify.report import summary_line, to_json, to_sarif

    files = find_flow_files(args.paths, args.exclude)
    if not files:
        err.print("switchboard lint: no flow files found in " + " ".join(args.paths))
        return EXIT_USAGE
    findings: list[Diagnostic] = []
    unreadable = False
    for path in files:
        try:  # a flow that passes is compiled too: lint proves it runs
            findings += compile_flow(path).warnings
        except FlowError as exc:
            findings += exc.diagnostics
            unreadable |= any(d.code == "SB001" for d in exc.diagnostics)
    if args.format == "json":
        out.print(to_json(findings), markup=False)
    elif args.format == "sarif":
        out.print(to_sarif(findings, package_version()), markup=False)
    else:
        for d in findings:
            style = "red" if d.severity is Severity.ERROR else "yellow"
            out.print(f"[bold]{escape(str(d.location))}:[/] [{style}]{d.code}[/] {escape(d.message)}")
        out.print(summary_line(findings, len(files)), markup=False)
    if unreadable:
        return EXIT_USAGE
    failing = [d for d in findings if d.severity is Severity.ERROR or args.strict]
    return EXIT_FINDINGS if failing else EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    from engine.render import DotMissing, RenderError, Traffic, TrafficError, read_traffic, render
    from engine.render.legend import traffic_line

    try:
        doc = load_flow(args.flow)
    except FlowError as exc:
        for d in exc.diagnostics:
            err.print(str(d), markup=False)
        return EXIT_USAGE
    traffic: Traffic | None = None
    if args.audit:
        try:
            traffic = read_traffic(args.audit, lambda problem: err.print(problem, markup=False))
        except TrafficError as exc:
            err.print(f"switchboard render: {exc}", markup=False)
            return EXIT_USAGE
    try:
        result = render(doc, args.output, traffic=traffic)
    except DotMissing as exc:
        err.print(f"switchboard render: {exc}", markup=False)
        return EXIT_FINDINGS
    except RenderError as exc:
        err.print(f"switchboard render: {exc}", markup=False)
        return EXIT_USAGE
    if result.path is not None:  # status goes to stderr, so `-o -` stays clean DOT
        status = f"{result.agents} agents, {result.layout} layout"
        if result.traffic is not None:
            status += ", " + traffic_line(result.traffic)
        err.print(f"wrote {result.path} ({status})", markup=False)
    if result.traffic is not None and result.traffic.elsewhere:
        routes = len(result.traffic.elsewhere)
        err.print(
            f"switchboard render: {routes} route{'s' * (routes != 1)} in the audit logs "
            f"{'is' if routes == 1 else 'are'} not in {args.flow} (listed in the legend, not drawn)"
            + ("; were the logs written by another flow?" if result.traffic.busiest == 0 else ""),
            markup=False,
        )
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(flow_json_schema_text())
    return EXIT_OK


def _compiled_or_report(path: str) -> Any:
    """Load, verify and compile ``path``; print the findings and return ``None`` when it does not pass."""
    from engine.compile.pipeline import compile_flow

    try:
        return compile_flow(path)
    except FlowError as exc:
        for d in exc.diagnostics:
            err.print(str(d), markup=False)
        err.print(f"switchboard: {path} does not pass lint; nothing was run", markup=False)
        return None


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from engine.realtime.client import UpstreamError
    from engine.realtime.conversation import ConversationError
    from engine.realtime.runner import (
        RunOptions,
        TranscriptPrinter,
        run_conversation,
        script_or_empty,
        stdin_lines,
    )
    from engine.realtime.tools import ToolBindingError
    from engine.session.audit import AuditSink, JsonlSink, MemorySink

    compiled = _compiled_or_report(args.flow)
    if compiled is None:
        return EXIT_FINDINGS
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

    from engine.realtime.emulator import Emulator
    from engine.realtime.relay import Relay, run_relay
    from engine.realtime.runner import TranscriptPrinter, script_or_empty
    from engine.session.audit import AuditSink, JsonlSink, MemorySink

    compiled = _compiled_or_report(args.flow)
    if compiled is None:
        return EXIT_FINDINGS
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


def cmd_emulate(args: argparse.Namespace) -> int:
    import asyncio

    from engine.realtime.emulator import run_emulator

    try:
        asyncio.run(run_emulator(args.script, args.host, args.port))
    except (OSError, ValueError) as exc:
        err.print(f"switchboard emulate: {exc}", markup=False)
        return EXIT_USAGE
    return EXIT_OK


def cmd_log(args: argparse.Namespace) -> int:
    from engine.session.audit import AuditRecord, read_jsonl
    from engine.session.summary import summarise
    from engine.views import print_summary

    records: list[AuditRecord] = []
    try:
        for line, item in read_jsonl(args.file):
            if isinstance(item, str):
                err.print(f"{args.file}:{line}: {item}", markup=False)
            else:
                records.append(item)
    except OSError as exc:
        err.print(f"switchboard log: cannot read {args.file}: {exc.strerror}", markup=False)
        return EXIT_USAGE
    print_summary(out, summarise(records))
    return EXIT_OK


Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"switchboard {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    lint = sub.add_parser("lint", help="verify flows: references, reachability, depth, fallback, contracts")
    lint.add_argument("paths", nargs="+", metavar="PATH", help="flow files or folders")
    lint.add_argument("--format", choices=["text", "json", "sarif"], default="text")
    lint.add_argument("--strict", action="store_true", help="fail on warnings too")
    lint.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip matching files")
    lint.set_defaults(func=cmd_lint)

    render = sub.add_parser("render", help="draw a flow: .svg .png .pdf (graphviz), .dot, .mmd (Mermaid)")
    render.add_argument("flow", metavar="FLOW", help="a .toml or .json flow file")
    render.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="output file; its extension picks the format ('-': DOT)",
    )
    render.add_argument(
        "--audit",
        action="append",
        metavar="LOG",
        help="overlay the handoffs counted in this audit log (JSON Lines, from run/serve --audit); repeatable",
    )
    render.set_defaults(func=cmd_render)

    schema = sub.add_parser("schema", help="print the flow JSON Schema")
    schema.set_defaults(func=cmd_schema)

    for name, help_text in (
        ("run", "run a scripted conversation (user turns from the script)"),
        ("chat", "type the user's turns yourself"),
    ):
        run = sub.add_parser(name, help=help_text)
        run.add_argument("flow", metavar="FLOW")
        run.add_argument(
            "--script", required=(name == "run"), metavar="FILE", help="emulator rules and user turns (TOML)"
        )
        run.add_argument(
            "--upstream",
            metavar="URL",
            help="a Realtime endpoint instead of the embedded emulator "
            "(e.g. wss://api.openai.com/v1/realtime?model=gpt-realtime; key from OPENAI_API_KEY)",
        )
        run.add_argument("--api-key", default=None, help="API key (default: $OPENAI_API_KEY)")
        run.add_argument("--audit", metavar="FILE", help="append audit records (JSON Lines) to FILE")
        run.add_argument("--audio", action="store_true", help="ask for audio output instead of text")
        run.add_argument(
            "--supervisor-base-url",
            metavar="URL",
            help='base URL of the supervisor\'s Responses API (backend = "openai")',
        )
        run.add_argument("--turn-timeout", type=float, default=30.0, metavar="S")
        run.set_defaults(func=cmd_run)

    serve = sub.add_parser("serve", help="relay: Realtime clients connect here; the flow runs in the middle")
    serve.add_argument("flow", metavar="FLOW")
    serve.add_argument("--upstream", metavar="URL", help="Realtime endpoint (default: an embedded emulator)")
    serve.add_argument("--script", metavar="FILE", help="the embedded emulator's rules")
    serve.add_argument("--api-key", default=None, help="API key (default: $OPENAI_API_KEY)")
    serve.add_argument("--audit", metavar="FILE", help="append audit records (JSON Lines) to FILE")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8766)
    serve.set_defaults(func=cmd_serve)

    emulate = sub.add_parser("emulate", help="serve the local Realtime emulator")
    emulate.add_argument("--host", default="127.0.0.1")
    emulate.add_argument("--port", type=int, default=8765)
    emulate.add_argument("--script", metavar="FILE", help="the emulator's rules (TOML)")
    emulate.set_defaults(func=cmd_emulate)

    log = sub.add_parser("log", help="summarise an audit log")
    log.add_argument("file", metavar="FILE")
    log.set_defaults(func=cmd_log)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
