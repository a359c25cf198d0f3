"""Render at scale: DOT build and ``dot -Tsvg`` time for generated flows of 50 and 200 agents (~5 handoffs each).

Baseline, measured in the same run with the same ``dot`` binary: ``dot -Tsvg`` of a trivial two-node graph
(process start, plugin loading, SVG writing), so the figures read as "N x the cheapest possible dot run"
whatever the machine. A second table compares ``dot`` settings on the 200-agent flow: the renderer's choice
(the preset ``engine.render.style.layout_for`` picks by size) against the alternatives it was chosen over.

    python tools/bench_render.py [--sizes 50,200] [--timeout 120] [--write]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import sys
import time

from benchlib import best_of, machine_line, table, write_section
from synthetic import synthetic_flow

from engine.render import style
from engine.render.dot import diagram_digraph
from engine.render.view import build_diagram

TRIVIAL = "digraph g { a -> b }"


Outcome = float | str
"""Seconds, or why there is no time (``"timeout"``, ``"crash"``)."""


def dot_svg(source: str, timeout: float) -> Outcome:
    """Seconds for ``dot -Tsvg`` on ``source``."""
    start = time.perf_counter()
    try:
        subprocess.run(
            ["dot", "-Tsvg", "-o", "/dev/null"],
            input=source.encode(),
            check=True,
            timeout=timeout,
            capture_output=True,
        )
    except subprocess.TimeoutExpired:
        return "timeout"
    except subprocess.CalledProcessError:
        return "crash"
    return time.perf_counter() - start


def best_dot(source: str, timeout: float, repeat: int = 3) -> Outcome:
    times: list[float] = []
    for _ in range(repeat):
        t = dot_svg(source, timeout)
        if isinstance(t, str):
            return t
        times.append(t)
        if t > 10:
            break
    return min(times)


SETTINGS: list[tuple[str, style.Layout]] = [
    ("all labels, default ranking (a naive DOT)", dataclasses.replace(style.SMALL, rank_by_distance=False)),
    ("all labels, ranked by handoff distance", style.SMALL),
    ("one-line rules, ranked, groups bundled (`medium`)", style.MEDIUM),
    (
        "no edge text, ranked, groups bundled, concentrate=true",
        dataclasses.replace(style.LARGE, graph_attr={**style.LARGE.graph_attr, "concentrate": "true"}),
    ),
    (
        "no edge text, ranked, groups bundled, splines=ortho",
        dataclasses.replace(style.LARGE, graph_attr={**style.LARGE.graph_attr, "splines": "ortho"}),
    ),
    (
        "no edge text, ranked, groups bundled, splines=polyline",
        dataclasses.replace(style.LARGE, graph_attr={**style.LARGE.graph_attr, "splines": "polyline"}),
    ),
    ("no edge text, ranked, groups bundled (chosen: `large`)", style.LARGE),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,200")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up on one dot run after this long")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    if shutil.which("dot") is None:
        sys.exit("bench_render: graphviz 'dot' not found (apt-get install graphviz or brew install graphviz)")
    version = subprocess.run(["dot", "-V"], capture_output=True, text=True).stderr.strip()
    baseline = best_of(lambda: dot_svg(TRIVIAL, args.timeout), repeat=5)

    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        print(f"… {n} agents", file=sys.stderr, flush=True)
        flow = synthetic_flow(n, seed=1)
        build = best_of(lambda: diagram_digraph(build_diagram(flow)).source)  # noqa: B023
        diagram = build_diagram(flow)
        layout = style.layout_for(len(diagram.nodes), len(diagram.edges))
        source = str(diagram_digraph(diagram, layout).source)
        draw = best_dot(source, args.timeout)
        rows.append(
            [
                str(n),
                str(len(diagram.edges)),
                layout.name,
                f"{build * 1000:.0f}",
                _seconds(draw, args.timeout),
                _ratio(draw, baseline),
            ]
        )

    print("… settings on 200 agents", file=sys.stderr, flush=True)
    flow = synthetic_flow(200, seed=1)
    diagram = build_diagram(flow)
    compared = []
    for name, layout in SETTINGS:
        print(f"…   {name}", file=sys.stderr, flush=True)
        draw = best_dot(str(diagram_digraph(diagram, layout).source), args.timeout, repeat=1)
        compared.append([name, _seconds(draw, args.timeout), _ratio(draw, baseline)])

    body = "\n".join(
        [
            "## Render at scale (`tools/bench_render.py`)",
            "",
            f"{machine_line()}; {version}. Generated flows (`tools/synthetic.py`): teams of 8 as groups,",
            "~5 handoffs per agent, every handoff with a `when` rule and a carry list. Best of 3.",
            f"Baseline: `dot -Tsvg` of a trivial 2-node graph, {baseline * 1000:.0f} ms in this run.",
            "",
            table(["agents", "edges", "layout", "DOT build ms", "dot -Tsvg s", "dot / baseline"], rows),
            "",
            f"`dot -Tsvg` of the 200-agent flow under other settings (one run each, cut off at {args.timeout:g} s):",
            "",
            table(["settings", "dot -Tsvg s", "dot / baseline"], compared),
        ]
    )
    print(body)
    if args.write:
        write_section("render", body)


def _seconds(value: Outcome, timeout: float) -> str:
    if value == "timeout":
        return f"> {timeout:g} (cut off)"
    if value == "crash":
        return "dot crashed"
    return f"{value:.2f}"


def _ratio(value: Outcome, baseline: float) -> str:
    return f"{value / baseline:.0f}x" if isinstance(value, float) else "-"


if __name__ == "__main__":
    main()
