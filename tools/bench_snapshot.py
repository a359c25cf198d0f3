"""Benchmark session snapshots: size and cost of `Session.snapshot()` / `Session.restore()` after the retail
script, next to creating a new session (the baseline) in the same run.

    python tools/bench_snapshot.py [--n 2000] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchlib import best_of, machine_line, table, write_section  # noqa: E402

from engine.flowtest.case import load_case  # noqa: E402
from engine.runtime.runner import RunOptions, new_session, run_conversation  # noqa: E402
from engine.session import Session  # noqa: E402
from engine.session.audit import CountingSink  # noqa: E402


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="repetitions per measurement")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    case = load_case(ROOT / "flows" / "scripts" / "retail.toml")
    options = RunOptions()
    session = new_session(case.compiled, options)
    asyncio.run(
        run_conversation(
            case.compiled, case.script, CountingSink(), options, on_action=lambda _: None, session=session
        )
    )
    text = json.dumps(session.snapshot())

    def each(fn: object) -> float:
        assert callable(fn)
        return best_of(lambda: [fn() for _ in range(args.n)]) / args.n

    fresh = each(lambda: new_session(case.compiled, options))
    take = each(lambda: json.dumps(session.snapshot()))
    back = each(lambda: Session.restore(case.compiled, json.loads(text), clock=time.time))
    rows = [
        ["a new session (baseline)", us(fresh), "1.00x"],
        ["`snapshot()` + `json.dumps`", us(take), f"{take / fresh:.2f}x"],
        ["`json.loads` + `Session.restore()`", us(back), f"{back / fresh:.2f}x"],
    ]
    body = "\n".join(
        [
            "## Session snapshots (`tools/bench_snapshot.py`)",
            "",
            f"{machine_line()}. After the 8-turn retail script (6 handoffs, {len(session.item_ids())} items): "
            f"a snapshot is {len(text):,} bytes of JSON. Best of 3 runs of {args.n:,}.",
            "",
            table(["operation", "µs", "vs a new session"], rows),
        ]
    )
    print(body)
    if args.write:
        write_section("snapshot", body)


if __name__ == "__main__":
    main()
