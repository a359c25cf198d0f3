"""What a suite exercised of a flow: agents, edges, guardrails and contracts, counted from the audit records
of its runs, against what the flow can trigger at all.

A target no conversation can reach (proven by an exhaustive search of the model in
:mod:`engine.flowtest.explore`, e.g. a visit budget the depth cap always pre-empts) is listed as
unreachable and left out of the percentages; one the search could not decide counts as reachable.

Target names (stable: ``--format json`` and ``render --coverage`` read them):

- ``agent:NAME``; ``edge:A->B`` (declared handoffs and implicit fallbacks); ``contract:A->B`` (a
  ``[[handoff]]`` contract, exercised when its edge is taken);
- guardrails: ``requires:AGENT.KEY`` (a refusal for that key), ``max_handoff_depth``, ``max_visits:AGENT``,
  ``history:POLICY`` (a handoff under that policy), ``max_refused_calls`` (a reroute by it), and with a supervisor ``max_escalations``,
  ``supervisor_timeout``, ``barge_in``.

Cost: one exhaustive search per target (see the explore module), then linear in the records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.flow.model import Flow
from engine.flowtest.explore import (
    Goal,
    Model,
    at_agent,
    at_depth_cap,
    over_visits,
    refused_for,
    search,
    taken,
)
from engine.session.audit import AuditRecord
from engine.session.history import policy

__all__ = ["KINDS", "Coverage", "Target", "covered_by", "targets_of"]

Kind = Literal["agent", "edge", "guardrail", "contract"]
KINDS: tuple[Kind, ...] = ("agent", "edge", "guardrail", "contract")


@dataclass(frozen=True)
class Target:
    kind: Kind
    name: str
    reachable: bool
    """False only when no conversation of the flow can exercise it (proven)."""


def _edge(a: str, b: str) -> str:
    return f"edge:{a}->{b}"


def _any_of(goals: list[Goal]) -> Goal:
    return lambda s: any(goal(s) for goal in goals)


def targets_of(flow: Flow) -> list[Target]:
    """Every target of ``flow`` and whether a conversation can reach it."""
    model = Model(flow, sound=True)
    found: list[Target] = []

    def add(kind: Kind, name: str, goal: Goal) -> None:
        found.append(Target(kind, name, not search(model, goal).unreachable))

    for name in flow.agents:
        add("agent", f"agent:{name}", at_agent(frozenset({name})))
    edges = model.edges()
    for a, b in edges:
        add("edge", _edge(a, b), taken(model, a, b))
    for target, agent in flow.agents.items():
        for key in agent.requires:
            add("guardrail", f"requires:{target}.{key}", refused_for(model, target, key))
    add("guardrail", "max_handoff_depth", at_depth_cap(model))
    for target, agent in flow.agents.items():
        if agent.max_visits is not None:
            add("guardrail", f"max_visits:{target}", over_visits(model, target))
    add("guardrail", "max_refused_calls", lambda s: s.agent != model.recovery)
    for kind in sorted({policy(flow, a, b) for a, b in edges}):
        goals = [taken(model, a, b) for a, b in edges if policy(flow, a, b) == kind]
        add("guardrail", f"history:{kind}", _any_of(goals))
    if flow.supervisor is not None:
        for name in ("max_escalations", "supervisor_timeout", "barge_in"):
            add("guardrail", name, at_agent(frozenset(flow.front_agents)))
    for a, b in flow.contracts:
        if (a, b) in edges:
            add("contract", f"contract:{a}->{b}", taken(model, a, b))
    return found


def covered_by(flow: Flow, records: Iterable[AuditRecord]) -> set[str]:
    """The targets ``records`` (of one or more conversations of ``flow``) exercised."""
    seen = {f"agent:{flow.flow.entry}"}
    for r in records:
        if r.kind == "handoff":
            guard = r.detail.get("guard")
            target = str(r.detail.get("requested", r.to_agent))
            if r.outcome != "refused" and r.to_agent:
                seen.add(f"agent:{r.to_agent}")
            if r.outcome == "done":
                seen |= {_edge(r.from_agent, str(r.to_agent)), f"contract:{r.from_agent}->{r.to_agent}"}
                seen.add(f"history:{r.detail.get('requested_history', r.detail.get('history', 'keep'))}")
            elif r.outcome == "refused" and "missing" in r.detail:
                seen |= {f"requires:{r.to_agent}.{k}" for k in r.detail["missing"]}
            if r.outcome == "capped" or guard == "max_handoff_depth":
                seen.add("max_handoff_depth")
            if guard == "max_visits":
                seen.add(f"max_visits:{target}")
            if guard == "max_refused_calls":
                seen.add("max_refused_calls")
        elif r.kind == "escalation":
            name = {"over_budget": "max_escalations", "timed_out": "supervisor_timeout", "stale": "barge_in"}
            if r.outcome in name:
                seen.add(name[r.outcome])
    return seen


@dataclass
class Coverage:
    """The coverage of one flow by a suite."""

    flow: str
    """The flow file."""
    targets: list[Target]
    covered: set[str] = field(default_factory=set)
    cases: int = 0

    def add(self, flow: Flow, records: Iterable[AuditRecord]) -> None:
        self.covered |= covered_by(flow, records)
        self.cases += 1

    def counted(self, kind: Kind | None = None) -> list[Target]:
        return [t for t in self.targets if t.reachable and (kind is None or t.kind == kind)]

    def percent(self, kind: Kind | None = None) -> float:
        wanted = self.counted(kind)
        if not wanted:
            return 100.0
        return 100.0 * sum(1 for t in wanted if t.name in self.covered) / len(wanted)

    def missed(self, kind: Kind | None = None) -> list[str]:
        return [t.name for t in self.counted(kind) if t.name not in self.covered]

    def unreachable(self) -> list[str]:
        return [t.name for t in self.targets if not t.reachable]

    def uncovered_edges(self) -> list[tuple[str, str]]:
        """``(from, to)`` of every reachable edge no case took (what ``render --coverage`` dashes)."""
        pairs = [name.removeprefix("edge:").split("->", 1) for name in self.missed("edge")]
        return [(a, b) for a, b in pairs]

    def to_dict(self) -> dict[str, Any]:
        kinds: dict[str, Any] = {}
        for kind in KINDS:
            wanted = self.counted(kind)
            kinds[kind] = {
                "total": len(wanted),
                "covered": sum(1 for t in wanted if t.name in self.covered),
                "percent": round(self.percent(kind), 1),
                "missed": self.missed(kind),
            }
        return {
            "flow": self.flow,
            "cases": self.cases,
            "percent": round(self.percent(), 1),
            "kinds": kinds,
            "unreachable": self.unreachable(),
            "uncovered_edges": [list(e) for e in self.uncovered_edges()],
        }


def report_json(reports: Iterable[Coverage]) -> str:
    return json.dumps({"flows": [r.to_dict() for r in reports]}, indent=2) + "\n"
