"""``switchboard render``: diagrams of a flow, optionally with traffic from audit logs."""

from __future__ import annotations

import argparse

from engine.cli.console import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, err
from engine.cli.diagnostics import DiagnosticPrinter
from engine.flow.diagnostics import FlowError
from engine.flow.loader import load_flow


def cmd_render(args: argparse.Namespace) -> int:
    from engine.render import DotMissing, RenderError, Traffic, TrafficError, read_traffic, render
    from engine.render.legend import traffic_line

    try:
        doc = load_flow(args.flow)
    except FlowError as exc:
        show = DiagnosticPrinter(err)
        for d in exc.diagnostics:
            show(d)
        return EXIT_USAGE
    traffic: Traffic | None = None
    if args.audit:
        try:
            traffic = read_traffic(args.audit, lambda problem: err.print(problem, markup=False))
        except TrafficError as exc:
            err.print(f"switchboard render: {exc}", markup=False)
            return EXIT_USAGE
    uncovered = None
    if args.coverage:
        from engine.render.coverage import CoverageError, read_uncovered

        try:
            uncovered = read_uncovered(args.coverage, args.flow)
        except CoverageError as exc:
            err.print(f"switchboard render: {exc}", markup=False)
            return EXIT_USAGE
    try:
        result = render(doc, args.output, traffic=traffic, uncovered=uncovered)
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
        if uncovered is not None:
            status += f", {len(uncovered)} route(s) no test takes"
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
