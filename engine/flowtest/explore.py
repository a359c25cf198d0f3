"""A symbolic model of the session core's guardrails, and breadth-first search over it.

The model tracks what the core's handoff guards read (:mod:`engine.session.core`): the current agent, the
trusted context keys visible to it, every key learnt, the visits per agent, the handoff depth and the
escalations made. A step is a tool call that sets keys, a transfer, or an escalation; :meth:`Model.transfer`
decides a transfer's outcome in the core's order (depth cap, visit budget, then ``requires``). The generator
searches it for the shortest route to each guardrail, and the coverage report uses an exhaustive search to
tell a guardrail no conversation can trigger from one the suite missed.

Cost: a search visits each distinct state once; the states are bounded by agents x key subsets x visit
vectors x depth (``max_states`` caps it: past it a search says "unknown", never "unreachable").
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from jsonschema import Draft202012Validator

from engine.compile.plan import carry_keys, transfer_targets
from engine.flow.model import Flow
from engine.session.history import policy

__all__ = [
    "CallTool",
    "Escalate",
    "Exhaust",
    "Model",
    "Search",
    "State",
    "Step",
    "Transfer",
    "example_arguments",
]

MAX_STATES = 50_000
"""States a search may visit before it gives up (its answer is then "unknown", not "unreachable")."""

Outcome = Literal["done", "refused", "capped", "recovered"]


@dataclass(frozen=True)
class State:
    agent: str
    visible: frozenset[str] = frozenset()
    """Trusted keys visible to the agent (what ``requires`` checks)."""
    known: frozenset[str] = frozenset()
    """Every trusted key learnt (what the end of a conversation reports)."""
    visits: tuple[tuple[str, int], ...] = ()
    depth: int = 0
    escalations: int = 0

    def visits_of(self, agent: str) -> int:
        return dict(self.visits).get(agent, 0)

    def visited(self, agent: str) -> tuple[tuple[str, int], ...]:
        counts = dict(self.visits)
        counts[agent] = counts.get(agent, 0) + 1
        return tuple(sorted(counts.items()))


@dataclass(frozen=True)
class CallTool:
    agent: str
    tool: str
    arguments: str
    """The arguments, as JSON text (a step is hashable)."""
    sets: tuple[str, ...]


@dataclass(frozen=True)
class Transfer:
    source: str
    target: str
    outcome: Outcome
    to: str
    """The agent after the step: the target, the recovery agent (a reroute) or the source (refused)."""
    carried: tuple[str, ...] = ()
    history: str | None = None
    guard: str | None = None
    """The guardrail that decided a reroute or refusal: max_handoff_depth, max_visits, requires."""
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Exhaust:
    """The agent makes refused calls (``transfer_to_<itself>``) until a tool budget sends the conversation
    to the recovery agent: the one route there that takes no handoff depth and any agent can take."""

    agent: str
    calls: int
    refused: int
    """Refused handoff records it leaves (the per-turn call budget may stop it before ``calls``)."""
    to: str
    carried: tuple[str, ...] = ()


@dataclass(frozen=True)
class Escalate:
    agent: str
    outcome: Literal["answered", "over_budget", "timed_out", "stale"]
    to: str


Step = CallTool | Transfer | Exhaust | Escalate


def example_arguments(schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """Arguments a tool accepts: the schema's first ``examples`` entry, else one built from each required
    property's ``examples``, ``const``, ``default`` or first ``enum`` value (a plain string, number, boolean,
    array or object otherwise); ``None`` when none can be built or the result fails the schema."""
    examples = schema.get("examples")
    candidate: Any = examples[0] if isinstance(examples, list) and examples else _example(schema)
    if not isinstance(candidate, dict):
        return None
    try:
        ok = Draft202012Validator(dict(schema)).is_valid(candidate)
    except Exception:  # a schema the validator cannot use: no arguments, rather than a crash
        return None
    return candidate if ok else None


_PLAIN: dict[str, Any] = {"string": "example", "integer": 1, "number": 1, "boolean": False, "array": []}


def _example(schema: Mapping[str, Any]) -> Any:
    for key in ("examples", "const", "default", "enum"):
        if key in schema:
            value = schema[key]
            return value[0] if key in ("examples", "enum") and isinstance(value, list) and value else value
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        required = [r for r in schema.get("required", []) if isinstance(r, str)]
        return {name: _example(props.get(name, {})) for name in required}
    return _PLAIN.get(kind) if isinstance(kind, str) else None


@dataclass
class Model:
    """What the guards of ``flow`` decide, step by step (see the module doc)."""

    flow: Flow
    sound: bool = False
    """Whether every key-setting tool may be called, arguments known or not (what a model can do at run
    time: a search of a sound model that finds nothing proves no conversation gets there). Unsound, only
    tools with usable arguments are called: the routes a script can follow."""
    witnesses: dict[str, dict[str, Any]] = field(init=False)
    """Arguments for each tool that sets keys (tools without usable arguments are not called)."""

    def __post_init__(self) -> None:
        self.witnesses = {}
        for name, tool in self.flow.tools.items():
            if tool.sets:
                args = example_arguments(tool.parameters)
                if args is not None:
                    self.witnesses[name] = args

    @property
    def recovery(self) -> str:
        return self.flow.flow.recovery

    def start(self, initial: frozenset[str] | None = None) -> State:
        keys = frozenset(self.flow.flow.initial_context) if initial is None else initial
        entry = self.flow.flow.entry
        return State(entry, keys, keys, ((entry, 1),))

    def targets(self, agent: str) -> list[str]:
        return transfer_targets(self.flow, agent)

    def edges(self) -> list[tuple[str, str]]:
        """Every transfer the flow offers: declared handoffs and the implicit fallback routes."""
        return [(a, t) for a in self.flow.agents for t in self.targets(a)]

    def _carry(self, visible: frozenset[str], carry: list[str] | None) -> frozenset[str]:
        return visible - self.flow.sensitive if carry is None else visible & set(carry)

    def _reroute(self, s: State, target: str, outcome: Outcome, guard: str) -> Transfer | None:
        if s.agent == self.recovery:
            return None
        kept = self._carry(s.visible, self.flow.flow.fallback_carry)
        return Transfer(s.agent, target, outcome, self.recovery, tuple(sorted(kept)), guard=guard)

    def transfer(self, s: State, target: str) -> tuple[Transfer, State]:
        """The outcome of ``s.agent`` calling ``transfer_to_<target>``, and the state after it."""
        flow, source = self.flow, s.agent
        limit = flow.agents[target].max_visits
        guard: tuple[Outcome, str] | None = None
        if s.depth >= flow.flow.max_handoff_depth:
            guard = ("capped", "max_handoff_depth")
        elif limit is not None and s.visits_of(target) >= limit:
            guard = ("recovered", "max_visits")
        if guard is not None:
            moved = self._reroute(s, target, *guard)
            if moved is None:  # the recovery agent has nowhere to go: refused, it stays
                return Transfer(source, target, "refused", source, guard=guard[1]), s
            kept = frozenset(moved.carried)
            return moved, replace(s, agent=self.recovery, visible=kept, visits=s.visited(self.recovery))
        carry = carry_keys(flow, source, target)
        missing = tuple(
            k
            for k in flow.agents[target].requires
            if k not in s.visible or (carry is not None and k not in carry)
        )
        if missing:
            return Transfer(source, target, "refused", source, guard="requires", missing=missing), s
        kept = self._carry(s.visible, carry)
        step = Transfer(
            source, target, "done", target, tuple(sorted(kept)), history=policy(flow, source, target)
        )
        return step, replace(s, agent=target, visible=kept, visits=s.visited(target), depth=s.depth + 1)

    def tool_calls(self, s: State) -> Iterator[tuple[CallTool, State]]:
        """The key-setting tool calls open to ``s.agent`` that would teach it something new."""
        for name in self.flow.agents[s.agent].tools:
            tool = self.flow.tools.get(name)
            if tool is None or set(tool.sets) <= s.visible or (name not in self.witnesses and not self.sound):
                continue
            arguments = json.dumps(self.witnesses.get(name, {}), sort_keys=True)
            step = CallTool(s.agent, name, arguments, tuple(tool.sets))
            yield step, replace(s, visible=s.visible | set(tool.sets), known=s.known | set(tool.sets))

    def escalate(
        self, s: State, outcome: Literal["answered", "timed_out", "stale"] = "answered"
    ) -> tuple[Escalate, State]:
        """An escalation by ``s.agent`` (a front agent): within the budget it gets ``outcome``."""
        supervisor = self.flow.supervisor
        assert supervisor is not None
        if s.escalations >= supervisor.max_escalations:
            if supervisor.on_budget_exhausted == "recover" and s.agent != self.recovery:
                kept = self._carry(s.visible, self.flow.flow.fallback_carry)
                after = replace(s, agent=self.recovery, visible=kept, visits=s.visited(self.recovery))
                return Escalate(s.agent, "over_budget", self.recovery), after
            return Escalate(s.agent, "over_budget", s.agent), s
        return Escalate(s.agent, outcome, s.agent), replace(s, escalations=s.escalations + 1)

    def exhaust(self, s: State) -> tuple[Exhaust, State] | None:
        """Refused calls until a budget reroutes to the recovery agent (``None`` from the recovery agent)."""
        if s.agent == self.recovery:
            return None
        own, settings = self.flow.agents[s.agent], self.flow.flow
        refused = own.max_refused_calls or settings.max_refused_calls
        per_turn = own.max_tool_calls_per_turn or settings.max_tool_calls_per_turn
        kept = self._carry(s.visible, settings.fallback_carry)
        # the call past either budget reroutes: never send more (the rest would be the recovery agent's)
        calls = min(refused + 1, per_turn + 1)
        step = Exhaust(s.agent, calls, min(refused + 1, per_turn), self.recovery, tuple(sorted(kept)))
        return step, replace(s, agent=self.recovery, visible=kept, visits=s.visited(self.recovery))

    def moves(self, s: State) -> Iterator[tuple[Step, State]]:
        """Every step that changes the state: key-setting tool calls, transfers that are not refused, and
        the budget reroute (last: a shortest route takes it only when nothing else is as short)."""
        yield from self.tool_calls(s)
        for target in self.targets(s.agent):
            step, after = self.transfer(s, target)
            if step.outcome != "refused":
                yield step, after
        exhausted = self.exhaust(s)
        if exhausted is not None:
            yield exhausted


@dataclass(frozen=True)
class Search:
    """The result of a search: the route (``None``: not found) and whether the search was exhaustive."""

    route: tuple[Step, ...] | None
    end: State | None
    exhaustive: bool

    @property
    def unreachable(self) -> bool:
        """Proven: no route of the model reaches the goal."""
        return self.route is None and self.exhaustive


def search(model: Model, goal: Callable[[State], bool], *, max_states: int = MAX_STATES) -> Search:
    """The shortest route (fewest steps) from the start to a state where ``goal`` holds."""
    start = model.start()
    parents: dict[State, tuple[State, Step] | None] = {start: None}
    queue = deque([start])
    while queue:
        s = queue.popleft()
        if goal(s):
            route: list[Step] = []
            at = s
            while (link := parents[at]) is not None:
                at, step = link
                route.append(step)
            return Search(tuple(reversed(route)), s, True)
        for step, after in model.moves(s):
            if after not in parents:
                if len(parents) >= max_states:
                    return Search(None, None, False)
                parents[after] = (s, step)
                queue.append(after)
    return Search(None, None, True)


# -- goals: the states where a step under test does what it should (shared by the generator and coverage) --

Goal = Callable[[State], bool]


def taken(model: Model, source: str, target: str, need: frozenset[str] = frozenset()) -> Goal:
    """At ``source`` with ``need`` visible, where ``transfer_to_<target>`` is done."""
    return lambda s: (
        s.agent == source and need <= s.visible and model.transfer(s, target)[0].outcome == "done"
    )


def refused_for(model: Model, target: str, key: str, *, only: bool = False) -> Goal:
    """Where a transfer to ``target`` is refused for ``key`` (``only``: for that key alone)."""

    def goal(s: State) -> bool:
        if target not in model.targets(s.agent):
            return False
        missing = model.transfer(s, target)[0].missing
        return missing == (key,) if only else key in missing

    return goal


def at_depth_cap(model: Model) -> Goal:
    """Where the next transfer is capped (the recovery agent's would be refused)."""
    cap = model.flow.flow.max_handoff_depth
    return lambda s: s.depth == cap and s.agent != model.recovery and bool(model.targets(s.agent))


def over_visits(model: Model, target: str) -> Goal:
    """Where a transfer to ``target`` is stopped by its visit budget."""
    return lambda s: target in model.targets(s.agent) and model.transfer(s, target)[0].guard == "max_visits"


def visited(target: str, times: int) -> Goal:
    return lambda s: s.agent == target and s.visits_of(target) == times


def at_agent(agents: frozenset[str]) -> Goal:
    return lambda s: s.agent in agents


def before_visit(model: Model, target: str, visits: int) -> Goal:
    """Where a transfer to ``target`` passes the depth cap with ``target`` visited ``visits`` times."""
    cap = model.flow.flow.max_handoff_depth
    return lambda s: target in model.targets(s.agent) and s.depth < cap and s.visits_of(target) == visits


def uses_flow_refused_budget(model: Model) -> Goal:
    """At an agent (not the recovery agent) whose refused calls count against ``[flow] max_refused_calls``."""
    agents = model.flow.agents
    return lambda s: s.agent != model.recovery and agents[s.agent].max_refused_calls is None


def at_depth(model: Model, depth: int) -> Goal:
    """At ``depth`` handoffs, at an agent that can transfer."""
    return lambda s: s.depth == depth and s.agent != model.recovery and bool(model.targets(s.agent))
