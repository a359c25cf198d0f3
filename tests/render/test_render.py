"""The renderer: DOT/SVG/Mermaid from the routing graph, the no-``dot`` fallback, and the committed diagrams.

Mermaid output is checked by reading it back with the small reader below (written here, independently of
the writer) and comparing the edges with ``engine.verify.graph.routing_graph``.
"""

from __future__ import annotations

import io
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from engine.flow.loader import FlowDocument, SourceMap, load_flow
from engine.flow.model import Flow
from engine.render import (
    INSTALL_HINT,
    DotMissing,
    RenderError,
    committed_dot_hash,
    dot_hash,
    render,
    render_sources,
    style,
)
from engine.render.text import ELLIPSIS, clip, shorten
from engine.verify import verify
from engine.verify.graph import routing_graph
from tools.synthetic import synthetic_document

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "flows").glob("*.toml"))
DIAGRAMS = ROOT / "docs" / "diagrams"
SVG_NS = "{http://www.w3.org/2000/svg}"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' is not installed")

Route = tuple[str, str, str]


# --- a Mermaid reader, independent of the writer ---------------------------------------------------------------

_NODE = re.compile(r"^\s*(?P<id>[A-Za-z_]\w*)(?:\(\(|\(\[|\[\[|\(|\[)")
_EDGE = re.compile(
    r'^\s*(?P<src>[A-Za-z_]\w*)\s+(?P<arrow><-->|-->|-\.->|===|---)(?:\|"(?P<label>[^"|]*)"\|)?\s+(?P<dst>[A-Za-z_]\w*)\s*$'
)


@dataclass
class Mermaid:
    nodes: set[str] = field(default_factory=set)
    edges: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(source id, arrow, target id, label)."""

    def agents(self) -> set[str]:
        return {n[2:] for n in self.nodes if n.startswith("a_")}

    def routes(self) -> set[Route]:
        """The agent-to-agent routes drawn, with ``f_any -.-> a_r`` expanded to every agent it stands for."""
        found: set[Route] = set()
        for src, arrow, dst, _ in self.edges:
            if src.startswith("a_") and dst.startswith("a_"):
                kind = "fallback" if arrow == "-.->" else "handoff"
                found.add((src[2:], dst[2:], kind))
                if arrow == "<-->":
                    found.add((dst[2:], src[2:], kind))
        for src, arrow, dst, _ in self.edges:
            if src == "f_any":
                assert arrow == "-.->"
                recovery = dst[2:]
                declared = {s for s, t, k in found if t == recovery and k == "handoff"}
                found |= {(a, recovery, "fallback") for a in self.agents() - declared - {recovery}}
        return found


def read_mermaid(text: str) -> Mermaid:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("%%")]
    assert lines[0].startswith("flowchart "), lines[:1]
    out = Mermaid()
    for line in lines[1:]:
        stripped = line.strip()
        if (
            not stripped
            or stripped.startswith(("%%", "classDef", "subgraph", "direction"))
            or stripped == "end"
        ):
            continue
        edge = _EDGE.match(line)
        if edge:
            out.edges.append((edge["src"], edge["arrow"], edge["dst"], edge["label"] or ""))
            continue
        node = _NODE.match(line)
        assert node, f"unreadable Mermaid line: {line!r}"
        out.nodes.add(node["id"])
    for src, _, dst, _ in out.edges:
        assert src in out.nodes and dst in out.nodes, (src, dst)
    return out


def graph_routes(flow: Flow) -> set[Route]:
    return {(a, b, data["kind"]) for a, b, data in routing_graph(flow).edges(data=True)}


# --- helpers ---------------------------------------------------------------------------------------------------


def svg_nodes(svg: str) -> dict[str, list[str]]:
    """``<g class="node">`` by title: the texts drawn in it (and its fill colours, prefixed ``fill:``)."""
    root = ET.fromstring(svg)
    found: dict[str, list[str]] = {}
    for g in root.iter(f"{SVG_NS}g"):
        if g.get("class") != "node":
            continue
        title = g.findtext(f"{SVG_NS}title") or ""
        texts = [t.text or "" for t in g.iter(f"{SVG_NS}text")]
        fills = [f"fill:{e.get('fill')}" for e in g.iter() if e.get("fill") not in (None, "none")]
        found[title] = texts + fills
    return found


def doc_of(flow: Flow) -> FlowDocument:
    return FlowDocument(flow, SourceMap("<test>"))


UNREACHABLE = """
[flow]
name = "sb201"
entry = "front"
recovery = "helper"

