"""Why a required key is missing on arrival: every distinct place it is lost, each with a walk that loses it.

Fix a key k. A walk from the entry that arrives somewhere without k lost it for the last time at a *cause*:

- the entry itself, when ``initial_context`` lacks k (and nothing on the walk produced it since), or
- an edge ``s -> r`` that does not let k through while k *is* in what ``s`` passes on along the walk
  (``s`` produced k, or k reached ``s``): a contract's ``carry``, or the implicit fallback's
  ``fallback_carry`` (all fallback edges share one fix, so they count as one cause).

After its cause the walk runs through agents that lack k and do not produce it, over any edge (an edge that
drops a key already gone drops nothing). So the causes of an agent are those a BFS reaches it from over such
edges, started at every cause's target. The BFS runs for all causes at once, one bit each, level by level:
a node is expanded once per distinct level at which causes reach it. Whether k can be in what ``s`` passes
on, and a shortest walk on which it is, comes from a BFS over ``(agent, has k)`` states.

Cost per key: O(V + E) for the state BFS, O((V + E) * min(C, D)) big-int operations for the cause BFS (C the
causes, D its depth); reading one walk back costs its length.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from engine.verify.dataflow import Network
from engine.verify.search import ELIDED, Tree, bfs, shorten


@dataclass(frozen=True)
class Cause:
    """Where a key is lost: ``source -> target`` (``fallback`` when that is the implicit fallback), or, with
    ``source`` ``None``, the entry agent ``target``, for a key missing from ``initial_context``."""

    source: str | None
    target: str
    fallback: bool = False


@dataclass
class Losses:
    """The causes of one key's loss, and the BFS trees that give their walks."""

    causes: list[Cause]
    reached: dict[str, int]
    """Agent -> the causes (bits, by index in ``causes``) some walk loses the key at before arriving there."""
    parents: dict[str, list[tuple[str, int]]]
    """Agent -> ``(parent, causes first reached from it)``."""
    carrying: Tree
    """The ``(agent, has k)`` state BFS (states named by :func:`_state`)."""

    def of(self, node: str) -> Iterator[tuple[Cause, list[str]]]:
        """Each cause that loses the key on the way to ``node``, with a walk from the entry that shows it."""
        bits = self.reached.get(node, 0)
        while bits:  # the set bits, lowest (the nearest cause) first
            i = (bits & -bits).bit_length() - 1
            bits &= bits - 1
            cause = self.causes[i]
            yield cause, shorten([*self._into(cause), *self._chain(node, i)])

    def _into(self, cause: Cause) -> list[str]:
        """A shortest walk from the entry to ``cause.source`` that passes the key on (empty for the entry)."""
        if cause.source is None:
            return []
        with_key = _state(cause.source, True)
        state = with_key if with_key in self.carrying else _state(cause.source, False)
        return [s if s == ELIDED else s[1:] for s in self.carrying.route(state)]

    def _chain(self, node: str, i: int) -> list[str]:
        """The BFS route from the target of cause ``i`` to ``node``, on which the key stays lost."""
        bit, target = 1 << i, self.causes[i].target
        route = [node]
        while node != target:
            node = next(parent for parent, bits in self.parents[node] if bits & bit)
            route.append(node)
        route.reverse()
        return route


def _state(agent: str, has: bool) -> str:
    """An ``(agent, has k)`` state as a string (BFS trees key on strings)."""
    return ("1" if has else "0") + agent


def losses(net: Network, avail: dict[str, int], bit: int, fallback: set[tuple[str, str]]) -> Losses:
    """The causes of losing key ``bit`` and how they spread, given ``avail = must_available(net, ...)``;
    ``fallback`` holds the implicit fallback edges."""
    gen, succs = net.gen, net.succs

    def step(state: str) -> Iterator[str]:
        agent = state[1:]
        out = state[0] == "1" or bool(gen[agent] & bit)
        for dst, through in succs[agent].items():
            yield _state(dst, out and bool(through & bit))

    carrying = bfs([_state(net.entry, bool(net.start & bit))], step)

    def passes_on(agent: str) -> bool:
        return _state(agent, True) in carrying or (
            bool(gen[agent] & bit) and _state(agent, False) in carrying
        )

    causes: list[Cause] = []
    roots: dict[str, int] = {}
    for node in net.nodes:
        if avail[node] & bit:
            continue
        found = 0
        if node == net.entry and not net.start & bit:
            found |= 1 << len(causes)
            causes.append(Cause(None, node))
        grouped = False
        for src, through in net.preds[node]:  # sources in BFS order: the nearest cause first
            if through & bit or not passes_on(src):
                continue
            is_fallback = (src, node) in fallback
            if is_fallback and grouped:
                continue
            grouped |= is_fallback
            found |= 1 << len(causes)
            causes.append(Cause(src, node, is_fallback))
        if found:
            roots[node] = found
    reached = dict(roots)
    parents: dict[str, list[tuple[str, int]]] = {}
    frontier = dict(roots)
    while frontier:
        following: dict[str, int] = {}
        for node, bits in frontier.items():
            if gen[node] & bit:
                continue
            for dst in succs[node]:
                new = bits & ~reached.get(dst, 0)
                if new:
                    reached[dst] = reached.get(dst, 0) | new
                    following[dst] = following.get(dst, 0) | new
                    parents.setdefault(dst, []).append((node, new))
        frontier = following
    return Losses(causes, reached, parents, carrying)
