"""A script's names checked against its flow, as ``lint`` checks a flow's own (pure: flow and script in,
diagnostics out). A rule for an agent the flow lacks never matches, and an expectation naming one can never
hold: both are errors, positioned at the name, with a did-you-mean.

- ``SB701`` an agent the flow does not have (a rule's ``agent``, an expectation's ``agent``),
- ``SB702`` a function the flow offers no agent (``has_tool``, ``after``, ``call``, ``calls``, ``tool``),
- ``SB703`` ``transfer_to_<agent>`` for an agent the flow does not have,
- ``SB704`` a context key the flow never uses (``context``, ``[expect] context``).

Cost: linear in the script's names (each did-you-mean is one pass over the flow's names).
"""

from __future__ import annotations

from collections.abc import Iterator

from engine.emulator.script import Script
from engine.flow.diagnostics import Diagnostic, Severity
from engine.flow.model import ESCALATION_TOOL, Flow
from engine.flow.names import TRANSFER_PREFIX
from engine.flow.positions import PathKey
from engine.flow.suggest import did_you_mean, suggestion_text

__all__ = ["check_script", "context_keys", "function_names"]


def function_names(flow: Flow) -> list[str]:
    """Every function some agent of ``flow`` can be offered: its tools, every transfer, the escalation."""
    names = [*flow.tools, *(TRANSFER_PREFIX + a for a in flow.agents)]
    return [*names, ESCALATION_TOOL] if flow.supervisor is not None else names


def context_keys(flow: Flow) -> set[str]:
    """Every context key the flow names: initial, produced, required, set by a tool, carried, sensitive."""
    keys = {*flow.flow.initial_context, *flow.flow.fallback_carry, *flow.flow.sensitive}
    for agent in flow.agents.values():
        keys.update(agent.produces, agent.requires)
    for tool in flow.tools.values():
        keys.update(tool.sets)
    for handoff in flow.handoff:
        keys.update(handoff.carry or ())
    return keys


def _names(script: Script) -> Iterator[tuple[str, PathKey, str]]:
    """``(kind, path, name)`` of every agent, function and context key the script names."""
    for i, rule in enumerate(script.rules):
        if rule.agent is not None:
            yield "agent", ("rule", i, "agent"), rule.agent
        for key in ("has_tool", "after", "call"):
            value = getattr(rule, key)
            if value is not None:
                yield "function", ("rule", i, key), value
        for j, call in enumerate(rule.calls):
            yield "function", ("rule", i, "calls", j, "name"), call.name
    for i, turn in enumerate(script.turns):
        if turn.expect is None:
            continue
        if turn.expect.agent is not None:
            yield "agent", ("turn", i, "expect", "agent"), turn.expect.agent
        for name in turn.expect.tool:
            yield "function", ("turn", i, "expect", "tool"), name
    for key in script.context:
        yield "context", ("context", key), key
    end = script.expect
    if end is not None:
        if end.agent is not None:
            yield "agent", ("expect", "agent"), end.agent
        if end.context is not None:
            for which in ("set", "unset"):
                for key in getattr(end.context, which):
                    yield "context", ("expect", "context", which), key


def check_script(script: Script, flow: Flow) -> list[Diagnostic]:
    """Every name in ``script`` that ``flow`` does not define, one positioned error each."""
    agents, functions, keys = list(flow.agents), function_names(flow), context_keys(flow)
    found: list[Diagnostic] = []

    def report(code: str, rule: str, message: str, path: PathKey, fix: str) -> None:
        where = script.source.locate(path)
        found.append(Diagnostic(code, Severity.ERROR, message, where, rule=rule, help=fix))

    for kind, path, name in _names(script):
        if kind == "agent" and name not in flow.agents:
            hint = did_you_mean(name, agents)
            report(
                "SB701",
                "script-unknown-agent",
                f"the flow {flow.flow.name!r} has no agent {name!r}{suggestion_text(hint)}",
                path,
                f"use one of the flow's agents: {', '.join(agents)}",
            )
        elif kind == "function" and name not in functions:
            target = name.removeprefix(TRANSFER_PREFIX)
            if name.startswith(TRANSFER_PREFIX) and target not in flow.agents:
                hint = did_you_mean(target, agents)
                report(
                    "SB703",
                    "script-unknown-transfer",
                    f"{name!r} transfers to {target!r}, which is not an agent of {flow.flow.name!r}"
                    + suggestion_text(hint and TRANSFER_PREFIX + hint),
                    path,
                    f"transfer to one of: {', '.join(agents)}",
                )
            else:
                hint = did_you_mean(name, functions)
                report(
                    "SB702",
                    "script-unknown-tool",
                    f"no agent of {flow.flow.name!r} is offered a function {name!r}{suggestion_text(hint)}",
                    path,
                    "name a `[tools.*]` entry of the flow, a `transfer_to_<agent>`, or the escalation tool",
                )
        elif kind == "context" and name not in keys:
            hint = did_you_mean(name, sorted(keys))
            report(
                "SB704",
                "script-unknown-context-key",
                f"the flow {flow.flow.name!r} never uses the context key {name!r}{suggestion_text(hint)}",
                path,
                "name a key of the flow's `initial_context`, `produces`, `requires`, `sets` or `carry`",
            )
    if script.context:
        extra = sorted(set(script.context) - set(flow.flow.initial_context) & keys)
        for key in extra:
            report(
                "SB704",
                "script-unknown-context-key",
                f"{key!r} is not in the flow's `initial_context`: a script may give only those keys",
                ("context", key),
                f"add {key!r} to `[flow] initial_context`, or let a tool set it",
            )
    return found
