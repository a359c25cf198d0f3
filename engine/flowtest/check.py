"""Compare what a run observed with what its script expects (pure: script and observation in, failures out).

Cost: linear in the turns and records of the run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from engine.emulator.expect import EndExpect, TurnExpect
from engine.emulator.script import Script
from engine.flow.diagnostics import Location
from engine.flow.positions import PathKey
from engine.flowtest.observe import Observation, TurnObservation

__all__ = ["Failure", "evaluate", "is_subsequence"]


@dataclass(frozen=True)
class Failure:
    """One unmet expectation: where the script states it, which turn (``None``: the end), and why."""

    location: Location
    turn: int | None
    message: str

    def __str__(self) -> str:
        where = "end" if self.turn is None else f"turn {self.turn + 1}"
        return f"{self.location}: {where}: {self.message}"


def is_subsequence(wanted: Sequence[str], actual: Sequence[str]) -> bool:
    """Whether ``wanted`` occurs in ``actual`` in order (other items may come between)."""
    rest = iter(actual)
    return all(any(a == w for a in rest) for w in wanted)


def _shown(items: Sequence[str]) -> str:
    return "[" + ", ".join(items) + "]" if items else "none"


def _turn_failures(expect: TurnExpect | None, seen: TurnObservation) -> Iterator[tuple[PathKey, str]]:
    for miss in seen.misses:
        yield (), f"no script rule matched the response (it followed: {miss or 'nothing'})"
    if expect is None:
        return
    if expect.agent is not None and seen.agent != expect.agent:
        yield ("agent",), f"expected agent {expect.agent!r} after the turn, got {seen.agent!r}"
    for key, kind in (("handoff", "handoff"), ("escalation", "escalation")):
        wanted: list[str] = list(getattr(expect, key))
        actual = seen.outcomes(kind)
        if wanted and not is_subsequence(wanted, actual):
            yield (key,), f"expected {kind} outcome(s) {_shown(wanted)}, got {_shown(actual)}"
    if expect.tool and not is_subsequence(expect.tool, seen.tools()):
        yield ("tool",), f"expected call(s) {_shown(expect.tool)}, got {_shown(seen.tools())}"
    if expect.carried is not None:
        got = seen.carried()
        if got is None:
            yield ("carried",), f"expected a handoff carrying {_shown(expect.carried)}, there was none"
        elif sorted(got) != sorted(expect.carried):
            yield (
                ("carried",),
                f"expected the handoff to carry {_shown(expect.carried)}, it carried {_shown(got)}",
            )
    if expect.history and not is_subsequence(expect.history, seen.history()):
        yield (
            ("history",),
            f"expected history policies {_shown(expect.history)}, got {_shown(seen.history())}",
        )
    if expect.says is not None and not any(expect.says.search(text) for text in seen.said):
        said = " / ".join(seen.said) or "nothing"
        yield ("says",), f"expected the assistant to say /{expect.says.pattern}/, it said: {said}"


def _end_failures(expect: EndExpect, obs: Observation) -> Iterator[tuple[PathKey, str]]:
    if expect.agent is not None and obs.agent != expect.agent:
        yield (
            ("agent",),
            f"expected the conversation to end with {expect.agent!r}, it ended with {obs.agent!r}",
        )
    if expect.depth is not None and obs.depth != expect.depth:
        yield ("depth",), f"expected depth {expect.depth}, got {obs.depth}"
    if expect.escalations is not None:
        got = sum(1 for r in obs.records if r.kind == "escalation")
        if got != expect.escalations:
            yield ("escalations",), f"expected {expect.escalations} escalation(s), got {got}"
    counts = Counter(r.outcome for r in obs.records if r.kind == "handoff")
    for outcome, wanted in expect.outcomes.items():
        if counts[outcome] != wanted:
            yield ("outcomes", outcome), f"expected {wanted} {outcome!r} handoff(s), got {counts[outcome]}"
    if expect.context is not None:
        for key in expect.context.set:
            if key not in obs.context:
                yield ("context", "set"), f"expected trusted context key {key!r} to be set, it is not"
        for key in expect.context.unset:
            if key in obs.context:
                yield ("context", "unset"), f"expected trusted context key {key!r} to be absent, it is set"


def evaluate(script: Script, obs: Observation) -> list[Failure]:
    """Every unmet expectation of ``script`` in ``obs``, in script order (the first is the one to show).

    A response no rule matched fails its turn; so does a turn the run never reached."""
    failures: list[Failure] = []
    for index, turn in enumerate(script.turns):
        base: PathKey = ("turn", index)
        if index >= len(obs.turns):
            why = obs.error or "the conversation ended before it"
            failures.append(Failure(script.source.locate(base), index, f"never said: {why}"))
            continue
        for path, message in _turn_failures(turn.expect, obs.turns[index]):
            where = (*base, "expect", *path) if path else base
            failures.append(Failure(script.source.locate(where), index, message))
    if obs.error is not None and len(obs.turns) >= len(script.turns):
        failures.append(Failure(script.source.locate(), None, f"the run failed: {obs.error}"))
    if script.expect is not None:
        for path, message in _end_failures(script.expect, obs):
            failures.append(Failure(script.source.locate(("expect", *path)), None, message))
    return failures
