"""Layer 6: diagrams of a flow, drawn from the routing graph the verifier checks.

:func:`render` writes one file whose format follows the extension: ``.svg``, ``.png``, ``.pdf`` (through the
graphviz ``dot`` binary), ``.dot``/``.gv`` (DOT text) or ``.mmd`` (Mermaid); ``"-"`` writes DOT to stdout.
Without ``dot`` an image cannot be made: :class:`DotMissing` says how to install it, after the ``.dot`` and
``.mmd`` have been written next to the requested file. With a :class:`Traffic` (counted from audit logs by
:func:`read_traffic`), each edge also shows how many handoffs took it.
"""

from engine.render.api import (
    DOT_FORMATS,
    FORMATS,
    INSTALL_HINT,
    MARKER,
    DotMissing,
    RenderError,
    RenderResult,
    Sources,
    committed_dot_hash,
    dot_hash,
    render,
    render_sources,
)
from engine.render.dot import dot_source
from engine.render.mermaid import mermaid_source
from engine.render.traffic import Traffic, TrafficError, read_traffic
from engine.render.view import Diagram, build_diagram

__all__ = [
    "DOT_FORMATS",
    "FORMATS",
    "INSTALL_HINT",
    "MARKER",
    "Diagram",
    "DotMissing",
    "RenderError",
    "RenderResult",
    "Sources",
    "Traffic",
    "TrafficError",
    "build_diagram",
    "committed_dot_hash",
    "dot_hash",
    "dot_source",
    "mermaid_source",
    "read_traffic",
    "render",
    "render_sources",
]
