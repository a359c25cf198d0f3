"""Shared bits of the benchmark scripts: timing, targets, percentiles, and writing a section of docs/benchmarks.md."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def best_of(fn: Callable[[], Any], repeat: int = 3) -> float:
    """The fastest of ``repeat`` runs, in seconds (the least disturbed by a noisy machine)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def best_runs(
    commands: dict[str, Sequence[str]], env: dict[str, str], repeat: int, cwd: Path | None = None
) -> dict[str, float]:
    """The fastest of ``repeat`` runs of each command, in seconds (each must exit 0 or 1). The commands take
    turns, so a burst of load on a shared machine slows all of them, not only the one that runs then."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, argv in commands.items():
            start = time.perf_counter()
            done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False)
            times[name].append(time.perf_counter() - start)
            if done.returncode not in (0, 1):
                raise RuntimeError(
                    f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-500:]}"
                )
    return {name: min(samples) for name, samples in times.items()}


def installed_python_env(root: Path, pycache: Path) -> dict[str, str]:
    """The environment of a command run from the source tree ``root`` as an installed package runs: with
    bytecode cached (in ``pycache``, not in the tree), whatever ``PYTHONDONTWRITEBYTECODE`` says here."""
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONPYCACHEPREFIX": str(pycache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


@dataclass(frozen=True)
class Target:
    """A figure and the bound it must stay under (``None``: not measured in this run)."""

    name: str
    value: float | None
    limit: float
    unit: str = " s"
    strict: bool = False
    """``value < limit`` rather than ``<=``."""

    @property
    def passed(self) -> bool | None:
        if self.value is None:
            return None
        return self.value < self.limit if self.strict else self.value <= self.limit

    def row(self) -> list[str]:
        shown = "not measured" if self.value is None else f"{self.value:.2f}{self.unit}"
        verdict = {True: "PASS", False: "FAIL", None: "-"}[self.passed]
        return [self.name, shown, f"{'<' if self.strict else '<='} {self.limit:g}{self.unit}", verdict]


def targets_table(targets: Sequence[Target]) -> str:
    return table(["target", "measured", "limit", "verdict"], [t.row() for t in targets])


def failed(targets: Sequence[Target]) -> list[Target]:
    return [t for t in targets if t.passed is False]


def percentiles(samples: list[float], *qs: int) -> list[float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return [cuts[q - 1] for q in qs]


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(name: str, body: str) -> None:
    """Replace the ``<!-- bench:NAME -->`` … ``<!-- /bench:NAME -->`` block of docs/benchmarks.md (or append it)."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    )
    BENCHMARKS.write_text(text)


def machine_line() -> str:
    import os
    import platform

    return f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}"
