"""SB101–SB108: names that must resolve (agents, tools), duplicates, self-handoffs, unused and reserved tools.

Each list element gets at most one finding, checked in this order: a repeat (SB104), a self-handoff (SB105),
an unknown name (SB101/SB102), so that one typo yields one diagnostic. An unknown name with a near miss
says "did you mean" and its ``help`` says what to change (suggestions come from ``Scope.fixes``, see
``fixes.py``); without one, ``help`` says what to define. What the suggested fix would settle is not
reported again: a contract naming the same unknown target as a handoff is a related location of the
handoff's SB101, not a second SB101; the contract for the edge the typo meant is no orphan (SB106), and the
tool the typo meant is not unused (SB107).

Cost: linear in the flow, plus the bounded name comparisons of ``Scope.fixes``.
"""

from __future__ import annotations

from collections.abc import Iterator

from engine.flow.diagnostics import Diagnostic
from engine.flow.model import ESCALATION_TOOL, TRANSFER_PREFIX
from engine.flow.positions import PathKey
from engine.flow.suggest import suggestion_text
from engine.verify.scope import Scope, quoted


def check(scope: Scope) -> Iterator[Diagnostic]:
    yield from _settings(scope)
    yield from _agent_lists(scope)
    yield from _contracts(scope)
    yield from _tools(scope)


def _agent_defined(meant: str | None) -> list[tuple[PathKey, str]]:
    return [] if meant is None else [(("agents", meant), f"agent '{meant}' is defined here")]


def _settings(scope: Scope) -> Iterator[Diagnostic]:
    agents = scope.flow.agents
    settings = scope.flow.flow
    fixes = scope.fixes.names
    for key, name in (("entry", settings.entry), ("recovery", settings.recovery)):
        if name not in agents:
            path: PathKey = ("flow", key)
            meant = fixes.get(path)
            yield scope.diagnostic(
                "SB103",
                f"{key} agent '{name}' is not defined{suggestion_text(meant)}",
                path,
                extra={"agent": name},
                help=f"change {key} to '{meant}'"
                if meant
                else f"define [agents.{name}], or set {key} to one of {quoted(list(agents))}",
                related=_agent_defined(meant),
            )
    supervisor = scope.flow.supervisor
    for i, name in enumerate(supervisor.front if supervisor else []):
        if name not in agents:
            path = ("supervisor", "front", i)
            meant = fixes.get(path)
            yield scope.diagnostic(
                "SB103",
                f"supervisor front agent '{name}' is not defined{suggestion_text(meant)}",
                path,
                extra={"agent": name},
                help=f"change '{name}' to '{meant}'"
                if meant
                else f"define [agents.{name}], or remove '{name}' from the supervisor's front agents",
                related=_agent_defined(meant),
            )


def _same_typo(scope: Scope) -> dict[tuple[str, str], list[int]]:
    """``(agent, unknown target) -> [contract index]``: contracts whose ``to`` repeats a handoff's unknown
    target (first contract per edge only; a second one is SB104)."""
    agents = scope.flow.agents
    found: dict[tuple[str, str], list[int]] = {}
    for n, contract in enumerate(scope.flow.handoff):
        src, dst = contract.source, contract.target
        if (
            src in agents
            and dst not in agents
            and dst in agents[src].handoffs
            and scope.flow.contracts[src, dst] is contract
        ):
            found.setdefault((src, dst), []).append(n)
    return found


def _agent_lists(scope: Scope) -> Iterator[Diagnostic]:
    agents = scope.flow.agents
    fixes = scope.fixes.names
    same = _same_typo(scope)
    for name, agent in agents.items():
        seen: set[str] = set()
        for i, target in enumerate(agent.handoffs):
            path: PathKey = ("agents", name, "handoffs", i)
            if target in seen:
                yield scope.diagnostic(
                    "SB104",
                    f"agent '{name}' lists handoff '{target}' twice",
                    path,
                    (name,),
                    help=f"remove the second '{target}'",
                )
            elif target == name:
                yield scope.diagnostic(
                    "SB105",
                    f"agent '{name}' hands off to itself",
                    path,
                    (name,),
                    help=f"remove '{name}' from its own handoffs",
                )
            elif target not in agents:
                yield _unknown_target(
                    scope, name, target, path, fixes.get(path), same.get((name, target), [])
                )
            seen.add(target)
        yield from _tool_list(scope, agent.tools, ("agents", name), f"agent '{name}'", (name,))
    supervisor = scope.flow.supervisor
    if supervisor is not None:
        yield from _tool_list(scope, supervisor.tools, ("supervisor",), "the supervisor", ())


