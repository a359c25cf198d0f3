"""The traffic overlay: `switchboard render FLOW -o OUT --audit LOG`, counts from audit logs on the edges.

The logs are real: the scripted retail (and chat-supervisor) conversations run through the real CLI. The retail
script goes authentication -x-> returns (refused: no user_id yet), authentication -> returns, returns -> sales,
sales -> simulated_human, simulated_human -> returns, returns -> sales, sales -> returns, and then returns asks
for simulated_human at the depth cap and is rerouted to generalist (capped).
"""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.cli import EXIT_OK, EXIT_USAGE, main
from engine.flow.loader import FlowDocument, load_flow
from engine.render import (
    Traffic,
    TrafficError,
    committed_dot_hash,
    dot_hash,
    read_traffic,
    render_sources,
    style,
)
from engine.render.traffic import overlay
from engine.render.view import EdgeKind, build_diagram
from engine.runtime.audit_file import read_jsonl
from tests.render.test_render import graph_routes, read_mermaid
from tools.synthetic import synthetic_document

ROOT = Path(__file__).resolve().parents[2]
RETAIL = ROOT / "flows" / "retail.toml"
RETAIL_SCRIPT = ROOT / "flows" / "scripts" / "retail.toml"
SUPERVISOR = ROOT / "flows" / "chat_supervisor.toml"
SUPERVISOR_SCRIPT = ROOT / "flows" / "scripts" / "chat_supervisor.toml"
SVG_NS = "{http://www.w3.org/2000/svg}"
XLINK_TITLE = "{http://www.w3.org/1999/xlink}title"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' is not installed")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_conversation(flow: Path, script: Path, audit: Path) -> None:
    code = main(["run", str(flow), "--script", str(script), "--audit", str(audit), "--turn-timeout", "20"])
    assert code == EXIT_OK


@pytest.fixture(scope="module")
def retail_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The audit log of one scripted retail conversation."""
    audit = tmp_path_factory.mktemp("audit") / "retail.jsonl"
    run_conversation(RETAIL, RETAIL_SCRIPT, audit)
    return audit


@pytest.fixture(scope="module")
def retail_log_2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second conversation, in its own log."""
    audit = tmp_path_factory.mktemp("audit") / "retail-2.jsonl"
    run_conversation(RETAIL, RETAIL_SCRIPT, audit)
    return audit


def no_warnings(problem: str) -> None:
    raise AssertionError(f"unexpected warning: {problem}")


# --- reading the SVG back --------------------------------------------------------------------------------------


@dataclass
class SvgEdge:
    tooltip: str
    text: str
    """Every text of the edge's label, joined."""
    stroke: str
    width: float
    opacity: float
    dasharray: str | None


def svg_edges(svg: str) -> dict[str, SvgEdge]:
    """Edges by their route, ``"source → target"`` (the start of the tooltip, the real direction)."""
    found: dict[str, SvgEdge] = {}
    for g in ET.fromstring(svg).iter(f"{SVG_NS}g"):
        if g.get("class") != "edge":
            continue
        tooltip = next((a.get(XLINK_TITLE) or "" for a in g.iter(f"{SVG_NS}a")), "")
        path = next(g.iter(f"{SVG_NS}path"))
        route = re.match(r"^(\S+ [→↔] [^\s:]+)", tooltip)
        key = route.group(1) if route else (g.findtext(f"{SVG_NS}title") or "")
        found[key] = SvgEdge(
            tooltip,
            "".join(t.text or "" for t in g.iter(f"{SVG_NS}text")),
            path.get("stroke") or "",
            float(path.get("stroke-width") or 1),
            float(path.get("stroke-opacity") or 1),
            path.get("stroke-dasharray"),
        )
    return found


def svg_text(svg: str) -> str:
    return " ".join(t.text or "" for t in ET.fromstring(svg).iter(f"{SVG_NS}text"))


# --- the counts, as data ---------------------------------------------------------------------------------------


