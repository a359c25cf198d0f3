"""The ``switchboard`` command: lint, schema, render, run, chat, emulate, serve, log.

Exit codes: 0 clean, 1 findings (or a failed run), 2 usage error or unreadable input.

Start-up is part of every command's time, so a command's module is imported only when that command runs
(``tools/bench_lint.py`` holds lint of a small flow to < 2x the bare start-up, ``switchboard --version``).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence

from engine.cli.console import package_version
from engine.cli.lint import cmd_lint, cmd_schema
from engine.cli.test import add_init_parser, add_test_parser

Command = Callable[[argparse.Namespace], int]


def deferred(module: str, name: str) -> Command:
    """The command ``name`` of ``module``, imported when it runs."""

    def command(args: argparse.Namespace) -> int:
        func: Command = getattr(importlib.import_module(module), name)
        return func(args)

    return command


def _api_key_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-key-file",
        metavar="FILE",
        help="read the upstream API key from FILE (default: $OPENAI_API_KEY; never a command-line value)",
    )


def _context_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--context", action="append", default=[], metavar="KEY=VALUE", help=f"{what}; repeatable"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"switchboard {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    lint = sub.add_parser("lint", help="verify flows: references, reachability, depth, fallback, contracts")
    lint.add_argument("paths", nargs="+", metavar="PATH", help="flow files or folders")
    lint.add_argument("--format", choices=["text", "json", "sarif"], default="text")
    lint.add_argument("--strict", action="store_true", help="fail on warnings too")
    lint.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip matching files")
    lint.add_argument(
        "--import-tools",
        action="store_true",
        help="import each tool's module (this RUNS that code) to check its function and signature",
    )
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
        help="overlay the handoffs counted in this audit log (JSON Lines, sqlite:PATH or redis://; from run/serve --audit); repeatable",
    )
    render.add_argument(
        "--coverage",
        metavar="REPORT",
        help="dash the routes no test takes (REPORT: `switchboard test --coverage --format json` output)",
    )
    render.set_defaults(func=deferred("engine.cli.render", "cmd_render"))

    rule = sub.add_parser("rule", help="list the lint rules, or explain one (what, why, an example, the fix)")
    rule.add_argument(
        "code", nargs="?", metavar="CODE", help="a rule code (SB301) or name (required-key-lost)"
    )
    rule.set_defaults(func=deferred("engine.cli.rule", "cmd_rule"))

    schema = sub.add_parser("schema", help="print the flow JSON Schema (or the script's, with --script)")
    schema.add_argument("--script", action="store_true", help="the schema of test and emulator scripts")
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
        _api_key_file(run)
        run.add_argument("--audit", metavar="FILE", help="append audit records (JSON Lines) to FILE")
        run.add_argument("--audio", action="store_true", help="ask for audio output instead of text")
        run.add_argument(
            "--supervisor-base-url",
            metavar="URL",
            help='base URL of the supervisor\'s Responses API (backend = "openai")',
        )
        run.add_argument("--turn-timeout", type=float, default=30.0, metavar="S")
        _context_flag(run, "trusted initial context (a key the flow declares in [flow] initial_context)")
        run.set_defaults(func=deferred("engine.cli.run", "cmd_run"))

    serve = sub.add_parser("serve", help="relay: Realtime clients connect here; the flow runs in the middle")
    serve.add_argument("flow", metavar="FLOW")
    serve.add_argument("--upstream", metavar="URL", help="Realtime endpoint (default: an embedded emulator)")
    serve.add_argument("--script", metavar="FILE", help="the embedded emulator's rules")
    _api_key_file(serve)
    serve.add_argument(
        "--no-auth",
        action="store_true",
        help="accept clients without a credential (only on a loopback --host); default: $SWITCHBOARD_TOKEN "
        "or a client secret is required",
    )
    serve.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a browser Origin allowed to connect (e.g. https://app.example); repeatable; default: none",
    )
    serve.add_argument(
        "--admin-port",
        type=int,
        metavar="PORT",
        help="serve POST /v1/realtime/client_secrets here (authorised by $SWITCHBOARD_TOKEN)",
    )
    serve.add_argument(
        "--audit",
        metavar="FILE|URL",
        help="write audit records: a JSON Lines FILE (appended), sqlite:PATH or redis://HOST:PORT/DB (a Stream)",
    )
    serve.add_argument(
        "--store",
        metavar="URL",
        help="where conversations are kept to resume: sqlite:PATH, redis://HOST:PORT/DB or memory: "
        "(default: sqlite:$XDG_STATE_HOME/switchboard/conversations.db)",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8766)
    _context_flag(
        serve, "trusted initial context for every connection (a key declared in [flow] initial_context)"
    )
    serve.add_argument("--transcript", action="store_true", help="print each conversation (bounded lines)")
    serve.add_argument(
        "--expose-session",
        action="store_true",
        help="show clients the full session (every agent's instructions and tools); default: redacted",
    )
    serve.add_argument(
        "--max-frame", type=int, default=1024 * 1024, metavar="BYTES", help="largest client frame (1 MiB)"
    )
    serve.add_argument(
        "--max-conversations", type=int, default=256, metavar="N", help="live conversations; then HTTP 503"
    )
    serve.add_argument(
        "--send-timeout-s",
        type=float,
        default=10.0,
        metavar="S",
        help="a client not reading this long is cut",
    )
    serve.add_argument(
        "--idle-timeout-s", type=float, default=600.0, metavar="S", help="close silent clients (0: never)"
    )
    serve.add_argument(
        "--drain-s", type=float, default=10.0, metavar="S", help="on SIGTERM/SIGINT, let responses finish"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="relay processes sharing the port (SO_REUSEPORT; Linux): one per core",
    )
    serve.set_defaults(func=deferred("engine.cli.run", "cmd_serve"))

    emulate = sub.add_parser("emulate", help="serve the local Realtime emulator")
    emulate.add_argument("--host", default="127.0.0.1")
    emulate.add_argument("--port", type=int, default=8765)
    emulate.add_argument("--script", metavar="FILE", help="the emulator's rules (TOML)")
    emulate.set_defaults(func=deferred("engine.cli.run", "cmd_emulate"))

    add_test_parser(sub)
    add_init_parser(sub)

    playground = sub.add_parser("playground", help="a web page to talk to a flow and watch it route")
    playground.add_argument(
        "target", metavar="FLOW_OR_DIR", help="a flow file, or a folder of flows to pick from"
    )
    answers = playground.add_mutually_exclusive_group()
    answers.add_argument(
        "--script", metavar="FILE", help="the emulator's rules (default: scripts/NAME.toml beside the flow)"
    )
    answers.add_argument("--upstream", metavar="URL", help="a real Realtime endpoint instead of the emulator")
    playground.add_argument(
        "--port", type=int, default=8770, help="the page and the protocol (loopback only)"
    )
    playground.set_defaults(func=deferred("engine.cli.playground", "cmd_playground"))

    log = sub.add_parser("log", help="summarise an audit log")
    log.add_argument(
        "file", metavar="FILE|URL", help="a JSON Lines file, sqlite:PATH or redis://HOST:PORT/DB"
    )
    log.set_defaults(func=deferred("engine.cli.log", "cmd_log"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
