"""``render``: a flow document to a file (format by extension), with the no-``dot`` fallback."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import graphviz

from engine.errors import SwitchboardError
from engine.flow.diagnostics import Diagnostic
from engine.flow.loader import FlowDocument
from engine.render.coverage import mark_uncovered
from engine.render.dot import diagram_digraph, layout_of
from engine.render.mermaid import diagram_mermaid
from engine.render.style import Layout
from engine.render.traffic import Traffic, overlay
from engine.render.view import Diagram, TrafficSummary, build_diagram

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot", ".mmd": "mermaid"}
"""Output extension -> format."""
DOT_FORMATS = frozenset({"svg", "png", "pdf"})
"""Formats drawn by the graphviz ``dot`` binary."""
INSTALL_HINT = "install graphviz: apt-get install graphviz (Debian/Ubuntu) or brew install graphviz"
MARKER = "switchboard:dot-sha256="
"""An SVG written by :func:`render` carries ``<!-- switchboard:dot-sha256=HEX -->``: the hash of its DOT."""
_MARKER_RE = re.compile(re.escape(MARKER) + r"([0-9a-f]{64})")


class RenderError(SwitchboardError):
    """The diagram could not be written (unknown format, ``dot`` failed, output not writable)."""


class DotMissing(RenderError):
    """No ``dot`` binary: the image was not drawn, but the ``.dot`` and ``.mmd`` were written (``written``)."""

    def __init__(self, message: str, written: Sequence[Path]) -> None:
        super().__init__(message)
        self.written = tuple(written)


@dataclass(frozen=True)
class Sources:
    """Everything drawn for one flow: the diagram, the layout preset chosen for its size, DOT and Mermaid."""

    diagram: Diagram
    layout: Layout
    dot: str
    mermaid: str

    @property
    def dot_sha256(self) -> str:
        return dot_hash(self.dot)


@dataclass(frozen=True)
class RenderResult:
    path: Path | None
    """The file written (``None``: DOT went to stdout)."""
    format: str
    layout: str
    """The layout preset chosen for the flow's size (``small``, ``medium``, ``large``)."""
    dot_sha256: str
    agents: int
    edges: int
    seconds: float
    """Time spent in ``dot`` (0 for DOT and Mermaid output)."""
    traffic: TrafficSummary | None = None
    """The totals of the traffic overlay (``None``: none was asked for)."""


def dot_hash(dot: str) -> str:
    return hashlib.sha256(dot.encode("utf-8")).hexdigest()


def committed_dot_hash(svg: str) -> str | None:
    """The DOT hash an SVG written by :func:`render` carries (``None``: not one of ours)."""
    match = _MARKER_RE.search(svg)
    return match.group(1) if match else None


def render_sources(
    doc: FlowDocument,
    diagnostics: Sequence[Diagnostic] | None = None,
    traffic: Traffic | None = None,
    uncovered: set[tuple[str, str]] | None = None,
) -> Sources:
    """DOT and Mermaid text of ``doc``; ``diagnostics`` default to the verifier's findings.

    ``traffic`` (counted from audit logs) is overlaid on the edges; the layout preset stays the one the plain
    diagram gets, so the two pictures of a flow look alike.
    """
    if diagnostics is None:
        from engine.verify import verify
        from engine.verify.suppress import comment_text, settle

        # what lint reports: a suppressed warning does not colour its agent either
        diagnostics = settle(doc, verify(doc), comment_text(Path(doc.source.file))).reported
    diagram = build_diagram(doc.flow, diagnostics)
    layout = layout_of(diagram)
    if traffic is not None:
        diagram = overlay(diagram, traffic)
    if uncovered is not None:
        diagram = mark_uncovered(diagram, uncovered)
    return Sources(
        diagram, layout, str(diagram_digraph(diagram, layout).source), diagram_mermaid(diagram, layout)
    )


