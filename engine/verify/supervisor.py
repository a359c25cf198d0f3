"""SB401: a ``[supervisor]`` that cannot work as configured (unknown front agents are SB103)."""

from __future__ import annotations

from collections.abc import Iterator

from engine.flow.diagnostics import Diagnostic
from engine.verify.scope import Scope


def check(scope: Scope) -> Iterator[Diagnostic]:
    supervisor = scope.flow.supervisor
    if supervisor is None:
        return
    front = tuple(name for name in scope.flow.front_agents if name in scope.flow.agents)
    problems: list[tuple[str, str]] = []
    if supervisor.timeout_s <= 0:
        problems.append(("timeout_s", f"supervisor timeout_s must be positive (got {supervisor.timeout_s})"))
    if supervisor.backend == "scripted" and not supervisor.script:
        problems.append(("backend", "the scripted supervisor backend needs a `script` (its rules file)"))
    if supervisor.backend == "openai" and not supervisor.model.strip():
        problems.append(("model", "the openai supervisor backend needs a non-empty `model`"))
    if supervisor.tools and supervisor.max_tool_rounds == 0:
        problems.append(
            ("max_tool_rounds", "the supervisor has tools, but with max_tool_rounds = 0 it never calls them")
        )
    for key, message in problems:
        yield scope.diagnostic("SB401", message, ("supervisor", key), front, {"field": key})
