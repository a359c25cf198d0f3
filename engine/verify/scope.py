"""The flow under check and what several checks share: its graphs, the BFS from entry, diagnostics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from engine.flow.diagnostics import Diagnostic, Related
from engine.flow.loader import FlowDocument
from engine.flow.model import Flow
from engine.flow.positions import PathKey
from engine.verify.fixes import Fixes, find_fixes
from engine.verify.graph import HANDOFF, routing_adjacency, routing_graph
from engine.verify.loops import Moves
from engine.verify.rules import RULES
from engine.verify.search import Tree, bfs

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True)
class Scope:
    doc: FlowDocument

    @property
    def flow(self) -> Flow:
        return self.doc.flow

    @cached_property
    def routes(self) -> nx.DiGraph:
        """Declared handoffs plus the implicit fallback edges."""
        return routing_graph(self.flow)

    @cached_property
    def adjacency(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The routing graph as plain dicts, ``{source: {target: edge data}}``: much faster to walk."""
        return routing_adjacency(self.flow)

    @cached_property
    def declared(self) -> dict[str, list[str]]:
        """The handoff graph (declared handoffs between known agents, no self-loops) as adjacency lists."""
        return {
            source: [target for target, data in targets.items() if data["kind"] == HANDOFF]
            for source, targets in self.adjacency.items()
        }

    @cached_property
    def moves(self) -> Moves:
        """Every move a conversation can make, with the budgets that bound them (see ``loops.py``)."""
        return Moves.of(self.flow, self.adjacency)

    def declares(self, source: str, target: str) -> bool:
        """Whether ``source -> target`` is a declared handoff between known agents."""
        edge = self.adjacency.get(source, {}).get(target)
        return edge is not None and edge["kind"] == HANDOFF

    @cached_property
    def entry(self) -> str | None:
        """The entry agent, or ``None`` when it is unknown (SB103): checks that need it are skipped."""
        return self.flow.flow.entry if self.flow.flow.entry in self.flow.agents else None

    @cached_property
    def recovery(self) -> str | None:
        return self.flow.flow.recovery if self.flow.flow.recovery in self.flow.agents else None

    @cached_property
    def from_entry(self) -> Tree:
        """Shortest routes from the entry agent over the routing graph (empty when the entry is unknown)."""
        if self.entry is None:
            return Tree({}, {})
        return bfs([self.entry], self.adjacency.__getitem__)

    @cached_property
    def providers(self) -> dict[str, PathKey]:
        """Each context key something in the flow provides (``initial_context``, an agent's ``produces``, a
        tool's ``sets``) -> where it is first provided."""
        flow = self.flow
        where: dict[str, PathKey] = {}
        for i, key in enumerate(flow.flow.initial_context):
            where.setdefault(key, ("flow", "initial_context", i))
        for name, agent in flow.agents.items():
            for i, key in enumerate(agent.produces):
                where.setdefault(key, ("agents", name, "produces", i))
        for name, tool in flow.tools.items():
            for i, key in enumerate(tool.sets):
                where.setdefault(key, ("tools", name, "sets", i))
        return where

    @cached_property
    def fixes(self) -> Fixes:
        """The unknown names that have a near miss, and the flow with them fixed (see ``fixes.py``)."""
        return find_fixes(self.flow)

    def diagnostic(
        self,
        code: str,
        message: str,
        path: PathKey,
        agents: tuple[str, ...] = (),
        extra: dict[str, Any] | None = None,
        *,
        help: str = "",
        related: Sequence[tuple[PathKey, str]] = (),
    ) -> Diagnostic:
        """A finding of rule ``code`` at document ``path`` (severity and name come from the catalogue);
        ``help`` is the fix, ``related`` the secondary locations as ``(document path, note)``."""
        rule = RULES[code]
        locate = self.doc.source.locate
        return Diagnostic(
            code,
            rule.severity,
            message,
            locate(path),
            agents,
            rule.name,
            extra or {},
            help=help,
            related=tuple(Related(locate(p), note) for p, note in related),
        )


def quoted(names: list[str], limit: int = 6) -> str:
    """``'a', 'b' and 'c'``; past ``limit`` names, ``'a', 'b', ... and 7 more``."""
    shown = [f"'{n}'" for n in names[:limit]]
    if len(names) <= 1:
        return "".join(shown)
    if len(names) > limit:
        return f"{', '.join(shown)} and {len(names) - limit} more"
    return f"{', '.join(shown[:-1])} and {shown[-1]}"
