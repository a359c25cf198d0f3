"""``switchboard test``: run scripts with expectations against the emulator; generate suites; coverage."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.cli.console import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, err, out

if TYPE_CHECKING:
    from engine.flowtest.coverage import Coverage
    from engine.flowtest.runner import CaseResult


def add_test_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    test = sub.add_parser(
        "test", help="run scripts with expectations (files or folders) against the emulator"
    )
    test.add_argument("paths", nargs="*", metavar="PATH", help="scripts, or folders searched for them")
    test.add_argument(
        "--flow", metavar="FLOW", help="the flow to test (instead of the one each script names)"
    )
    test.add_argument(
        "--generate",
        metavar="FLOW",
        help="write a suite generated from FLOW's graph into -o DIR, then run it",
    )
    test.add_argument("-o", "--output", metavar="DIR", help="where --generate writes its scripts")
    test.add_argument("--coverage", action="store_true", help="report the agents, edges, guardrails covered")
    test.add_argument(
        "--format", choices=["text", "json"], default="text", help="the coverage report's format"
    )
    test.add_argument(
        "--fail-under", type=float, metavar="PCT", help="fail when a flow's coverage is below PCT"
    )
    test.add_argument("--junit", metavar="FILE", help="also write JUnit XML for CI")
    test.add_argument("--jobs", type=int, default=4, metavar="N", help="cases run at once (default 4)")
    test.add_argument("--turn-timeout", type=float, default=10.0, metavar="S", help="seconds per turn")
    test.set_defaults(func=cmd_test)


def add_init_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = sub.add_parser(
        "init", help="scaffold a flow folder that lints, renders, runs and passes its tests"
    )
    init.add_argument("name", metavar="NAME", help="the flow's name (and its folder's)")
    init.add_argument("--dir", default=".", metavar="DIR", help="where to create the folder (default: here)")
    init.set_defaults(func=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    from engine.flowtest.generate import generate_suite, write_suite
    from engine.flowtest.scaffold import ScaffoldError, scaffold
    from engine.runtime.prepare import lint_flow

    try:
        written = scaffold(args.name, Path(args.dir))
    except (ScaffoldError, OSError) as exc:
        err.print(f"switchboard init: {exc}", markup=False)
        return EXIT_USAGE
    flow_path, root = written[0], written[0].parent
    linted = lint_flow(flow_path, import_tools=False)
    assert linted.compiled is not None, [str(d) for d in linted.findings]  # the template always lints
    generated = write_suite(generate_suite(linted.compiled.flow), flow_path, root / "tests" / "generated")
    for path in [*written, *generated]:
        out.print(f"  created {path}", markup=False)
    out.print(
        f"next: switchboard lint {root} · switchboard render {flow_path} -o {root}/{args.name}.svg · "
        f"switchboard test {root}/tests --coverage",
        markup=False,
    )
    return EXIT_OK


def cmd_test(args: argparse.Namespace) -> int:
    import asyncio

    from engine.flowtest.case import Case as _Case
    from engine.flowtest.case import CaseError as _CaseError
    from engine.flowtest.case import FlowCache, find_scripts, load_case
    from engine.flowtest.junit import write_junit
    from engine.flowtest.report import error_text
    from engine.flowtest.runner import run_cases

    paths = list(args.paths)
    if args.generate:
        written = _generate(args)
        if written is None:
            return EXIT_USAGE
        paths.append(args.output)
    if args.fail_under is not None:
        args.coverage = True
    if not paths:
        err.print(
            "switchboard test: name scripts or folders to test (or --generate FLOW -o DIR)", markup=False
        )
        return EXIT_USAGE
    report = err if args.format == "json" else out  # JSON alone on stdout
    started = time.perf_counter()
    files = find_scripts(paths)
    if not files:
        err.print("switchboard test: no scripts with expectations in " + " ".join(paths), markup=False)
        return EXIT_USAGE
    flows = FlowCache()
    cases: list[_Case] = []
    errors: list[_CaseError] = []
    for path in files:
        try:
            cases.append(load_case(path, args.flow, flows))
        except _CaseError as exc:
            errors.append(exc)
            report.print(f"[bold red]ERROR[/] {path}", highlight=False)
            report.print(_indented(error_text(exc)), markup=False)
    results = asyncio.run(
        run_cases(cases, jobs=args.jobs, turn_timeout=args.turn_timeout, on_result=lambda r: _show(report, r))
    )
    if args.junit:
        write_junit(args.junit, results, errors)
    failed = sum(1 for r in results if not r.passed)
    seconds = time.perf_counter() - started
    report.print(
        f"{len(results) - failed} passed, {failed} failed, {len(errors)} could not run ({seconds:.2f} s)"
        + (f"; JUnit XML: {args.junit}" if args.junit else ""),
        markup=False,
    )
    below = False
    if args.coverage:
        reports = _coverage(results)
        if args.format == "json":
            from engine.flowtest.coverage import report_json

            out.print(report_json(reports), markup=False, end="")
        else:
            _coverage_table(reports)
        if args.fail_under is not None:
            for c in reports:
                if c.percent() < args.fail_under:
                    below = True
                    err.print(
                        f"switchboard test: {c.flow}: coverage {c.percent():.1f}% is under {args.fail_under:g}%",
                        markup=False,
                    )
    if errors:
        return EXIT_USAGE
    return EXIT_FINDINGS if failed or below else EXIT_OK


def _show(console: Any, result: CaseResult) -> None:
    from engine.flowtest.report import failure_text, status_line

    style = "green" if result.passed else "bold red"
    word, rest = status_line(result).split(" ", 1)
    console.print(f"[{style}]{word}[/] {rest}", highlight=False)
    if not result.passed:
        console.print(_indented(failure_text(result)), markup=False)


def _generate(args: argparse.Namespace) -> list[Path] | None:
    """Write the generated suite of ``--generate FLOW`` into ``-o DIR``; ``None`` (reported) on bad input."""
    from engine.flowtest.generate import generate_suite, write_suite
    from engine.runtime.prepare import lint_flow

    if not args.output:
        err.print("switchboard test: --generate needs -o DIR (where to write the scripts)", markup=False)
        return None
    linted = lint_flow(args.generate, import_tools=False)
    if linted.compiled is None:
        from engine.cli.diagnostics import DiagnosticPrinter

        show = DiagnosticPrinter(err)
        for d in linted.findings:
            show(d)
        err.print(f"switchboard test: {args.generate} does not pass lint; nothing generated", markup=False)
        return None
    suite = generate_suite(linted.compiled.flow)
    try:
        written = write_suite(suite, Path(args.generate), Path(args.output))
    except OSError as exc:
        err.print(f"switchboard test: cannot write the suite into {args.output}: {exc}", markup=False)
        return None
    err.print(f"generated {len(written)} case(s) from {args.generate} into {args.output}", markup=False)
    for note in suite.notes:
        err.print(f"  note: {note}", markup=False)
    return written


def _coverage(results: list[CaseResult]) -> list[Coverage]:
    """One report per flow the results ran (in the order first seen)."""
    from engine.flowtest.coverage import Coverage, targets_of

    reports: dict[str, Coverage] = {}
    for result in results:
        compiled = result.case.compiled
        key = str(Path(compiled.doc.file).resolve())
        if key not in reports:
            reports[key] = Coverage(compiled.doc.file, targets_of(compiled.flow))
        reports[key].add(compiled.flow, result.observation.records)
    return list(reports.values())


def _coverage_table(reports: list[Coverage]) -> None:
    from rich.table import Table

    from engine.flowtest.coverage import KINDS

    table = Table(title="coverage", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("flow", no_wrap=True, min_width=max(len(c.flow) for c in reports))
    for header in ("cases", *(f"{kind}s" for kind in KINDS), "total"):  # headers never ellipsized
        table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    for c in reports:
        cells = []
        for kind in KINDS:
            wanted = c.counted(kind)
            done = sum(1 for t in wanted if t.name in c.covered)
            cells.append(f"{done}/{len(wanted)}" if wanted else "-")
        total = c.percent()
        style = "green" if total >= 100 else "yellow"
        table.add_row(c.flow, str(c.cases), *cells, f"[{style}]{total:.0f}%[/]")
    out.print(table, width=max(out.width, 160))  # the table keeps its own width: never cut to the terminal
    for c in reports:
        missed = c.missed()
        if missed:
            out.print(f"{c.flow}: not covered: {', '.join(missed)}", markup=False)
        unreachable = c.unreachable()
        if unreachable:
            out.print(f"{c.flow}: no conversation can reach: {', '.join(unreachable)}", markup=False)


def _indented(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())