[agents.front]
description = "Greets."
handoffs = ["helper"]

[agents.helper]
terminal = true

[agents.billing]
description = "Nobody routes here."
terminal = true
"""


# --- shipped flows ---------------------------------------------------------------------------------------------


@needs_dot
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_svg_is_valid_xml_and_names_every_agent(path: Path, tmp_path: Path) -> None:
    doc = load_flow(path)
    result = render(doc, tmp_path / "flow.svg")
    svg = (tmp_path / "flow.svg").read_text(encoding="utf-8")
    nodes = svg_nodes(svg)
    for agent in doc.flow.agents:
        assert agent in nodes, f"{agent} is not drawn"
        assert agent in nodes[agent], f"{agent} is not named in its box"
    assert committed_dot_hash(svg) == result.dot_sha256
    legend = " ".join(t.text or "" for t in ET.fromstring(svg).iter(f"{SVG_NS}text"))
    assert "first agent" in legend and "fallback agent" in legend


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_mermaid_reads_back_into_the_routing_graph(path: Path) -> None:
    doc = load_flow(path)
    sources = render_sources(doc)
    mermaid = read_mermaid(sources.mermaid)
    assert mermaid.agents() == set(doc.flow.agents)
    assert mermaid.routes() == graph_routes(doc.flow)


def test_retail_edges_carry_their_rule_and_keys() -> None:
    doc = load_flow(ROOT / "flows" / "retail.toml")
    dot = render_sources(doc).dot
    assert "carry: user_id" in dot
    assert "the caller is verified and" in dot  # the `when` rule, shortened and wrapped
    assert "RECOVERY" in dot and "ENTRY" in dot and "≤3 visits" in dot


def test_fallback_of_every_agent_is_drawn_once() -> None:
    doc = load_flow(ROOT / "flows" / "simple_handoff.toml")
    sources = render_sources(doc)
    assert sources.diagram.fallback_all is not None
    assert set(sources.diagram.fallback_all.sources) == {"greeter", "haiku_writer"}
    fallback_edges = [line for line in sources.dot.splitlines() if "style=dashed" in line and "->" in line]
    assert len(fallback_edges) == 1 and "__any_agent -> generalist" in fallback_edges[0]


def test_supervisor_flow_shows_front_agent_supervisor_and_escalation_states() -> None:
    doc = load_flow(ROOT / "flows" / "chat_supervisor.toml")
    sources = render_sources(doc)
    dot = sources.dot
    assert "FRONT AGENT" in dot and "<B>supervisor</B>" in dot and "gpt-4.1" in dot
    assert "__chatting -> __escalated" in dot and "__escalated -> __chatting" in dot
    assert "chat_agent -> __chatting" in dot
    mermaid = read_mermaid(sources.mermaid)
    assert {"e_chatting", "e_escalated", "e_supervisor"} <= mermaid.nodes


# --- committed diagrams ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_committed_diagram_is_up_to_date(path: Path) -> None:
    """docs/diagrams/NAME.svg carries the hash of the DOT it was drawn from; a fresh DOT must hash the same.

    The DOT text, not the SVG bytes, is compared: the SVG differs between graphviz versions and fonts.
    """
    diagram = DIAGRAMS / f"{path.stem}.svg"
    assert diagram.exists(), f"{diagram} is missing: run `make diagrams`"
    svg = diagram.read_text(encoding="utf-8")
    ET.fromstring(svg)
    fresh = render_sources(load_flow(path)).dot_sha256
    assert committed_dot_hash(svg) == fresh, f"{diagram} is out of date with {path}: run `make diagrams`"


# --- broken flows ----------------------------------------------------------------------------------------------


@needs_dot
def test_broken_flow_marks_the_flagged_agent_with_its_code(
    parse_toml: Callable[..., FlowDocument], tmp_path: Path
) -> None:
    doc = parse_toml(UNREACHABLE)
    assert any(d.code == "SB201" and "billing" in d.agents for d in verify(doc))
    render(doc, tmp_path / "broken.svg")
    nodes = svg_nodes((tmp_path / "broken.svg").read_text(encoding="utf-8"))
    billing = " ".join(nodes["billing"])
    assert "SB201" in billing and f"fill:{style.ERROR_FILL}" in billing
    assert "SB201" not in " ".join(nodes["front"])
    assert f"fill:{style.ENTRY_FILL}" in nodes["front"]


@needs_dot
@pytest.mark.parametrize(
    "path", sorted((ROOT / "flows" / "broken").glob("sb[1-4]*.toml")), ids=lambda p: p.stem
)
def test_every_loadable_broken_flow_renders_with_its_codes(path: Path, tmp_path: Path) -> None:
    doc = load_flow(path)
    findings = verify(doc)
    render(doc, tmp_path / "broken.svg", diagnostics=findings)
    nodes = svg_nodes((tmp_path / "broken.svg").read_text(encoding="utf-8"))
    for d in findings:
        for agent in d.agents:
            if agent in doc.flow.agents:
                assert any(d.code in text for text in nodes[agent]), (d.code, agent)


TRICKY = r"""
[flow]
name = "tricky"
entry = "end"
recovery = "graph"
description = 'quotes " pipes | hashes # <tags> & back\\slash ]'

