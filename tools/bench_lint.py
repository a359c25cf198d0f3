"""Lint at scale: load, verify and compile generated flows of 100 to 20,000 agents (about 5 handoffs each);
and lint of one small flow from the shell, start-up included.

Baselines, measured in the same run: ``tomllib.loads`` of the same text (parsing alone), so the figures
read as "lint costs N x a bare TOML parse" whatever the machine, and doubling ratios show how time grows;
for the shell, ``switchboard --version`` (the interpreter and the CLI's own imports). Targets, checked and
printed PASS/FAIL: at 10,000 agents verify <= 1 s and the whole lint <= 10 s; ``switchboard lint
flows/retail.toml`` < 2x ``switchboard --version``. ``--check`` exits 1 when a target fails.

    python tools/bench_lint.py [--sizes 100,1000,10000] [--runs 10] [--check] [--write]
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tempfile
import time
import timeit
import tomllib
from pathlib import Path

from benchlib import (
    Target,
    best_of,
    best_runs,
    failed,
    installed_python_env,
    machine_line,
    table,
    targets_table,
    write_section,
)
from synthetic import synthetic_toml

from engine.compile.handoff import clear_cache, compile_handoff_machine
from engine.compile.pipeline import compile_flow
from engine.flow.loader import load_flow
from engine.session.core import Session
from engine.verify import verify
from engine.verify.graph import routing_graph

ROOT = Path(__file__).resolve().parent.parent
SMALL_FLOW = "flows/retail.toml"
TARGET_AGENTS = 10_000


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
    compiled = compile_flow(ROOT / SMALL_FLOW)
    machine = timeit.timeit(compiled.machine, number=repeat) / repeat
    session = timeit.timeit(lambda: Session(compiled, "bench", clock=time.time), number=repeat) / repeat
    return (
        f"Per conversation, on `flows/retail.toml` ({len(compiled.flow.agents)} agents, "
        f"{routing_graph(compiled.flow).number_of_edges()} routes): a machine instance "
        f"{machine * 1e6:.0f} µs, a whole `Session` (machine, escalation state, context) {session * 1e6:.0f} µs."
    )


def startup(runs: int, pycache: Path) -> dict[str, float]:
    """Best of ``runs`` of ``switchboard --version`` and of ``switchboard lint SMALL_FLOW`` in fresh
    interpreters (this checkout's code, bytecode cached as in an installed package, one warm-up each)."""
    env = installed_python_env(ROOT, pycache)
    cli = [sys.executable, "-m", "engine.cli"]
    commands = {"python": [sys.executable, "-c", "pass"], "version": [*cli, "--version"]}
    commands["lint"] = [*cli, "lint", SMALL_FLOW]
    for argv in commands.values():
        subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, check=False)  # writes the bytecode
    return best_runs(commands, env, runs, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,2000,5000,10000,20000")
    parser.add_argument("--runs", type=int, default=10, help="runs of each shell command (best of)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        print("… start-up", file=sys.stderr, flush=True)
        shell = startup(args.runs, Path(tmp) / "pycache")
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
    at_target = by_size.get(TARGET_AGENTS)
    targets = [
        Target(f"verify, {TARGET_AGENTS:,} agents", at_target and at_target["verify"], 1.0),
        Target(f"whole lint, {TARGET_AGENTS:,} agents", at_target and at_target["lint"], 10.0),
        Target(
            f"`switchboard lint {SMALL_FLOW}` / `switchboard --version`",
            shell["lint"] / shell["version"],
            2.0,
            "x",
            strict=True,
        ),
    ]
    body = "\n".join(
        [
            "## Lint at scale (`tools/bench_lint.py`)",
            "",
            f"{machine_line()}. Best of 3, from a collected heap. Baseline: `tomllib.loads` of the same file.",
            "Last column: verify / compile / lint against half the size (linear growth reads ~2x).",
            "",
            targets_table(targets),
            "",
            f"From the shell, best of {args.runs} fresh interpreters each, taking turns (this checkout, bytecode",
            f"cached as an installed package has it): `switchboard lint {SMALL_FLOW}` {shell['lint'] * 1000:.0f} ms,",
            f"`switchboard --version` {shell['version'] * 1000:.0f} ms (the baseline: interpreter and CLI imports),",
            f"a bare `python -c pass` {shell['python'] * 1000:.0f} ms.",
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
    if args.check and failed(targets):
        sys.exit("bench_lint: target failed: " + "; ".join(t.name for t in failed(targets)))


if __name__ == "__main__":
    main()
