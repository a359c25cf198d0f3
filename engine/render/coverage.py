"""Coverage from ``switchboard test --coverage --format json``, overlaid on a diagram: the routes no test takes.

:func:`read_uncovered` reads a report (the only I/O here) and picks the flow's entry; :func:`mark_uncovered`
marks those edges, splitting a two-headed pair when only one way is uncovered and drawing an uncovered
implicit fallback out of the collapsed "any agent" edge, so each mark stands on its own route.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from engine.errors import SwitchboardError
from engine.flow.files import read_confined
from engine.render.view import Diagram, Edge, EdgeKind

Route = tuple[str, str]
REPORT_MAX_BYTES = 16 * 1024 * 1024
"""The largest coverage report read (a 10,000-agent flow's is a few MiB)."""

__all__ = ["CoverageError", "mark_uncovered", "read_uncovered"]


class CoverageError(SwitchboardError):
    """A coverage report that cannot be read, or that does not cover the flow drawn."""


def read_uncovered(path: str | Path, flow_file: str | Path) -> set[Route]:
    """The uncovered edges ``path`` reports for ``flow_file`` (the entry whose path resolves to it, else the
    first with its file name: a report written from another folder)."""
    try:  # bounded and non-blocking, like every file read here: /dev/zero or a FIFO is an error, not a hang
        data = json.loads(read_confined(path, None, max_bytes=REPORT_MAX_BYTES))
        flows = data["flows"]
        entries = [(Path(f["flow"]).resolve(), f) for f in flows]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CoverageError(
            f"{path}: not a coverage report of `switchboard test --coverage --format json` ({exc})"
        ) from None
    wanted = Path(flow_file).resolve()
    chosen = [f for at, f in entries if at == wanted] or [f for at, f in entries if at.name == wanted.name][
        :1
    ]
    if not chosen:
        names = ", ".join(str(f.get("flow")) for f in flows) or "none"
        raise CoverageError(f"{path} has no coverage of {flow_file} (it covers: {names})")
    try:
        return {(str(a), str(b)) for a, b in chosen[0]["uncovered_edges"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise CoverageError(f"{path}: malformed uncovered_edges ({exc})") from None


def mark_uncovered(diagram: Diagram, routes: set[Route]) -> Diagram:
    """``diagram`` with every edge in ``routes`` marked uncovered."""
    edges: list[Edge] = []
    for e in diagram.edges:
        forward, backward = (e.source, e.target) in routes, (e.target, e.source) in routes
        if e.both and forward != backward:
            edges.append(replace(e, both=False, uncovered=forward))
            edges.append(Edge(e.target, e.source, e.kind, uncovered=backward))
        else:
            edges.append(replace(e, uncovered=forward or (e.both and backward)))
    fallback_all = diagram.fallback_all
    if fallback_all is not None:
        cold = [s for s in fallback_all.sources if (s, fallback_all.target) in routes]
        edges += [
            Edge(s, fallback_all.target, EdgeKind.FALLBACK, carry=fallback_all.carry, uncovered=True)
            for s in cold
        ]
        rest = tuple(s for s in fallback_all.sources if s not in cold)
        fallback_all = replace(fallback_all, sources=rest) if rest else None
    return replace(diagram, edges=tuple(edges), fallback_all=fallback_all)
