"""Why a required key is missing on arrival: a concrete walk from the entry on which it is lost.

For a key k, the *loss forest* spans the agents that lack k on arrival (per ``must_available``).  Its roots
are where k is lost outright: the entry agent when ``initial_context`` lacks k, or an agent with an incoming
edge that does not let k through.  A node's children are reached over edges that let k through from a node
that lacks k and does not produce it.  Every agent lacking k is in the forest: the agents left out would
all get k back consistently, contradicting that ``must_available`` is the *greatest* fixpoint.  So the
forest route to an agent, behind a shortest route from the entry to the cause, is a walk that loses k.

The forests of all keys are grown together, one bit per key, by a level-synchronous BFS: a node is expanded
once per distinct level at which its keys reach it, so building them stays within O((V + E) * K); reading
one route back costs its length.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.verify.dataflow import Network


@dataclass
class Losses:
    roots: dict[str, list[tuple[str | None, int]]]
    """Node -> ``(cause, keys lost outright here)``; the cause is the source of the edge that dropped the
    keys, or ``None`` at the entry for keys missing from ``initial_context``."""
    parents: dict[str, list[tuple[str, int]]]
    """Node -> ``(parent, keys first reached from it)``."""

    def chain(self, node: str, bit: int) -> tuple[str | None, list[str]]:
        """The cause, and the forest route from its root to ``node``, for the key ``bit``."""
        route = [node]
        while True:
            for cause, bits in self.roots.get(node, ()):
                if bits & bit:
                    route.reverse()
                    return cause, route
            node = next(parent for parent, bits in self.parents[node] if bits & bit)
            route.append(node)


def losses(net: Network, avail: dict[str, int], wanted: int) -> Losses:
    """The loss forests of the keys in ``wanted`` (a mask), given ``avail = must_available(net, ...)``."""
    lack = {node: wanted & ~avail[node] for node in net.nodes}
    roots: dict[str, list[tuple[str | None, int]]] = {}
    reached: dict[str, int] = {}
    for node in net.nodes:
        left = lack[node]
        found: list[tuple[str | None, int]] = []
        if node == net.entry and left & ~net.start:
            found.append((None, left & ~net.start))
            left &= net.start
        for src, through in net.preds[node]:  # sources in BFS order: the nearest cause first
            if not left:
                break
            if left & ~through:
                found.append((src, left & ~through))
                left &= through
        if found:
            roots[node] = found
            reached[node] = lack[node] & ~left
    parents: dict[str, list[tuple[str, int]]] = {}
    frontier = dict(reached)
    while frontier:
        following: dict[str, int] = {}
        for node, bits in frontier.items():
            bits &= ~net.gen[node]
            if not bits:
                continue
            for dst, through in net.succs[node].items():
                new = bits & through & lack[dst] & ~reached.get(dst, 0)
                if new:
                    reached[dst] = reached.get(dst, 0) | new
                    following[dst] = following.get(dst, 0) | new
                    parents.setdefault(dst, []).append((node, new))
        frontier = following
    return Losses(roots, parents)
