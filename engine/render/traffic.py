"""Traffic from audit logs, overlaid on a diagram: how many handoffs took each route.

:class:`Traffic` is plain data, counted from :class:`~engine.session.audit.AuditRecord` s (handoff records
only): ``(from_agent, to_agent)`` -> outcome counts, as logged. A ``capped`` or ``recovered`` record names the
recovery agent as ``to_agent`` (the route the conversation took) and the agent asked for in
``detail["requested"]``; those requests are counted apart, in :attr:`Traffic.rerouted`. :func:`overlay` puts
the counts on a :class:`~engine.render.view.Diagram`; :func:`read_traffic` reads log files (the only I/O here).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from engine.errors import SwitchboardError
from engine.render.view import Diagram, Edge, EdgeKind, EdgeTraffic, TrafficSummary
from engine.session.audit import AuditRecord
from engine.session.tally import tally
from engine.store import StoreError, read_audit

Route = tuple[str, str]


class TrafficError(SwitchboardError):
    """An audit log could not be read."""


@dataclass(frozen=True)
class Traffic:
    """Handoff attempts counted from audit logs."""

    edges: Mapping[Route, Counter[str]] = field(default_factory=dict)
    """``(from_agent, to_agent)`` -> outcome (``done``, ``refused``, ``capped``, ``recovered``) -> count."""
    rerouted: Mapping[Route, Counter[str]] = field(default_factory=dict)
    """``(from_agent, requested)`` -> ``capped``/``recovered`` -> count: transfers asked for along a route and
    sent to the recovery agent instead."""
    conversations: int = 0
    """Conversations seen in the logs (with or without handoffs)."""
    escalations: Mapping[str, Counter[str]] = field(default_factory=dict)
    """Front agent -> escalation outcome (``answered``, ``timed_out``…) -> count."""

    @classmethod
    def from_records(cls, records: Iterable[AuditRecord]) -> Traffic:
        """Count ``records`` with the session tally (a record seen twice counts once)."""
        counted = tally(records)
        return cls(counted.edges, counted.rerouted, len(counted.conversations), counted.escalations)

    @property
    def handoffs(self) -> int:
        """Handoffs taken: done, capped or recovered."""
        return sum(c["done"] + c["capped"] + c["recovered"] for c in self.edges.values())

    @property
    def refused(self) -> int:
        return sum(c["refused"] for c in self.edges.values())

    def on(self, route: Route) -> EdgeTraffic:
        """What was logged about ``route`` (all zero: nothing)."""
        logged = self.edges.get(route, Counter())
        asked = self.rerouted.get(route, Counter())
        return EdgeTraffic(
            logged["done"],
            logged["refused"],
            logged["capped"],
            logged["recovered"],
            asked["capped"],
            asked["recovered"],
        )

    def routes(self) -> set[Route]:
        return set(self.edges) | set(self.rerouted)


def overlay(diagram: Diagram, traffic: Traffic) -> Diagram:
    """``diagram`` with ``traffic`` on it: every edge gets its counts (zero: drawn lighter).

    A fallback route counts only the conversations rerouted along it (``capped``, ``recovered``): the model
    cannot ask for it, so a transfer asked for on that pair is not a route of the flow. Attempts on routes the
    diagram does not have are listed in the summary. Two presentational changes keep each count on its own
    route: a two-headed pair with traffic either way is drawn as two edges, and an agent whose implicit
    fallback carried traffic gets its own fallback edge out of the collapsed "any agent" one.
    """
    kinds = {(source, target): kind for source, target, kind in diagram.routes()}

    def on(route: Route) -> EdgeTraffic:
        logged = traffic.on(route)
        return _rerouted_only(logged) if kinds.get(route) is EdgeKind.FALLBACK else logged

    edges: list[Edge] = []
    for e in diagram.edges:
        forward, backward = on((e.source, e.target)), on((e.target, e.source))
        if e.both and (forward.any or backward.any):
            edges.append(replace(e, both=False, traffic=forward))
            edges.append(Edge(e.target, e.source, e.kind, traffic=backward))
        else:
            edges.append(replace(e, traffic=forward))
    fallback_all = diagram.fallback_all
    if fallback_all is not None:
        target = fallback_all.target
        hot = [s for s in fallback_all.sources if on((s, target)).any]
        edges += [
            Edge(s, target, EdgeKind.FALLBACK, carry=fallback_all.carry, traffic=on((s, target))) for s in hot
        ]
        rest = tuple(s for s in fallback_all.sources if s not in hot)
        fallback_all = replace(fallback_all, sources=rest) if rest else None
    elsewhere = []
    for route in sorted(traffic.routes()):
        logged = traffic.on(route)
        if route in kinds:
            logged = _subtract(logged, on(route))
        if logged.any:
            elsewhere.append((*route, logged))
    summary = TrafficSummary(
        traffic.conversations,
        traffic.handoffs,
        traffic.refused,
        max((e.traffic.taken for e in edges if e.traffic is not None), default=0),
        tuple(elsewhere),
        tuple(
            (agent, outcome, count)
            for agent, outcomes in sorted(traffic.escalations.items())
            for outcome, count in sorted(outcomes.items())
        ),
    )
    return replace(diagram, edges=tuple(edges), fallback_all=fallback_all, traffic=summary)


def _rerouted_only(t: EdgeTraffic) -> EdgeTraffic:
    return EdgeTraffic(capped=t.capped, recovered=t.recovered)


def _subtract(a: EdgeTraffic, b: EdgeTraffic) -> EdgeTraffic:
    return EdgeTraffic(
        *(getattr(a, f.name) - getattr(b, f.name) for f in fields(EdgeTraffic))  # every field is a count
    )


def read_traffic(paths: Sequence[str | Path], warn: Callable[[str], None]) -> Traffic:
    """Count the handoffs in the audit logs at ``paths``.

    A line that is not an audit record is reported through ``warn`` as ``file:line: problem`` and skipped; a
    file that cannot be read (missing, a folder, not UTF-8 text) raises :class:`TrafficError`.
    """
    records: list[AuditRecord] = []
    for path in paths:
        before = len(records)
        try:
            for where, item in read_audit(str(path)):
                problem = item if isinstance(item, str) else _problem(item)
                if problem is not None:
                    warn(f"{where}: {problem}")
                else:
                    assert isinstance(item, AuditRecord)
                    records.append(item)
        except OSError as exc:
            raise TrafficError(f"cannot read audit log {path}: {exc.strerror or exc}") from None
        except StoreError as exc:
            raise TrafficError(f"cannot read audit log {path}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise TrafficError(f"cannot read audit log {path}: not UTF-8 text ({exc.reason})") from None
        if len(records) == before:
            warn(f"{path}: no audit records")
    return Traffic.from_records(records)


def _problem(record: AuditRecord) -> str | None:
    """Why ``record`` cannot be counted, for fields JSON gave the wrong type (``None``: it can)."""
    if not isinstance(record.conversation_id, str) or not isinstance(record.seq, int):
        return "not an audit record: conversation_id must be a string and seq an integer"
    if not isinstance(record.from_agent, str) or not isinstance(record.to_agent, str | None):
        return "not an audit record: from_agent and to_agent must be agent names"
    if not isinstance(record.detail, dict):
        return "not an audit record: detail must be an object"
    return None
