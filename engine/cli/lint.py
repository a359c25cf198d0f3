"""``switchboard lint`` and ``switchboard schema``."""

from __future__ import annotations

import argparse
import fnmatch
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine.cli.console import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, err, out, package_version
from engine.cli.diagnostics import DiagnosticPrinter
from engine.flow.diagnostics import Diagnostic, FlowError, Location, Severity
from engine.flow.document import FORMATS
from engine.flow.schema import flow_json_schema_text

if TYPE_CHECKING:
    from engine.flowtest.case import FlowCache
    from engine.verify.suppress import Suppressed

NOT_FLOWS = {"scripts", "prompts", "tools"}
"""Folders under a flow folder that hold a flow's companions (emulator scripts, prompts, tool code)."""


def find_flow_files(paths: Iterable[str], exclude: Sequence[str] = ()) -> list[Path]:
    """Files as given; folders expanded to their ``.toml``/``.json`` flows and scripts (in companion
    folders, only the scripts that name their flow: the others are a flow's rules files).

    Whatever is named like a flow is listed, FIFOs and dangling links too: lint reports each as ``SB001``
    rather than skipping it in silence."""
    from engine.flowtest.case import names_flow

    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in FORMATS
                and not p.is_dir()
                and (not NOT_FLOWS & set(p.relative_to(path).parts[:-1]) or names_flow(p))
            )
        else:
            candidates = [path]
        found += [p for p in candidates if not any(fnmatch.fnmatch(str(p), pat) for pat in exclude)]
    return found


def cmd_lint(args: argparse.Namespace) -> int:
    from engine.verify.report import summary_line, to_json, to_sarif

    files = find_flow_files(args.paths, args.exclude)
    if not files:
        err.print("switchboard lint: no flow files found in " + " ".join(args.paths))
        return EXIT_USAGE
    findings: list[Diagnostic] = []
    suppressed: list[Suppressed] = []
    unreadable = False
    from engine.flowtest.case import FlowCache

    flows = FlowCache(import_tools=args.import_tools)
    from engine.flowtest.case import is_script_file

    scripts = sum(1 for path in files if is_script_file(path))
    for path in files:
        found, quiet = lint_file(path, import_tools=args.import_tools, flows=flows)
        findings += found
        suppressed += quiet
        unreadable |= any(d.code == "SB001" for d in found)
    if args.format == "json":
        out.print(to_json(findings, suppressed, len(files)), markup=False)
    elif args.format == "sarif":
        out.print(to_sarif(findings, package_version(), base=Path.cwd(), suppressed=suppressed), markup=False)
    else:
        show = DiagnosticPrinter(out)
        for d in findings:
            show(d)
        out.print(summary_line(findings, len(files), suppressed, scripts), markup=False)
    if unreadable:
        return EXIT_USAGE
    failing = [d for d in findings if d.severity is Severity.ERROR or args.strict]
    return EXIT_FINDINGS if failing else EXIT_OK


def lint_file(
    path: Path, *, import_tools: bool = False, flows: FlowCache | None = None
) -> tuple[list[Diagnostic], list[Suppressed]]:
    """Every finding for one flow file (what ``run`` would refuse, and the warnings), and the warnings its
    ignores suppressed; for a script, what it names that its flow lacks. A bug of ours on one file is
    reported as that file's finding (``SB000``), so it never hides the other files' findings."""
    from engine.flowtest.case import is_script_file, lint_script
    from engine.runtime.prepare import lint_flow

    try:  # a flow that passes is compiled and bound too: lint proves it runs
        if is_script_file(path):
            return lint_script(path, flows or FlowCache(import_tools=import_tools)), []
        linted = lint_flow(path, import_tools=import_tools)
        return list(linted.findings), list(linted.suppressed)
    except FlowError as exc:
        return list(exc.diagnostics), []
    except Exception as exc:
        message = f"internal error while linting this file: {type(exc).__name__}: {exc} (please report it)"
        return [Diagnostic("SB000", Severity.ERROR, message, Location(str(path)), rule="internal-error")], []


def cmd_schema(args: argparse.Namespace) -> int:
    if args.script:
        from engine.emulator.schema import script_json_schema_text

        sys.stdout.write(script_json_schema_text())
        return EXIT_OK
    sys.stdout.write(flow_json_schema_text())
    return EXIT_OK