def test_the_retail_conversation_counts_on_its_routes(retail_log: Path) -> None:
    traffic = read_traffic([retail_log], no_warnings)
    assert traffic.conversations == 1
    assert traffic.edges[("authentication", "returns")] == Counter(done=1, refused=1)
    assert traffic.edges[("returns", "sales")] == Counter(done=2)
    assert traffic.edges[("returns", "generalist")] == Counter(capped=1)
    assert traffic.rerouted == {("returns", "simulated_human"): Counter(capped=1)}
    assert (traffic.handoffs, traffic.refused) == (7, 1)

    diagram = render_sources(load_flow(RETAIL), traffic=traffic).diagram
    edges = {(e.source, e.target): e for e in diagram.edges}
    auth_returns = edges[("authentication", "returns")].traffic
    assert auth_returns is not None and (auth_returns.done, auth_returns.refused) == (1, 1)
    assert auth_returns.text("generalist") == "×1 · refused 1"
    returns_sales = edges[("returns", "sales")].traffic
    assert returns_sales is not None and returns_sales.taken == 2
    # the capped reroute: on the fallback route it took, and on the route it asked for
    fallback = edges[("returns", "generalist")]
    assert fallback.kind is EdgeKind.FALLBACK and fallback.traffic is not None
    assert fallback.traffic.text("generalist") == "×1 · capped 1"
    asked = edges[("returns", "simulated_human")].traffic
    assert asked is not None and asked.taken == 0 and asked.text("generalist") == "capped 1 → generalist"
    cold = edges[("authentication", "sales")].traffic
    assert cold is not None and not cold.any
    # the others' fallback is still drawn once, from "any agent"
    assert diagram.fallback_all is not None and "returns" not in diagram.fallback_all.sources
    assert diagram.traffic is not None
    assert (diagram.traffic.conversations, diagram.traffic.handoffs, diagram.traffic.busiest) == (1, 7, 2)
    assert diagram.traffic.elsewhere == ()


@pytest.mark.parametrize(
    "path", [RETAIL, SUPERVISOR, ROOT / "flows" / "simple_handoff.toml"], ids=lambda p: p.stem
)
def test_the_overlay_keeps_every_route_and_adds_none(path: Path, retail_log: Path) -> None:
    doc = load_flow(path)
    plain = build_diagram(doc.flow)
    with_traffic = overlay(plain, read_traffic([retail_log], no_warnings))
    assert with_traffic.routes() == plain.routes()
    assert all(e.traffic is not None for e in with_traffic.edges)


def test_two_logs_add_up_and_a_log_given_twice_counts_once(retail_log: Path, retail_log_2: Path) -> None:
    both = read_traffic([retail_log, retail_log_2], no_warnings)
    assert both.conversations == 2 and both.edges[("returns", "sales")] == Counter(done=4)
    assert both.handoffs == 14 and both.refused == 2
    twice = read_traffic([retail_log, retail_log], no_warnings)
    assert twice == read_traffic([retail_log], no_warnings)


def test_pen_width_grows_with_the_log_of_the_count_and_is_bounded() -> None:
    low, high = style.TRAFFIC_WIDTH
    assert style.traffic_width(0, 10) == 1.0
    assert style.traffic_width(1, 1) == low == style.traffic_width(1, 10_000)
    assert style.traffic_width(10_000, 10_000) == high == style.traffic_width(8, 8)
    widths = [style.traffic_width(n, 1000) for n in (1, 2, 10, 100, 1000)]
    assert widths == sorted(widths) and len(set(widths)) == len(widths)
    assert widths[2] - widths[1] > widths[4] - widths[3] - 1  # log-scaled: 10x more is not 10x wider
    assert style.traffic_width(2, 2) < high  # a short log is not drawn all bold


# --- the CLI and the files -------------------------------------------------------------------------------------


