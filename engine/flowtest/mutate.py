"""Single mutations of a flow, and whether a generated suite notices them (mutation testing).

A suite that passes on a flow should fail on any flow that differs in one edge, one carried key, one budget
or one ``requires``: otherwise a regression of that kind would pass it. :func:`mutants` lists them;
:func:`killer` runs the suite's cases on a mutant (the case aimed at the mutated element first) and names
the first that fails, or the lint rule that rejects the mutant outright.

Mutations: drop a declared handoff (with its contract); drop a key from a contract's ``carry``; lower a
``max_visits``, ``max_handoff_depth``, ``max_escalations`` or ``max_refused_calls`` (the flow's or an
agent's) by one; remove a ``requires`` key. A mutation
that cannot change any conversation is not listed: dropping a handoff to the recovery agent that the
implicit fallback then takes with the same history (carrying the same of the keys the flow can know), and
any mutation whose effect needs a state no conversation reaches (a budget the depth cap always pre-empts),
as a search of the sound model in :mod:`engine.flowtest.explore` proves.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.compile.pipeline import compile_document
from engine.emulator.script import Script
from engine.flow.diagnostics import FlowError, Severity
from engine.flow.loader import FlowDocument
from engine.flow.model import Flow
from engine.flowtest.case import Case
from engine.flowtest.explore import (
    Goal,
    Model,
    State,
    at_agent,
    at_depth,
    before_visit,
    refused_for,
    search,
    taken,
)
from engine.flowtest.generate import Suite, script_text
from engine.flowtest.runner import run_case
from engine.session.context import initial_context

__all__ = ["Mutant", "killer", "mutants"]


@dataclass(frozen=True)
class Mutant:
    description: str
    flow: Flow
    aims: str
    """The generated case aimed at the mutated element (tried first)."""


def _mutated(flow: Flow, change: Callable[[dict[str, Any]], None]) -> Flow:
    """``flow`` with ``change`` applied to its data, validated again (a copy of the model would keep its
    cached properties, such as the contracts, of the original)."""
    data = copy.deepcopy(flow.model_dump(by_alias=True))
    change(data)
    return Flow.model_validate(data)


def _equivalent_drop(flow: Flow, source: str, target: str) -> bool:
    """Dropping ``source -> recovery`` changes no conversation when the implicit fallback then takes that
    route with the same history and carries the same keys of those the flow can ever know (its initial
    context and what its tools set); only the model-facing ``when`` text differs."""
    settings = flow.flow
    if target != settings.recovery or not settings.implicit_fallback:
        return False
    contract = flow.contracts.get((source, target))
    history = None if contract is None else contract.history
    if history not in (None, settings.history):
        return False
    knowable = set(settings.initial_context).union(*(t.sets for t in flow.tools.values()))
    carry = None if contract is None else contract.carry
    declared = knowable - flow.sensitive if carry is None else knowable & set(carry)
    return declared == knowable & set(settings.fallback_carry)


def _candidates(
    flow: Flow, model: Model
) -> Iterator[tuple[str, Callable[[dict[str, Any]], None], str, Goal]]:
    """``(description, change, aimed case, where it shows)`` of every single mutation: the goal is a state
    of the original flow from which the mutant behaves differently."""
    for name, agent in flow.agents.items():
        for target in dict.fromkeys(agent.handoffs):
            if _equivalent_drop(flow, name, target):
                continue

            def drop(data: dict[str, Any], a: str = name, t: str = target) -> None:
                data["agents"][a]["handoffs"] = [x for x in data["agents"][a]["handoffs"] if x != t]
                data["handoff"] = [h for h in data["handoff"] if (h["from"], h["to"]) != (a, t)]

            yield (
                f"drop the handoff {name} -> {target}",
                drop,
                f"edge--{name}--{target}",
                taken(model, name, target),
            )
    for i, contract in enumerate(flow.handoff):
        for key in contract.carry or []:

            def uncarry(data: dict[str, Any], i: int = i, k: str = key) -> None:
                data["handoff"][i]["carry"] = [x for x in data["handoff"][i]["carry"] if x != k]

            a, b = contract.source, contract.target
            yield (
                f"drop {key!r} from the carry of {a} -> {b}",
                uncarry,
                f"edge--{a}--{b}",
                taken(model, a, b, frozenset({key})),
            )
    for name, agent in flow.agents.items():
        limit = agent.max_visits
        if limit is not None and limit > 1:

            def lower(data: dict[str, Any], a: str = name) -> None:
                data["agents"][a]["max_visits"] -= 1

            yield (
                f"lower max_visits of {name} to {limit - 1}",
                lower,
                f"visits--{name}",
                before_visit(model, name, limit - 1),
            )
        for key in agent.requires:

            def unrequire(data: dict[str, Any], a: str = name, k: str = key) -> None:
                data["agents"][a]["requires"] = [x for x in data["agents"][a]["requires"] if x != k]

            goal = refused_for(model, name, key, only=True)
            yield f"remove {key!r} from the requires of {name}", unrequire, f"requires--{name}--{key}", goal
    refused = flow.flow.max_refused_calls
    if refused > 1:

        def fewer_refusals(data: dict[str, Any]) -> None:
            data["flow"]["max_refused_calls"] -= 1

        description = f"lower max_refused_calls to {refused - 1}"
        yield description, fewer_refusals, "refused-calls", _shows_refusals(model, None, refused)
    for name, agent in flow.agents.items():
        own = agent.max_refused_calls
        if own is not None and own > 1 and name != flow.flow.recovery:

            def fewer_own(data: dict[str, Any], a: str = name) -> None:
                data["agents"][a]["max_refused_calls"] -= 1

            description = f"lower max_refused_calls of {name} to {own - 1}"
            yield description, fewer_own, f"refused-calls--{name}", _shows_refusals(model, name, own)
    depth = flow.flow.max_handoff_depth
    if depth > 1:

        def shallower(data: dict[str, Any]) -> None:
            data["flow"]["max_handoff_depth"] -= 1

        yield f"lower max_handoff_depth to {depth - 1}", shallower, "depth-cap", at_depth(model, depth - 1)
    supervisor = flow.supervisor
    if supervisor is not None and supervisor.max_escalations > 1:

        def fewer(data: dict[str, Any]) -> None:
            data["supervisor"]["max_escalations"] -= 1

        front = at_agent(frozenset(flow.front_agents))
        yield f"lower max_escalations to {supervisor.max_escalations - 1}", fewer, "escalation-budget", front


def _shows_refusals(model: Model, agent: str | None, budget: int) -> Goal:
    """Where lowering a refused-calls budget shows: an agent using it whose per-turn call budget does not
    stop the refusals first (past ``budget`` calls in a turn)."""
    flow = model.flow

    def goal(s: State) -> bool:
        if s.agent == model.recovery or (agent is not None and s.agent != agent):
            return False
        own = flow.agents[s.agent]
        if agent is None and own.max_refused_calls is not None:
            return False
        per_turn = own.max_tool_calls_per_turn or flow.flow.max_tool_calls_per_turn
        return per_turn > budget

    return goal


def mutants(flow: Flow) -> Iterator[Mutant]:
    """Every single mutation of ``flow`` that some conversation can tell apart (see the module doc)."""
    model = Model(flow, sound=True)
    for description, change, aims, shows in _candidates(flow, model):
        if not search(model, shows).unreachable:
            yield Mutant(description, _mutated(flow, change), aims)


async def killer(mutant: Mutant, doc: FlowDocument, suite: Suite, script_dir: Path) -> str | None:
    """What rejects ``mutant`` of ``doc``: ``"lint SBxxx"``, the name of the first generated case of
    ``suite`` that fails on it, or ``None`` (it survives). ``script_dir`` is where the scripts would stand."""
    try:
        compiled = compile_document(FlowDocument(mutant.flow, doc.source, doc.base_dir))
    except FlowError as exc:
        codes = sorted({d.code for d in exc.diagnostics if d.severity is Severity.ERROR})
        return "lint " + ",".join(codes)
    ordered: Sequence[str] = sorted((c.name for c in suite.cases), key=lambda n: n != mutant.aims)
    by_name = {c.name: c for c in suite.cases}
    context = initial_context(compiled.flow, {k: f"test-{k}" for k in compiled.flow.flow.initial_context})
    for name in ordered:
        path = script_dir / f"{name}.toml"
        script = Script.parse(script_text(by_name[name], suite.flow, doc.file), str(path))
        result = await run_case(Case(path, script, compiled, context))
        if not result.passed:
            return name
    return None
