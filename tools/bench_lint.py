"""Lint at scale: load, verify and compile generated flows of 100 to 10,000 agents (about 5 handoffs each).

Baseline, measured in the same run: ``tomllib.loads`` of the same text (parsing alone), so the figures
read as "lint costs N x a bare TOML parse" whatever the machine. Doubling ratios show how time grows.

    python tools/bench_lint.py [--sizes 100,1000,10000] [--write]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
import timeit
import tomllib
from pathlib import Path

from benchlib import best_of, machine_line, table, write_section
from synthetic import synthetic_toml

from engine.compile.handoff import clear_cache, compile_handoff_machine
from engine.compile.pipeline import compile_flow
from engine.flow.loader import load_flow
from engine.session.core import Session
from engine.verify import verify
from engine.verify.graph import routing_graph


def measure(n: int, folder: Path) -> dict[str, float]:
    gc.collect()  # start each size from a clean heap
    path = folder / f"gen{n}.toml"
    text = synthetic_toml(n, seed=7, contract_share=0.2)
    path.write_text(text)
    parse = best_of(lambda: tomllib.loads(text))
    load = best_of(lambda: load_flow(path))
    doc = load_flow(path)
    findings: list = []
    verify_s = best_of(lambda: findings.__setitem__(slice(None), verify(doc)))
    errors = [d for d in findings if d.severity == "error"]
    if errors:
        sys.exit(f"generated flow of {n} agents does not verify: {errors[:3]}")

    def compile_fresh() -> None:
        clear_cache()
        compile_handoff_machine(doc.flow)

    compile_s = best_of(compile_fresh)
    machine = compile_handoff_machine(doc.flow)
    instantiate = best_of(machine, repeat=3)
    return {
        "agents": n,
        "lines": text.count("\n"),
        "parse": parse,
        "load": load,
        "verify": verify_s,
        "compile": compile_s,
        "instantiate": instantiate,
        "lint": load + verify_s + compile_s,
    }


def per_conversation(repeat: int = 2000) -> str:
    """What a new conversation costs on the shipped retail flow: the machine, and the whole session."""
    compiled = compile_flow(Path(__file__).resolve().parent.parent / "flows" / "retail.toml")
    machine = timeit.timeit(compiled.machine, number=repeat) / repeat
    session = timeit.timeit(lambda: Session(compiled, "bench", clock=time.time), number=repeat) / repeat
    return (
        f"Per conversation, on `flows/retail.toml` ({len(compiled.flow.agents)} agents, "
        f"{routing_graph(compiled.flow).number_of_edges()} routes): a machine instance "
        f"{machine * 1e6:.0f} µs, a whole `Session` (machine, escalation state, context) {session * 1e6:.0f} µs."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,2000,5000,10000,20000")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            print(f"… {n} agents", file=sys.stderr, flush=True)
            results.append(measure(n, Path(tmp)))
    rows = []
    by_size = {int(r["agents"]): r for r in results}
    for r in results:
        n = int(r["agents"])
        half = by_size.get(n // 2)
        growth = (
            f"{r['verify'] / half['verify']:.2f}x / {r['compile'] / half['compile']:.2f}x / "
            f"{r['lint'] / half['lint']:.2f}x"
            if half
            else "-"
        )
        rows.append(
            [
                f"{n:,}",
                f"{int(r['lines']):,}",
                f"{r['parse'] * 1000:.0f}",
                f"{r['load'] * 1000:.0f}",
                f"{r['verify'] * 1000:.0f}",
                f"{r['compile'] * 1000:.0f}",
                f"{r['instantiate'] * 1000:.1f}",
                f"{r['lint']:.2f}",
                f"{r['lint'] / r['parse']:.1f}x",
                growth,
            ]
        )
    body = "\n".join(
        [
            "## Lint at scale (`tools/bench_lint.py`)",
            "",
            f"{machine_line()}. Best of 3, from a collected heap. Baseline: `tomllib.loads` of the same file.",
            "Targets: verify <= 1 s and the whole lint (load + verify + compile) <= 10 s at 10,000 agents;",
            "doubling the flow at most ~2.2x the time (last column: verify / compile / lint against half the size).",
            "",
            per_conversation(),
            "",
            table(
                [
                    "agents",
                    "lines",
                    "parse ms",
                    "load ms",
                    "verify ms",
                    "compile ms",
                    "instantiate ms",
                    "lint s",
                    "lint / parse",
                    "x2 growth (verify / compile / lint)",
                ],
                rows,
            ),
        ]
    )
    print(body)
    if args.write:
        write_section("lint", body)


if __name__ == "__main__":
    main()
