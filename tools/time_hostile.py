"""Time the loader on hostile inputs: deep documents at size n and 2n (the ratio should stay near 1-2, never 4),
and what the nesting pre-scan costs on a large ordinary flow, against a bare ``tomllib`` parse.

    python tools/time_hostile.py [--parts 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path

from benchlib import best_of
from synthetic import synthetic_toml

from engine.cli.lint import lint_file
from engine.flow.nesting import excess_nesting

SHAPES: dict[str, Callable[[int], str]] = {
    "dotted header": lambda n: "[" + ".".join(["abcdef"] * n) + "]\nx = 1\n",
    "dotted key": lambda n: ".".join(["k"] * n) + " = 1\n",
    "toml arrays": lambda n: "x = " + "[" * n + "]" * n + "\n",
    "json arrays": lambda n: "[" * n + "]" * n,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for shape, make in SHAPES.items():
            times = []
            for n in (args.parts, 2 * args.parts):
                path = Path(tmp, f"deep.{'json' if shape.startswith('json') else 'toml'}")
                path.write_text(make(n))
                [finding] = lint_file(path)
                assert finding.code == "SB006", finding
                times.append(best_of(lambda p=path: lint_file(p)))
            size = len(make(2 * args.parts)) // 1024
            print(
                f"{shape:14} lint {times[1] * 1e3:7.1f} ms at {size} KB; 2x input: {times[1] / times[0]:.2f}x"
            )
    text = synthetic_toml(10_000, seed=7, contract_share=0.2)
    parse = best_of(lambda: tomllib.loads(text), repeat=1)
    scan = best_of(lambda: excess_nesting(text, "toml"), repeat=1)
    print(
        f"pre-scan of a 10,000-agent flow ({len(text) >> 20} MiB): {scan:.2f} s, {scan / parse:.2f}x a tomllib parse"
    )


if __name__ == "__main__":
    main()