@needs_dot
def test_svg_overlay_on_the_right_edges(
    capsys: pytest.CaptureFixture[str], retail_log: Path, tmp_path: Path
) -> None:
    out = tmp_path / "retail.svg"
    code, _, err = run_cli(capsys, "render", RETAIL, "-o", out, "--audit", retail_log)
    assert code == EXIT_OK, err
    assert "traffic from 1 conversation / 7 handoffs (1 refused)" in err
    svg = out.read_text(encoding="utf-8")
    ET.fromstring(svg)  # valid XML
    assert committed_dot_hash(svg) is not None
    edges = svg_edges(svg)

    auth_returns = edges["authentication → returns"]
    assert "×1" in auth_returns.text and "refused 1" in auth_returns.text
    assert "(×1 · refused 1)" in auth_returns.tooltip
    returns_sales = edges["returns → sales"]
    assert "×2" in returns_sales.text and returns_sales.width > auth_returns.width > 1
    fallback = edges["returns → generalist"]
    assert "×1" in fallback.text and "capped 1" in fallback.text and fallback.dasharray is not None
    asked = edges["returns → simulated_human"]
    assert "capped 1 → generalist" in asked.text and asked.opacity == 1

    # untraversed edges: lighter, thin, and their label too
    for route in ("authentication → sales", "returns → authentication", "generalist → authentication"):
        assert edges[route].opacity < 0.5 and edges[route].width == 1, route
        assert "×" not in edges[route].text
    for route in ("authentication → returns", "returns → sales", "sales → returns"):
        assert edges[route].opacity == 1 and edges[route].width > 1, route

    legend = svg_text(svg)
    assert "traffic from 1 conversation / 7 handoffs (1 refused)" in legend
    assert "no traffic in the logs" in legend and "any other agent" in legend
    assert "sent to recovery: handoff depth cap reached" in legend


def test_dot_and_mermaid_carry_the_counts(
    capsys: pytest.CaptureFixture[str], retail_log: Path, tmp_path: Path
) -> None:
    for suffix in (".dot", ".mmd"):
        code, _, err = run_cli(capsys, "render", RETAIL, "-o", tmp_path / f"r{suffix}", "--audit", retail_log)
        assert code == EXIT_OK, err
    dot = (tmp_path / "r.dot").read_text(encoding="utf-8")
    assert "authentication → returns (×1 · refused 1)" in dot and "returns → sales (×2)" in dot
    assert f'<FONT COLOR="{style.ERROR_LINE}"><B>refused 1</B></FONT>' in dot
    assert style.faded("#0f766e") in dot  # returns' colour, faded on its untaken edges

    text = (tmp_path / "r.mmd").read_text(encoding="utf-8")
    labels = {(src, dst): label for src, _, dst, label in read_mermaid(_without_link_styles(text)).edges}
    assert labels[("a_authentication", "a_returns")].startswith("<b>×1 · refused 1</b><br/>")
    assert labels[("a_returns", "a_sales")].startswith("<b>×2</b>")
    assert labels[("a_returns", "a_generalist")].startswith("<b>×1 · capped 1</b><br/>fallback")
    assert labels[("a_returns", "a_simulated_human")].startswith("<b>capped 1 → generalist</b>")
    assert "<b>" not in labels[("a_authentication", "a_sales")]
    assert "traffic from 1 conversation / 7 handoffs (1 refused)" in text
    assert 'f_any(["any other agent"])' in text

    styles = mermaid_link_styles(text)
    assert styles[("a_returns", "a_sales")] > styles[("a_sales", "a_returns")]
    assert styles[("a_authentication", "a_sales")] == "cold"
    assert styles[("f_any", "a_generalist")] == "cold"
    assert styles[("a_returns", "a_simulated_human")] == "dotted"
    assert ("s_start", "a_authentication") not in styles


def test_mermaid_with_traffic_still_reads_back_into_the_routing_graph(retail_log: Path) -> None:
    doc = load_flow(RETAIL)
    text = render_sources(doc, traffic=read_traffic([retail_log], no_warnings)).mermaid
    assert read_mermaid(_without_link_styles(text)).routes() == graph_routes(doc.flow)


def _without_link_styles(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("linkStyle"))


