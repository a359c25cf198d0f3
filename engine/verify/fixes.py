"""The names a flow most likely meant: each unknown agent or tool name with a near miss, and the flow fixed.

One misspelled name is one root cause. The reference checks (SB101-SB103) report it with the suggestion;
checks whose findings would only follow from it (an agent unreachable because the one handoff to it is
misspelled, a tool unused because its one user misspelled it, a contract for the edge the typo meant, a
prompt naming the transfer tool the typo lost) consult :attr:`Fixes.flow`, the flow as it would be with every
suggestion taken, and stay quiet about what taking it settles.

Which list elements count as unknown names follows ``references.py``: a repeat is SB104 and a self-handoff
SB105, not a misspelling; a second contract for an edge is SB104.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from engine.flow.model import Flow
from engine.flow.positions import PathKey
from engine.flow.suggest import did_you_mean

HINT_BUDGET = 20_000
"""Name comparisons spent on suggestions per flow; past it no more suggestions (keeps verify linear)."""


@dataclass(frozen=True)
class Fixes:
    names: dict[PathKey, str]
    """Document path of an unknown name (``("agents", "front", "handoffs", 1)``) -> the name it misspells."""
    flow: Flow
    """The flow with each such name replaced by its suggestion, except where that would repeat a name in
    its list or give an edge a second contract (then the fix is to delete, not rename). ``flow`` is the
    original flow itself when nothing is misspelled."""


def find_fixes(flow: Flow) -> Fixes:
    """Every unknown agent or tool name of ``flow`` that has a near miss, and the flow with them fixed.

    Cost: linear in the flow, plus at most :data:`HINT_BUDGET` name comparisons; building the fixed flow
    (only when something is misspelled) re-validates the flow once.
    """
    names = _Suggest().names(flow)
    return Fixes(names, _fixed(flow, names) if names else flow)


class _Suggest:
    def __init__(self) -> None:
        self.budget = HINT_BUDGET
        self.found: dict[PathKey, str] = {}

    def __call__(self, path: PathKey, name: str, known: Collection[str], exclude: str = "") -> None:
        if len(known) > self.budget:
            return
        self.budget -= len(known)
        meant = did_you_mean(name, (k for k in known if k != exclude))
        if meant is not None:
            self.found[path] = meant

    def names(self, flow: Flow) -> dict[PathKey, str]:
        agents, tools = flow.agents, flow.tools
        for key in ("entry", "recovery"):
            name = getattr(flow.flow, key)
            if name not in agents:
                self(("flow", key), name, agents)
        supervisor = flow.supervisor
        if supervisor is not None:
            for i, name in enumerate(supervisor.front):
                if name not in agents:
                    self(("supervisor", "front", i), name, agents)
        known_agents, known_tools = agents.keys(), tools.keys()
        for name, agent in agents.items():
            if not known_agents >= set(agent.handoffs):  # the common case, everything known, at C speed
                seen: set[str] = set()
                for i, target in enumerate(agent.handoffs):
                    if target not in seen and target != name and target not in agents:
                        self(("agents", name, "handoffs", i), target, agents, exclude=name)
                    seen.add(target)
            if not known_tools >= set(agent.tools):
                self.tools(("agents", name), agent.tools, tools)
        if supervisor is not None:
            self.tools(("supervisor",), supervisor.tools, tools)
        edges: set[tuple[str, str]] = set()
        if all(c.source in agents and c.target in agents for c in flow.handoff):
            return self.found
        for n, contract in enumerate(flow.handoff):
            edge = (contract.source, contract.target)
            if edge in edges:
                continue
            edges.add(edge)
            for end, name in zip(("from", "to"), edge, strict=True):
                if name not in agents:
                    self(("handoff", n, end), name, agents)
        return self.found

    def tools(self, owner: PathKey, names: list[str], known: Collection[str]) -> None:
        seen: set[str] = set()
        for i, tool in enumerate(names):
            if tool not in seen and tool not in known:
                self((*owner, "tools", i), tool, known)
            seen.add(tool)


def _fixed(flow: Flow, names: dict[PathKey, str]) -> Flow:
    data: dict[str, Any] = flow.model_dump(by_alias=True)
    for path, meant in names.items():
        head, *rest = path
        if head == "flow":
            data["flow"][rest[0]] = meant
        elif head == "handoff":
            n, end = rest
            contract = {**data["handoff"][n], str(end): meant}
            edge = (contract["from"], contract["to"])
            if all((c["from"], c["to"]) != edge for c in data["handoff"]):
                data["handoff"][n] = contract
        else:  # a list element: ("agents", name, "handoffs" | "tools", i) or ("supervisor", "front" | "tools", i)
            *owner, i = path
            node: Any = data
            for part in owner:
                node = node[part]
            if meant not in node:
                node[int(i)] = meant
    return Flow.model_validate(data)
