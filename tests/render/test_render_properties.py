"""Properties of the renderer on random flows: Mermaid reads back into the routing graph, DOT always builds.

Names include Mermaid and DOT keywords (``end``, ``graph``, ``subgraph``...) and texts include every character
either language treats specially, so the escaping is exercised, not just the happy path.
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.flow.diagnostics import Diagnostic, Location, Severity
from engine.flow.model import Flow
from engine.render import style
from engine.render.dot import diagram_digraph
from engine.render.mermaid import diagram_mermaid
from engine.render.view import build_diagram
from tests.render.test_render import SVG_NS, graph_routes, read_mermaid

NAMES = ["end", "graph", "node", "subgraph", "o1", "x_y", "Start", "edge", "a", "b", "strict", "default"]
TEXT = st.text(st.sampled_from([*'ab "|#<>&`;\\{}[]()-.\n\t%:', "é", "→", "…"]), max_size=60)
LAYOUTS = st.sampled_from([style.SMALL, style.MEDIUM, style.LARGE])


@st.composite
def flows(draw: st.DrawFn) -> Flow:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=9, unique=True))
    agent = st.sampled_from([*names, "ghost"])
    keys = st.lists(st.sampled_from(["k0", "k1", "user_id"]), max_size=2, unique=True)
    data: dict[str, Any] = {
        "flow": {
            "name": draw(st.sampled_from(["random", "end", "graph"])),
            "description": draw(TEXT),
            "entry": draw(agent),
            "recovery": draw(agent),
            "implicit_fallback": draw(st.booleans()),
            "fallback_carry": draw(keys),
        },
        "agents": {
            name: {
                "description": draw(TEXT),
                "handoffs": draw(st.lists(agent, max_size=5)),
                "max_visits": draw(st.none() | st.integers(1, 3)),
                "terminal": draw(st.booleans()),
                "group": draw(st.none() | st.sampled_from(["", "team a", 'we"ird <g>', "end"])),
            }
            for name in names
        },
    }
    edges = [(a, b) for a in names for b in data["agents"][a]["handoffs"] if draw(st.booleans())]
    data["handoff"] = [
        {"from": a, "to": b, "when": draw(TEXT), "carry": draw(st.none() | keys)} for a, b in edges
    ]
    if draw(st.booleans()):
        data["supervisor"] = {"front": draw(st.lists(agent, max_size=2)), "model": draw(TEXT)}
    return Flow.model_validate(data)


@st.composite
def findings(draw: st.DrawFn, flow: Flow) -> list[Diagnostic]:
    names = [*flow.agents, "ghost"]
    return [
        Diagnostic(
            draw(st.sampled_from(["SB201", "SB205", "SB206"])),
            draw(st.sampled_from(list(Severity))),
            "finding",
            Location("<random>"),
            tuple(draw(st.lists(st.sampled_from(names), max_size=3))),
            rule=draw(st.sampled_from(["unreachable-agent", "dead-end", 'we"ird <rule>'])),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), flow=flows(), layout=LAYOUTS)
def test_mermaid_edges_are_the_routing_graph(data: st.DataObject, flow: Flow, layout: style.Layout) -> None:
    diagram = build_diagram(flow, data.draw(findings(flow)))
    assert diagram.routes() == {(a, b, k) for a, b, k in graph_routes(flow)}
    mermaid = read_mermaid(diagram_mermaid(diagram, layout))
    assert mermaid.agents() == set(flow.agents)
    assert mermaid.routes() == graph_routes(flow)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), flow=flows(), layout=LAYOUTS)
def test_dot_always_builds_and_draws(data: st.DataObject, flow: Flow, layout: style.Layout) -> None:
    diagram = build_diagram(flow, data.draw(findings(flow)))
    source = str(diagram_digraph(diagram, layout).source)
    assert source.startswith("digraph ")
    if shutil.which("dot") is None:
        return
    done = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True, check=False)
    problems = done.stderr.decode(errors="replace")
    assert done.returncode == 0 and "triangulation failed" not in problems and "Error" not in problems, (
        problems
    )
    svg = done.stdout
    titles = {
        g.findtext(f"{SVG_NS}title")
        for g in ET.fromstring(svg).iter(f"{SVG_NS}g")
        if g.get("class") == "node"
    }
    assert set(flow.agents) <= titles


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs graphviz dot")
@pytest.mark.parametrize("layout", [style.SMALL, style.MEDIUM, style.LARGE], ids=lambda layout: layout.name)
def test_front_agents_around_a_group_draw_cleanly(layout: style.Layout) -> None:
    """The flake the property above found: front agents ``c`` (no group) and ``f`` (in the group of ``a``,
    with ``c -> a``) made graphviz 2.43 fail ("trouble in init_rank", "triangulation failed") while the first
    front agent was ranked level with ``chatting`` (see ``engine/render/dot_escalation.py``)."""
    flow = Flow.model_validate(
        {
            "flow": {"name": "r", "entry": "a", "recovery": "a", "implicit_fallback": False},
            "agents": {"a": {"group": "team"}, "c": {"handoffs": ["a"]}, "f": {"group": "team"}},
            "supervisor": {"front": ["c", "f"]},
        }
    )
    source = str(diagram_digraph(build_diagram(flow), layout).source)
    done = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True, check=False)
    assert done.returncode == 0 and done.stderr == b"", done.stderr.decode()
    assert done.stdout.count(b'class="edge"') == source.count(" -> ")  # no edge lost
