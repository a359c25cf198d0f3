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
    """A figure and the bound it must stay under (over, with ``at_least``; ``None``: not measured in this run)."""

    name: str
    value: float | None
    limit: float
    unit: str = " s"
    strict: bool = False
    """``value < limit`` rather than ``<=``."""
    at_least: bool = False
    """The bound is a floor: ``value >= limit`` (a throughput, a speed-up)."""
    number: str | None = None
    """The format of value and limit (e.g. ``",.0f"``); default: the value ``.2f``, the limit ``g``."""

    @property
    def passed(self) -> bool | None:
        if self.value is None:
            return None
        if self.at_least:
            return self.value > self.limit if self.strict else self.value >= self.limit
        return self.value < self.limit if self.strict else self.value <= self.limit

    def row(self) -> list[str]:
        value_format, limit_format = (self.number, self.number) if self.number else (".2f", "g")
        shown = "not measured" if self.value is None else f"{self.value:{value_format}}{self.unit}"
        verdict = {True: "PASS", False: "FAIL", None: "-"}[self.passed]
        bound = (">" if self.at_least else "<") + ("" if self.strict else "=")
        return [self.name, shown, f"{bound} {self.limit:{limit_format}}{self.unit}", verdict]


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


def proc_ticks(path: str, first: int, last: int) -> int:
    """The sum of fields ``first..last`` (numbered from 1, as in proc(5)) of a ``/proc`` ``stat`` file."""
    fields = Path(path).read_text().rsplit(")", 1)[1].split()  # fields[0] is field 3, the state
    return sum(int(v) for v in fields[first - 3 : last - 2])


CLK_TCK = os.sysconf("SC_CLK_TCK")
"""Clock ticks a second: the unit of ``/proc`` CPU times."""


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used, all its threads (``/proc/PID/stat``)."""
    return proc_ticks(f"/proc/{pid}/stat", 14, 15) / CLK_TCK
