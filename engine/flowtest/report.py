"""The text of a case's result, shared by ``switchboard test`` and the pytest plugin."""

from __future__ import annotations

from engine.flowtest.case import CaseError
from engine.flowtest.runner import CaseResult

__all__ = ["error_text", "failure_text", "status_line"]


def status_line(result: CaseResult) -> str:
    """``PASS path (N turns, 0.12 s)`` or ``FAIL path (...)``."""
    word = "PASS" if result.passed else "FAIL"
    turns = len(result.observation.turns)
    return f"{word} {result.case.name} ({turns} turn(s), {result.seconds:.2f} s)"


def failure_text(result: CaseResult) -> str:
    """The first unmet expectation, how many more there are, and the transcript of its turn."""
    first = result.failures[0]
    lines = [str(first)]
    more = len(result.failures) - 1
    if more:
        lines.append(f"(and {more} more unmet expectation(s))")
    excerpt = result.observation.excerpt(first.turn)
    if excerpt:
        where = "the end of the run" if first.turn is None else f"turn {first.turn + 1}"
        lines.append(f"transcript of {where}:")
        lines += [f"  {line}" for line in excerpt]
    return "\n".join(lines)


def error_text(exc: CaseError) -> str:
    """A case that cannot run: its summary and every diagnostic (with its fix)."""
    lines = [] if exc.diagnostics and exc.summary == str(exc.diagnostics[0]) else [exc.summary]
    for d in exc.diagnostics:
        lines.append(str(d))
        if d.help:
            lines.append(f"  help: {d.help}")
    return "\n".join(lines)
