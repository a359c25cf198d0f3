"""SB101–SB108: names that must resolve (agents, tools), duplicates, self-handoffs, unused and reserved tools.

Each list element gets at most one finding, checked in this order: a repeat (SB104), a self-handoff (SB105),
an unknown name (SB101/SB102), so that one typo yields one diagnostic.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator

from engine.flow.diagnostics import Diagnostic
from engine.flow.model import ESCALATION_TOOL, TRANSFER_PREFIX
from engine.flow.positions import PathKey
from engine.verify.scope import Scope

HINT_BUDGET = 20_000
"""Name comparisons spent on "did you mean" hints per flow; past it no hints (keeps verify linear)."""


def check(scope: Scope) -> Iterator[Diagnostic]:
    hints = _Hints()
    yield from _settings(scope, hints)
    yield from _agent_lists(scope, hints)
    yield from _contracts(scope, hints)
    yield from _tools(scope)


class _Hints:
    def __init__(self) -> None:
        self.budget = HINT_BUDGET

    def __call__(self, name: str, known: Collection[str]) -> str:
        """`` (did you mean 'x'?)`` for a near miss, else ``""``."""
        if len(known) > self.budget:
            return ""
        self.budget -= len(known)
        close = difflib.get_close_matches(name, known, n=1)
        return f" (did you mean '{close[0]}'?)" if close else ""


def _settings(scope: Scope, hint: _Hints) -> Iterator[Diagnostic]:
    agents = scope.flow.agents
    settings = scope.flow.flow
    for key, name in (("entry", settings.entry), ("recovery", settings.recovery)):
        if name not in agents:
            yield scope.diagnostic(
                "SB103",
                f"{key} agent '{name}' is not defined{hint(name, agents)}",
                ("flow", key),
                extra={"agent": name},
            )
    supervisor = scope.flow.supervisor
    for i, name in enumerate(supervisor.front if supervisor else []):
        if name not in agents:
            yield scope.diagnostic(
                "SB103",
                f"supervisor front agent '{name}' is not defined{hint(name, agents)}",
                ("supervisor", "front", i),
                extra={"agent": name},
            )


def _agent_lists(scope: Scope, hint: _Hints) -> Iterator[Diagnostic]:
    agents = scope.flow.agents
    for name, agent in agents.items():
        seen: set[str] = set()
        for i, target in enumerate(agent.handoffs):
            path = ("agents", name, "handoffs", i)
            if target in seen:
                yield scope.diagnostic(
                    "SB104", f"agent '{name}' lists handoff '{target}' twice", path, (name,)
                )
            elif target == name:
                yield scope.diagnostic("SB105", f"agent '{name}' hands off to itself", path, (name,))
            elif target not in agents:
                yield scope.diagnostic(
                    "SB101",
                    f"agent '{name}' hands off to unknown agent '{target}'{hint(target, agents)}",
                    path,
                    (name,),
                    {"target": target},
                )
            seen.add(target)
        yield from _tool_list(scope, hint, agent.tools, ("agents", name), f"agent '{name}'", (name,))
    supervisor = scope.flow.supervisor
    if supervisor is not None:
        yield from _tool_list(scope, hint, supervisor.tools, ("supervisor",), "the supervisor", ())


def _tool_list(
    scope: Scope, hint: _Hints, names: list[str], owner: PathKey, who: str, agents: tuple[str, ...]
) -> Iterator[Diagnostic]:
    known = scope.flow.tools
    seen: set[str] = set()
    for i, tool in enumerate(names):
        path: PathKey = (*owner, "tools", i)
        if tool in seen:
            yield scope.diagnostic("SB104", f"{who} lists tool '{tool}' twice", path, agents)
        elif tool not in known:
            yield scope.diagnostic(
                "SB102", f"{who} uses unknown tool '{tool}'{hint(tool, known)}", path, agents, {"tool": tool}
            )
        seen.add(tool)


def _contracts(scope: Scope, hint: _Hints) -> Iterator[Diagnostic]:
    agents = scope.flow.agents
    first: dict[tuple[str, str], int] = {}
    for n, contract in enumerate(scope.flow.handoff):
        src, dst = contract.source, contract.target
        edge = f"'{src}' -> '{dst}'"
        if (src, dst) in first:
            yield scope.diagnostic(
                "SB104",
                f"second contract for {edge} (the first is [[handoff]] #{first[src, dst] + 1})",
                ("handoff", n),
                tuple(a for a in dict.fromkeys((src, dst)) if a in agents),
            )
            continue
        first[src, dst] = n
        unknown = [(end, name) for end, name in (("from", src), ("to", dst)) if name not in agents]
        for end, name in unknown:
            known = tuple(a for a in (src, dst) if a in agents)
            yield scope.diagnostic(
                "SB101",
                f"contract {edge} names unknown agent '{name}'{hint(name, agents)}",
                ("handoff", n, end),
                known,
                {"target": name},
            )
        if not unknown and dst not in agents[src].handoffs:
            yield scope.diagnostic(
                "SB106",
                f"contract {edge} is for a handoff '{src}' does not declare ('{dst}' is not in its handoffs)",
                ("handoff", n),
                tuple(dict.fromkeys((src, dst))),
            )


def _tools(scope: Scope) -> Iterator[Diagnostic]:
    flow = scope.flow
    users: dict[str, list[str]] = {}
    for name, agent in flow.agents.items():
        for tool in agent.tools:
            users.setdefault(tool, []).append(name)
    supervised = set(flow.supervisor.tools) if flow.supervisor else set()
    for tool in flow.tools:
        agents = tuple(dict.fromkeys(users.get(tool, [])))
        if tool.startswith(TRANSFER_PREFIX) or tool == ESCALATION_TOOL:
            clash = (
                f"the generated transfer tools (names starting '{TRANSFER_PREFIX}' are reserved)"
                if tool.startswith(TRANSFER_PREFIX)
                else "the generated escalation tool of the supervisor"
            )
            yield scope.diagnostic(
                "SB108", f"tool '{tool}' collides with {clash}", ("tools", tool), agents, {"tool": tool}
            )
        if not agents and tool not in supervised:
            yield scope.diagnostic(
                "SB107",
                f"tool '{tool}' is not used by any agent or the supervisor",
                ("tools", tool),
                extra={"tool": tool},
            )