def render(
    doc: FlowDocument,
    out: Path | str,
    *,
    diagnostics: Sequence[Diagnostic] | None = None,
    stdout: TextIO | None = None,
    traffic: Traffic | None = None,
    uncovered: set[tuple[str, str]] | None = None,
) -> RenderResult:
    """Draw ``doc`` into ``out`` (format by extension; ``"-"``: DOT to ``stdout``), with ``traffic`` overlaid.

    Raises :class:`RenderError` for an unknown extension or a failed ``dot``, and :class:`DotMissing` when an
    image was asked for and ``dot`` is not installed (after writing the ``.dot`` and ``.mmd`` beside ``out``).
    """
    sources = render_sources(doc, diagnostics, traffic, uncovered)
    path, fmt, seconds = _output(sources, out, stdout)
    return RenderResult(
        path,
        fmt,
        sources.layout.name,
        sources.dot_sha256,
        len(sources.diagram.nodes),
        len(sources.diagram.edges),
        seconds,
        sources.diagram.traffic,
    )


def _output(sources: Sources, out: Path | str, stdout: TextIO | None) -> tuple[Path | None, str, float]:
    """Write ``sources`` as :func:`render` says; the file written, its format and the seconds ``dot`` took."""
    if str(out) == "-":
        (stdout or sys.stdout).write(sources.dot)
        return None, "dot", 0.0
    path = Path(out)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise RenderError(
            f"cannot render {path}: unknown format {path.suffix or '(none)'!r}; use one of {known}"
        )
    started = time.perf_counter()
    if fmt == "dot":
        _write(path, sources.dot.encode("utf-8"))
    elif fmt == "mermaid":
        _write(path, sources.mermaid.encode("utf-8"))
    else:
        _write(path, _draw(sources, fmt, path))
    return path, fmt, time.perf_counter() - started if fmt in DOT_FORMATS else 0.0


def _draw(sources: Sources, fmt: str, path: Path) -> bytes:
    if shutil.which("dot") is None:
        _dot_missing(sources, path)
    try:
        data = _pipe(sources, fmt, str(path))
    except graphviz.ExecutableNotFound:
        _dot_missing(sources, path)
    if fmt == "svg":
        data = _mark(data, sources.dot_sha256)
    return data


def svg_of(sources: Sources) -> bytes:
    """The diagram as SVG, in memory (the playground's live graph); :class:`RenderError` without ``dot``."""
    if shutil.which("dot") is None:
        raise RenderError(f"the graphviz 'dot' program is not on PATH; {INSTALL_HINT}")
    return _mark(_pipe(sources, "svg", "the diagram"), sources.dot_sha256)


def _pipe(sources: Sources, fmt: str, what: str) -> bytes:
    try:
        data: bytes = graphviz.pipe("dot", fmt, sources.dot.encode("utf-8"), quiet=True)
    except graphviz.CalledProcessError as exc:
        detail = exc.stderr.decode("utf-8", "replace").strip() if isinstance(exc.stderr, bytes) else ""
        raise RenderError(f"dot failed to draw {what}: {detail or exc}") from None
    return data


def _dot_missing(sources: Sources, path: Path) -> None:
    written = [path.with_suffix(".dot"), path.with_suffix(".mmd")]
    _write(written[0], sources.dot.encode("utf-8"))
    _write(written[1], sources.mermaid.encode("utf-8"))
    raise DotMissing(
        f"cannot draw {path}: the graphviz 'dot' program is not on PATH; {INSTALL_HINT}. "
        f"Wrote {written[0]} and {written[1]} instead (the .mmd renders in GitHub Markdown).",
        written,
    )


def _mark(svg: bytes, digest: str) -> bytes:
    """``svg`` with the DOT hash as a comment just before the ``<svg`` element."""
    marker = f"<!-- {MARKER}{digest} -->\n".encode()
    at = svg.find(b"<svg")
    return svg[:at] + marker + svg[at:] if at >= 0 else svg + marker


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, so a reader never sees half a diagram."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise RenderError(f"cannot write {path}: {exc.strerror or exc}") from None