def mermaid_link_styles(text: str) -> dict[tuple[str, str], float | str]:
    """``linkStyle`` by link (Mermaid numbers links in the order they are written): a width, cold or dotted."""
    links = [(src, dst) for src, _, dst, _ in read_mermaid(_without_link_styles(text)).edges]
    found: dict[tuple[str, str], float | str] = {}
    for indices, css in re.findall(r"^\s*linkStyle ([\d,]+) (.+)$", text, flags=re.M):
        width = re.search(r"stroke-width:([\d.]+)px", css)
        value: float | str = float(width.group(1)) if width else "cold" if "opacity" in css else "dotted"
        for index in indices.split(","):
            found[links[int(index)]] = value
    return found


def test_without_audit_the_output_is_unchanged(
    capsys: pytest.CaptureFixture[str], retail_log: Path, tmp_path: Path
) -> None:
    doc = load_flow(RETAIL)
    committed = committed_dot_hash((ROOT / "docs" / "diagrams" / "retail.svg").read_text(encoding="utf-8"))
    code, _, err = run_cli(capsys, "render", RETAIL, "-o", tmp_path / "plain.dot")
    assert code == EXIT_OK and "traffic" not in err
    plain = (tmp_path / "plain.dot").read_text(encoding="utf-8")
    assert dot_hash(plain) == committed == render_sources(doc).dot_sha256
    assert render_sources(doc, traffic=None) == render_sources(doc)
    overlaid = render_sources(doc, traffic=read_traffic([retail_log], no_warnings))
    assert overlaid.dot != plain and overlaid.layout == render_sources(doc).layout


def test_dot_to_stdout_with_traffic(capsys: pytest.CaptureFixture[str], retail_log: Path) -> None:
    code, out, err = run_cli(capsys, "render", RETAIL, "-o", "-", "--audit", retail_log)
    assert code == EXIT_OK and err == ""
    assert out.startswith("digraph retail {") and "returns → sales (×2)" in out


@needs_dot
def test_png_of_the_overlay(capsys: pytest.CaptureFixture[str], retail_log: Path, tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "render", RETAIL, "-o", tmp_path / "r.png", "--audit", retail_log)
    assert code == EXIT_OK, err
    assert (tmp_path / "r.png").read_bytes().startswith(b"\x89PNG")


# --- bad input -------------------------------------------------------------------------------------------------


def test_a_bad_line_is_reported_with_file_and_line_and_the_rest_counts(
    capsys: pytest.CaptureFixture[str], retail_log: Path, tmp_path: Path
) -> None:
    log = tmp_path / "mixed.jsonl"
    lines = retail_log.read_text(encoding="utf-8").splitlines()
    lines[2:2] = [
        "this is not JSON",
        '{"not": "a record"}',
        "",
        '{"conversation_id": 5, "seq": 1, "time": 0, '
        '"kind": "handoff", "outcome": "done", "from_agent": "returns", "to_agent": "sales"}',
    ]
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "render", RETAIL, "-o", tmp_path / "r.dot", "--audit", log)
    assert code == EXIT_OK
    assert f"{log}:3: not an audit record" in err and f"{log}:4: not an audit record" in err
    assert f"{log}:6: not an audit record" in err and f"{log}:5:" not in err
    assert "7 handoffs (1 refused)" in err
    assert "returns → sales (×2)" in (tmp_path / "r.dot").read_text(encoding="utf-8")


