"""Render every shipped flow (``flows/*.toml``, not ``flows/broken/``) to ``docs/diagrams/NAME.svg``.

What ``make diagrams`` does through the CLI, without it; ``--check`` only reports diagrams that are out of date
(their embedded DOT hash differs from a fresh render of the flow) and exits 1 if any is.

    python tools/render_all.py [--check] [--out docs/diagrams] [--format svg]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.flow.loader import load_flow
from engine.render import committed_dot_hash, render, render_sources

ROOT = Path(__file__).resolve().parent.parent


def shipped_flows(root: Path = ROOT) -> list[Path]:
    return sorted(p for p in (root / "flows").glob("*.toml") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "diagrams")
    parser.add_argument("--format", default="svg", choices=["svg", "png", "pdf", "dot", "mmd"])
    parser.add_argument("--check", action="store_true", help="report stale diagrams instead of writing them")
    args = parser.parse_args()
    stale = 0
    for flow in shipped_flows():
        doc = load_flow(flow)
        target = args.out / f"{flow.stem}.{args.format}"
        if args.check:
            current = target.read_text(encoding="utf-8") if target.exists() else ""
            if committed_dot_hash(current) != render_sources(doc).dot_sha256:
                print(f"{target}: out of date with {flow} (run `make diagrams`)")
                stale += 1
            continue
        result = render(doc, target)
        print(f"{flow} -> {target} ({result.layout} layout, {result.agents} agents, {result.seconds:.2f} s)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