[agents.end]
description = "<>"
handoffs = ["graph", "node"]
group = 'we"ird <group> ]'

[agents.graph]
description = 'ends in a backslash \\'
handoffs = ["end"]
terminal = true

[agents.node]
description = "[x]"
handoffs = ["end"]

[[handoff]]
from = "end"
to = "node"
when = 'the caller says "hi" | <b>bold</b> & ends with ]'
carry = []
"""


@needs_dot
def test_text_that_dot_or_mermaid_would_read_is_escaped(
    parse_toml: Callable[..., FlowDocument], tmp_path: Path
) -> None:
    """Regressions found by the property tests: a label ending in ``]``, a tooltip ``<>``, a backslash."""
    doc = parse_toml(TRICKY)
    render(doc, tmp_path / "t.svg")
    nodes = svg_nodes((tmp_path / "t.svg").read_text(encoding="utf-8"))
    assert {"end", "graph", "node"} <= set(nodes)
    assert read_mermaid(render_sources(doc).mermaid).routes() == graph_routes(doc.flow)


# --- formats, stdout, errors -----------------------------------------------------------------------------------


@needs_dot
def test_png_and_pdf_go_through_dot(tmp_path: Path) -> None:
    doc = load_flow(ROOT / "flows" / "simple_handoff.toml")
    render(doc, tmp_path / "f.png", diagnostics=[])
    render(doc, tmp_path / "f.pdf", diagnostics=[])
    assert (tmp_path / "f.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "f.pdf").read_bytes().startswith(b"%PDF")


def test_dot_and_mermaid_files_and_stdout(tmp_path: Path) -> None:
    doc = load_flow(ROOT / "flows" / "retail.toml")
    sources = render_sources(doc)
    render(doc, tmp_path / "f.dot")
    render(doc, tmp_path / "f.mmd")
    assert (tmp_path / "f.dot").read_text(encoding="utf-8") == sources.dot
    assert (tmp_path / "f.mmd").read_text(encoding="utf-8") == sources.mermaid
    out = io.StringIO()
    result = render(doc, "-", stdout=out)
    assert out.getvalue() == sources.dot and out.getvalue().startswith("digraph retail {")
    assert result.path is None and result.dot_sha256 == dot_hash(sources.dot)


def test_unknown_extension_is_an_error(tmp_path: Path) -> None:
    doc = load_flow(ROOT / "flows" / "retail.toml")
    with pytest.raises(RenderError, match=r"unknown format '\.jpeg'"):
        render(doc, tmp_path / "f.jpeg")
    assert not list(tmp_path.iterdir())


def test_dot_source_is_deterministic() -> None:
    doc = load_flow(ROOT / "flows" / "retail.toml")
    assert render_sources(doc).dot == render_sources(load_flow(ROOT / "flows" / "retail.toml")).dot


@pytest.mark.parametrize("suffix", [".svg", ".png", ".pdf"])
def test_without_dot_writes_dot_and_mermaid_and_says_how_to_install(
    suffix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    doc = load_flow(ROOT / "flows" / "retail.toml")
    out = tmp_path / "out" / f"retail{suffix}"
    with pytest.raises(DotMissing) as caught:
        render(doc, out)
    assert INSTALL_HINT in str(caught.value)
    assert "apt-get install graphviz" in str(caught.value) and "brew install graphviz" in str(caught.value)
    assert not out.exists()
    assert caught.value.written == (out.with_suffix(".dot"), out.with_suffix(".mmd"))
    assert out.with_suffix(".dot").read_text(encoding="utf-8").startswith("digraph retail {")
    read_mermaid(out.with_suffix(".mmd").read_text(encoding="utf-8"))
    render(doc, tmp_path / "plain.dot")  # text formats need no binary
    render(doc, tmp_path / "plain.mmd")


# --- size ------------------------------------------------------------------------------------------------------


@needs_dot
def test_a_200_agent_flow_renders(tmp_path: Path) -> None:
    """No time assertion here: the timings are in docs/benchmarks.md (tools/bench_render.py)."""
    doc = synthetic_document(200)
    result = render(doc, tmp_path / "big.svg")
    assert result.layout == "large" and result.agents == 200
    nodes = svg_nodes((tmp_path / "big.svg").read_text(encoding="utf-8"))
    assert set(doc.flow.agents) <= set(nodes)
    assert read_mermaid(render_sources(doc).mermaid).routes() == graph_routes(doc.flow)


def test_layout_follows_size() -> None:
    assert render_sources(synthetic_document(6)).layout is style.SMALL
    assert render_sources(synthetic_document(20)).layout is style.MEDIUM
    assert render_sources(synthetic_document(50)).layout is style.LARGE


# --- text helpers ----------------------------------------------------------------------------------------------


def test_shorten_and_clip() -> None:
    assert shorten("a  b\n c", 10) == "a b c"
    long = "the caller is upset or frustrated, or explicitly asks for a human agent"
    cut = shorten(long, 30)
    assert len(cut) <= 30 and cut.endswith(ELLIPSIS) and long.startswith(cut[:-1])
    lines = clip(long, 20, 2)
    assert len(lines) == 2 and all(len(line) <= 21 for line in lines) and lines[-1].endswith(ELLIPSIS)
    assert clip("short", 20, 2) == ["short"]


def test_a_suppressed_warning_does_not_colour_the_diagram(tmp_path: Path) -> None:
    loop = (
        '[flow]\nname = "loop"\nentry = "a"\nrecovery = "z"\n{lint}\n[agents.a]\nhandoffs = ["b"]\n\n'
        '[agents.b]\nhandoffs = ["a"]\n\n[agents.z]\nterminal = true\n'
    )
    plain, ignored = tmp_path / "plain.toml", tmp_path / "ignored.toml"
    plain.write_text(loop.format(lint=""))
    ignored.write_text(loop.format(lint='\n[lint]\nignore = ["SB206"]\n'))
    warned = render_sources(load_flow(plain)).dot
    quiet = render_sources(load_flow(ignored)).dot
    assert warned != render_sources(load_flow(plain), []).dot  # the SB206 warning shows
    assert quiet == render_sources(load_flow(ignored), []).dot  # suppressed: drawn as if clean