def test_an_empty_log_draws_every_edge_lighter(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    log = tmp_path / "empty.jsonl"
    log.write_text("", encoding="utf-8")
    code, _, err = run_cli(capsys, "render", RETAIL, "-o", tmp_path / "r.dot", "--audit", log)
    assert code == EXIT_OK and f"{log}: no audit records" in err
    assert "traffic from 0 conversations / 0 handoffs" in err
    dot = (tmp_path / "r.dot").read_text(encoding="utf-8")
    edges = [line for line in dot.splitlines() if " -> " in line]
    assert edges and not any("×" in line or "penwidth=1.8" in line for line in edges)
    cold = re.compile(r' color="#[0-9a-f]{6}' + style.COLD_ALPHA + '"')
    assert all(cold.search(line) for line in edges if "__start" not in line)


@pytest.mark.parametrize("kind", ["missing", "folder", "binary"])
def test_an_unreadable_log_exits_2(
    kind: str, capsys: pytest.CaptureFixture[str], retail_log: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    if kind == "folder":
        bad.mkdir()
    elif kind == "binary":
        bad.write_bytes(b"\xff\xfe\x00garbage\n")
    out = tmp_path / "r.svg"
    code, _, err = run_cli(capsys, "render", RETAIL, "-o", out, "--audit", retail_log, "--audit", bad)
    assert code == EXIT_USAGE
    assert f"switchboard render: cannot read audit log {bad}" in err
    assert not out.exists()
    with pytest.raises(TrafficError):
        read_traffic([bad], no_warnings)


def record(seq: int, outcome: str, source: str, target: str) -> str:
    """One handoff record as a log line, written by hand."""
    return json.dumps(
        {
            "conversation_id": "conv-x",
            "seq": seq,
            "time": 0.0,
            "kind": "handoff",
            "outcome": outcome,
            "from_agent": source,
            "to_agent": target,
        }
    )


def test_attempts_on_routes_the_flow_does_not_have_are_listed_not_drawn(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = tmp_path / "elsewhere.jsonl"
    log.write_text(
        "\n".join(
            [
                record(1, "refused", "authentication", "billing"),  # not an agent of the flow
                record(2, "refused", "authentication", "generalist"),  # a fallback route: not a transfer
                record(3, "done", "authentication", "sales"),
                record(4, "refused", "generalist", "returns"),  # both agents, not a handoff
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    code, _, err = run_cli(capsys, "render", RETAIL, "-o", tmp_path / "r.dot", "--audit", log)
    assert code == EXIT_OK
    assert "3 routes in the audit logs are not in" in err and "another flow" not in err
    dot = (tmp_path / "r.dot").read_text(encoding="utf-8")
    assert "not routes of this flow (not drawn)" in dot
    for route in ("authentication ↛ billing", "authentication ↛ generalist", "generalist ↛ returns"):
        assert route in dot
    assert "billing [" not in dot and "-> billing" not in dot
    assert "authentication → sales (×1)" in dot
    assert "authentication → generalist" not in dot  # no fallback edge of its own: nothing took it
    diagram = render_sources(load_flow(RETAIL), traffic=read_traffic([log], no_warnings)).diagram
    assert diagram.fallback_all is not None and "authentication" in diagram.fallback_all.sources
    mermaid = render_sources(load_flow(RETAIL), traffic=read_traffic([log], no_warnings)).mermaid
    assert "not a route of this flow: generalist ↛ returns refused 1" in mermaid


def test_logs_of_another_flow_say_so(
    capsys: pytest.CaptureFixture[str], retail_log: Path, tmp_path: Path
) -> None:
    code, _, err = run_cli(
        capsys,
        "render",
        ROOT / "flows" / "simple_handoff.toml",
        "-o",
        tmp_path / "s.dot",
        "--audit",
        retail_log,
    )
    assert code == EXIT_OK and "were the logs written by another flow?" in err


# --- other flows and sizes -------------------------------------------------------------------------------------


def test_escalations_on_the_supervisor_link(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    log = tmp_path / "supervisor.jsonl"
    run_conversation(SUPERVISOR, SUPERVISOR_SCRIPT, log)
    code, _, err = run_cli(capsys, "render", SUPERVISOR, "-o", tmp_path / "s.dot", "--audit", log)
    assert code == EXIT_OK and "1 conversation / 0 handoffs / 2 escalations" in err
    dot = (tmp_path / "s.dot").read_text(encoding="utf-8")
    assert re.search(r"chat_agent -> __chatting \[label=<<I>hard turns</I><BR/><B>×2 escalations</B>>", dot)
    run_cli(capsys, "render", SUPERVISOR, "-o", tmp_path / "s.mmd", "--audit", log)
    assert 'a_chat_agent ===|"hard turns<br/><b>×2 escalations</b>"| e_chatting' in (
        tmp_path / "s.mmd"
    ).read_text(encoding="utf-8")


TWO_WAY = """
[flow]
name = "pair"
entry = "front"
recovery = "helper"

[agents.front]
handoffs = ["back", "helper"]

[agents.back]
handoffs = ["front"]

[agents.helper]
handoffs = ["front"]
terminal = true
"""


def test_a_two_headed_pair_splits_when_one_way_carries_traffic(
    parse_toml: Callable[..., FlowDocument],
) -> None:
    doc = parse_toml(TWO_WAY)
    plain = render_sources(doc)
    assert any(e.both for e in plain.diagram.edges)
    traffic = Traffic({("front", "back"): Counter(done=3)}, conversations=3)
    diagram = render_sources(doc, traffic=traffic).diagram
    directed = {(e.source, e.target): e.traffic for e in diagram.edges if e.kind is EdgeKind.HANDOFF}
    assert not any(e.both and {e.source, e.target} == {"front", "back"} for e in diagram.edges)
    assert any(e.both and {e.source, e.target} == {"front", "helper"} for e in diagram.edges)  # no traffic
    forward, backward = directed[("front", "back")], directed[("back", "front")]
    assert forward is not None and forward.taken == 3 and backward is not None and not backward.any
    assert diagram.routes() == plain.diagram.routes()


def synthetic_traffic(doc: FlowDocument, hot: int) -> Traffic:
    """``done`` traffic on the first ``hot`` handoffs of the flow (the i-th one taken i+1 times)."""
    routes = [(a, t) for a, agent in doc.flow.agents.items() for t in agent.handoffs][:hot]
    return Traffic({r: Counter(done=i + 1) for i, r in enumerate(routes)}, conversations=hot)


def test_large_layout_puts_counts_in_tooltips_and_never_bundles_a_hot_edge() -> None:
    doc = synthetic_document(50)
    traffic = synthetic_traffic(doc, 12)
    sources = render_sources(doc, traffic=traffic)
    assert sources.layout is style.LARGE
    hot = {(e.source, e.target) for e in sources.diagram.edges if e.traffic is not None and e.traffic.any}
    assert len(hot) == 12
    for source, target in hot:
        taken = traffic.edges[(source, target)]["done"]
        line = next(
            line for line in sources.dot.splitlines() if f'tooltip="{source} → {target} (×{taken})' in line
        )
        assert "label=" not in line and "penwidth=" in line
    bundles = [line for line in sources.dot.splitlines() if "ltail=" in line]
    assert bundles
    for line in bundles:  # a bundle stands for edges without traffic only
        assert style.faded(style.BUNDLE_LINE) in line
        tooltip = re.search(r' tooltip="([^"]*)"', line)
        assert tooltip is not None
        routes = tooltip.group(1).split(": ", 1)[1].split("; ")
        assert not {f"{s} → {t}" for s, t in hot} & set(routes)


def test_medium_layout_labels_the_counts() -> None:
    doc = synthetic_document(20)
    traffic = synthetic_traffic(doc, 5)
    sources = render_sources(doc, traffic=traffic)
    assert sources.layout is style.MEDIUM
    assert sources.dot.count('<FONT POINT-SIZE="10"><FONT COLOR=') == 5
    assert "N handoffs between two groups, none taken" in sources.dot


def test_tool_records_are_in_the_log_and_count_on_no_route(retail_log: Path) -> None:
    records = [r for _, r in read_jsonl(retail_log) if not isinstance(r, str)]
    tools = [r for r in records if r.kind == "tool"]
    assert tools and {r.outcome for r in tools} <= {"ok", "failed", "refused", "timed_out"}
    handoffs_only = Traffic.from_records(r for r in records if r.kind != "tool")
    assert read_traffic([retail_log], no_warnings) == handoffs_only