def _unknown_target(
    scope: Scope, name: str, target: str, path: PathKey, meant: str | None, contracts: list[int]
) -> Diagnostic:
    """SB101 for ``name -> target``; ``contracts`` repeat the unknown target (reported here, not again)."""
    also: list[tuple[PathKey, str]] = [
        (("handoff", n, "to"), f"[[handoff]] #{n + 1} names '{target}' too") for n in contracts
    ]
    where = " and ".join(f"[[handoff]] #{n + 1}" for n in contracts)
    if meant is not None:
        fix = f"change '{target}' to '{meant}'" + (f" here and in {where}" if where else "")
        meant_contract = scope.flow.contracts.get((name, meant))
        if meant_contract is not None:
            n = scope.flow.handoff.index(meant_contract)
            also.append((("handoff", n), f"the contract for '{name}' -> '{meant}'"))
    else:
        fix = f"define [agents.{target}], or remove '{target}' from the handoffs of '{name}'"
        fix += f" (and {where})" if where else ""
    return scope.diagnostic(
        "SB101",
        f"agent '{name}' hands off to unknown agent '{target}'{suggestion_text(meant)}",
        path,
        (name,),
        {"target": target},
        help=fix,
        related=[*_agent_defined(meant), *also],
    )


def _tool_list(
    scope: Scope, names: list[str], owner: PathKey, who: str, agents: tuple[str, ...]
) -> Iterator[Diagnostic]:
    known = scope.flow.tools
    fixes = scope.fixes.names
    seen: set[str] = set()
    for i, tool in enumerate(names):
        path: PathKey = (*owner, "tools", i)
        if tool in seen:
            yield scope.diagnostic(
                "SB104", f"{who} lists tool '{tool}' twice", path, agents, help=f"remove the second '{tool}'"
            )
        elif tool not in known:
            meant = fixes.get(path)
            yield scope.diagnostic(
                "SB102",
                f"{who} uses unknown tool '{tool}'{suggestion_text(meant)}",
                path,
                agents,
                {"tool": tool},
                help=f"change '{tool}' to '{meant}'"
                if meant
                else f"define [tools.{tool}], or remove '{tool}' from the tools of {who}",
                related=[] if meant is None else [(("tools", meant), f"tool '{meant}' is defined here")],
            )
        seen.add(tool)


def _contracts(scope: Scope) -> Iterator[Diagnostic]:
    agents = scope.flow.agents
    fixes = scope.fixes.names
    fixed = scope.fixes.flow.agents
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
                help="merge the two contracts into one",
                related=[(("handoff", first[src, dst]), "the first contract")],
            )
            continue
        first[src, dst] = n
        if src in agents and dst not in agents and dst in agents[src].handoffs:
            continue  # the same unknown target as a handoff: reported there (SB101), with this as related
        unknown = [(end, name) for end, name in (("from", src), ("to", dst)) if name not in agents]
        for end, name in unknown:
            known = tuple(a for a in (src, dst) if a in agents)
            path: PathKey = ("handoff", n, end)
            meant = fixes.get(path)
            yield scope.diagnostic(
                "SB101",
                f"contract {edge} names unknown agent '{name}'{suggestion_text(meant)}",
                path,
                known,
                {"target": name},
                help=f"change '{name}' to '{meant}'"
                if meant
                else f"define [agents.{name}], or remove [[handoff]] #{n + 1}",
                related=_agent_defined(meant),
            )
        if not unknown and dst not in agents[src].handoffs and dst not in fixed[src].handoffs:
            yield scope.diagnostic(
                "SB106",
                f"contract {edge} is for a handoff '{src}' does not declare ('{dst}' is not in its handoffs)",
                ("handoff", n),
                tuple(dict.fromkeys((src, dst))),
                help=f"add '{dst}' to the handoffs of '{src}', or remove [[handoff]] #{n + 1}",
                related=[(("agents", src, "handoffs"), f"the handoffs of '{src}'")],
            )


def _tools(scope: Scope) -> Iterator[Diagnostic]:
    flow = scope.flow
    users: dict[str, list[str]] = {}
    for name, agent in flow.agents.items():
        for tool in agent.tools:
            users.setdefault(tool, []).append(name)
    supervised = set(flow.supervisor.tools) if flow.supervisor else set()
    fixed = scope.fixes.flow
    meant = {tool for agent in fixed.agents.values() for tool in agent.tools}
    meant |= set(fixed.supervisor.tools) if fixed.supervisor else set()
    for tool in flow.tools:
        agents = tuple(dict.fromkeys(users.get(tool, [])))
        if tool.startswith(TRANSFER_PREFIX) or tool == ESCALATION_TOOL:
            clash = (
                f"the generated transfer tools (names starting '{TRANSFER_PREFIX}' are reserved)"
                if tool.startswith(TRANSFER_PREFIX)
                else "the generated escalation tool of the supervisor"
            )
            yield scope.diagnostic(
                "SB108",
                f"tool '{tool}' collides with {clash}",
                ("tools", tool),
                agents,
                {"tool": tool},
                help=f"rename [tools.{tool}] (and where agents list it)",
            )
        if not agents and tool not in supervised and tool not in meant:
            yield scope.diagnostic(
                "SB107",
                f"tool '{tool}' is not used by any agent or the supervisor",
                ("tools", tool),
                extra={"tool": tool},
                help=f"add '{tool}' to the tools of an agent or the supervisor, or remove [tools.{tool}]",
            )
