"""Benchmark `switchboard test`: generating the retail flow's suite, and running it, per case next to a plain
`run` of the same script (the conversation alone: no recorder, no expectations) in the same run.

    python tools/bench_flowtest.py [--repeat 3] [--write]

Rows: the generator (model searches + script text), the suite run one case at a time and 4 at a time, and,
per case, `run_case` (what `test` does) against `run_conversation` of the same parsed script (what `run`
does). The ratio is the cost of checking expectations; the absolute times are the emulator round trips.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchlib import best_of, machine_line, table, write_section  # noqa: E402

from engine.emulator.script import Script  # noqa: E402
from engine.flowtest.case import Case  # noqa: E402
from engine.flowtest.generate import generate_suite, script_text  # noqa: E402
from engine.flowtest.runner import run_case, run_cases  # noqa: E402
from engine.runtime.prepare import lint_flow  # noqa: E402
from engine.runtime.runner import RunOptions, run_conversation  # noqa: E402
from engine.session.audit import CountingSink  # noqa: E402

FLOW = ROOT / "flows" / "retail.toml"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (best is kept)")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()

    compiled = lint_flow(FLOW, import_tools=True).compiled
    assert compiled is not None
    generate_s = best_of(lambda: generate_suite(compiled.flow), args.repeat)
    suite = generate_suite(compiled.flow)
    folder = ROOT / "flows" / "tests" / "retail"
    cases = [
        Case(
            folder / f"{c.name}.toml",
            Script.parse(script_text(c, suite.flow, "../../retail.toml"), str(folder / f"{c.name}.toml")),
            compiled,
        )
        for c in suite.cases
    ]
    print(f"{len(cases)} cases generated in {ms(generate_s)} ms", file=sys.stderr)

    async def warm() -> None:  # imports, first emulator: not part of any row
        await run_case(cases[0])

    asyncio.run(warm())

    async def serial() -> None:
        for case in cases:
            result = await run_case(case)
            assert result.passed, [str(f) for f in result.failures]

    serial_s = best_of(lambda: asyncio.run(serial()), args.repeat)
    parallel_s = best_of(lambda: asyncio.run(run_cases(cases, jobs=4)), args.repeat)

    tested: list[float] = []
    plain: list[float] = []

    async def pairs() -> None:
        for case in cases:
            for _ in range(args.repeat):
                started = time.perf_counter()
                await run_conversation(
                    case.compiled,
                    case.script,
                    CountingSink(),
                    RunOptions(turn_timeout=10),
                    on_action=lambda _: None,
                )
                plain.append(time.perf_counter() - started)
                started = time.perf_counter()
                await run_case(case)
                tested.append(time.perf_counter() - started)

    asyncio.run(pairs())
    plain_case, tested_case = statistics.median(plain), statistics.median(tested)
    rows = [
        ["`run` of a generated script (run_conversation, baseline)", ms(plain_case), "1.00x"],
        [
            "`test` of the same script (run_case: record + check)",
            ms(tested_case),
            f"{tested_case / plain_case:.2f}x",
        ],
    ]
    suite_rows = [
        [f"generate the suite ({len(cases)} cases)", ms(generate_s), ms(generate_s / len(cases))],
        ["run the suite, 1 at a time", ms(serial_s), ms(serial_s / len(cases))],
        ["run the suite, 4 at a time (`--jobs 4`, the default)", ms(parallel_s), ms(parallel_s / len(cases))],
    ]
    body = "\n".join(
        [
            "## Flow tests (`tools/bench_flowtest.py`)",
            "",
            f"{machine_line()}. The retail flow's generated suite ({len(cases)} cases, "
            f"{sum(len(c.script.turns) for c in cases)} turns) against the embedded emulator; best of {args.repeat}.",
            "",
            table(["suite", "total ms", "per case ms"], suite_rows),
            "",
            table(["one case (median over every case)", "ms", "vs `run`"], rows),
        ]
    )
    print(body)
    if args.write:
        write_section("flowtest", body)


if __name__ == "__main__":
    main()
