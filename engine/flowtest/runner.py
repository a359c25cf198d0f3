"""Run cases against the embedded emulator: each in its own emulator and session, several at once.

Cases share nothing but the compiled flow (immutable), so running them concurrently is safe; ``jobs``
bounds how many emulators and connections are open at a time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.errors import SwitchboardError
from engine.flowtest.case import Case
from engine.flowtest.check import Failure, evaluate
from engine.flowtest.observe import Observation, Recorder
from engine.runtime.runner import RunOptions, new_session, run_conversation
from engine.session.audit import CountingSink

__all__ = ["CaseResult", "run_case", "run_cases"]

DEFAULT_TURN_TIMEOUT = 10.0
"""Seconds a turn may take against the emulator (it answers in milliseconds; a hang is a failure)."""


@dataclass(frozen=True)
class CaseResult:
    case: Case
    failures: list[Failure]
    observation: Observation
    seconds: float

    @property
    def passed(self) -> bool:
        return not self.failures


async def run_case(case: Case, turn_timeout: float = DEFAULT_TURN_TIMEOUT) -> CaseResult:
    """Run ``case`` once and check its expectations; a run that stops early is a failure, not an error."""
    started = time.perf_counter()
    supervisor = case.compiled.flow.supervisor
    if supervisor is not None:  # a turn may wait for the supervisor's own timeout: let it
        turn_timeout = max(turn_timeout, supervisor.timeout_s + 5.0)
    options = RunOptions(context=case.context, turn_timeout=turn_timeout)
    session = new_session(case.compiled, options)
    recorder = Recorder()
    error: str | None = None
    try:
        await run_conversation(
            case.compiled, case.script, CountingSink(), options, on_action=recorder, session=session
        )
    except (SwitchboardError, ValueError, OSError, TimeoutError) as exc:
        # the flow's own tools raising, an upstream drop or a turn timing out: the case fails with the reason
        error = f"{type(exc).__name__}: {exc}"
    observation = recorder.finish(session.agent, session.depth, session.known_context(), error)
    return CaseResult(case, evaluate(case.script, observation), observation, time.perf_counter() - started)


async def run_cases(
    cases: Sequence[Case],
    *,
    jobs: int = 4,
    turn_timeout: float = DEFAULT_TURN_TIMEOUT,
    on_result: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Run ``cases`` with at most ``jobs`` at a time; results in the order of ``cases`` (``on_result`` is
    called as each one finishes)."""
    gate = asyncio.Semaphore(max(1, jobs))

    async def one(case: Case) -> CaseResult:
        async with gate:
            result = await run_case(case, turn_timeout)
        if on_result is not None:
            on_result(result)
        return result

    return list(await asyncio.gather(*(one(case) for case in cases)))
