"""Which context keys are available where: a bit-vector dataflow over the routing graph, from the entry agent.

A set of keys is an ``int`` bitmask.  Crossing an agent adds what it produces (``gen``); crossing an edge
keeps only what the edge lets through (its contract's ``carry``, ``fallback_carry`` on an implicit fallback
edge, everything but the flow's ``sensitive`` keys otherwise: those travel only where a contract names them).  Every transfer function acts on each bit on its own, so only the keys a check
asks about need a bit, and each bit can drop (or rise) at most once per node: the solver is O((V + E) * K).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from engine.verify.graph import FALLBACK
from engine.verify.scope import Scope


class Keys:
    """Numbers the context keys of interest, one bit each."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.bits = {key: 1 << i for i, key in enumerate(dict.fromkeys(keys))}
        self.all = (1 << len(self.bits)) - 1

    def mask(self, keys: Iterable[str]) -> int:
        mask = 0
        for key in keys:
            mask |= self.bits.get(key, 0)
        return mask


@dataclass
class Network:
    """The routing graph cut down to the agents the entry reaches; each edge knows what keys it passes."""

    entry: str
    start: int
    """``initial_context``: what a conversation starts with at the entry agent."""
    nodes: list[str]
    """Reachable agents, in BFS order from the entry."""
    gen: dict[str, int]
    succs: dict[str, dict[str, int]]
    """Each reachable agent's edges, as ``{target: keys let through}`` (a dict per agent, not a tuple per
    edge: fewer objects for the garbage collector to chase)."""

    @cached_property
    def preds(self) -> dict[str, list[tuple[str, int]]]:
        """Each reachable agent's incoming edges, as ``(source, keys let through)``, sources in BFS order."""
        preds: dict[str, list[tuple[str, int]]] = {name: [] for name in self.nodes}
        for src in self.nodes:
            for dst, through in self.succs[src].items():
                preds[dst].append((src, through))
        return preds

    @classmethod
    def build(cls, scope: Scope, entry: str, keys: Keys) -> Network:
        flow = scope.flow
        tools = flow.tools
        nodes = list(scope.from_entry.depth)
        gen = {}
        for name in nodes:
            agent = flow.agents[name]
            sets = (key for tool in agent.tools if tool in tools for key in tools[tool].sets)
            gen[name] = keys.mask(agent.produces) | keys.mask(sets)
        fallback = keys.mask(flow.flow.fallback_carry)
        unnamed = keys.all & ~keys.mask(flow.flow.sensitive)  # what an edge without a carry list passes
        carried = {id(c): keys.mask(c.carry) for c in flow.handoff if c.carry is not None}
        adjacency = scope.adjacency
        succs = {
            src: {
                dst: fallback if data["kind"] == FALLBACK else carried.get(id(data["contract"]), unnamed)
                for dst, data in adjacency[src].items()
            }
            for src in nodes
        }
        return cls(entry, keys.mask(flow.flow.initial_context), nodes, gen, succs)


def must_available(net: Network, keys: Keys) -> dict[str, int]:
    """Keys present on arrival at each agent on *every* walk from the entry: the greatest fixpoint."""
    return _solve(net, keys, must=True)


def may_available(net: Network, keys: Keys) -> dict[str, int]:
    """Keys present on arrival at each agent on *some* walk from the entry: the least fixpoint."""
    return _solve(net, keys, must=False)


def _solve(net: Network, keys: Keys, must: bool) -> dict[str, int]:
    """Push each agent's output along its edges until nothing changes, from all keys (must) or none (may).

    Contributions only ever shrink (must) or grow (may), so folding the newest one into the target with
    ``&`` (``|``) keeps it equal to the meet over all its incoming edges: each push is O(1), and an agent
    is pushed again only when its own set changed, at most K times.
    """
    avail = dict.fromkeys(net.nodes, keys.all if must else 0)
    avail[net.entry] = net.start
    gen, succs = net.gen, net.succs
    queue = deque(net.nodes)
    queued = set(net.nodes)
    while queue:
        node = queue.popleft()
        queued.discard(node)
        out = avail[node] | gen[node]
        for dst, through in succs[node].items():
            old = avail[dst]
            new = old & out & through if must else old | (out & through)
            if new != old:
                avail[dst] = new
                if dst not in queued:
                    queued.add(dst)
                    queue.append(dst)
    return avail
