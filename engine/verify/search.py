"""Graph searches over plain adjacency dicts: BFS trees (and the routes they give) and strongly connected
components.  Plain dicts, because walking them is several times faster than walking a networkx graph.

A route longer than ``HEAD + TAIL`` agents keeps its first ``HEAD`` and last ``TAIL`` agents around an
``ELIDED`` marker (never a valid agent name), so that reporting a route of a tree costs amortised O(1)
and a flow with many findings on long routes stays linear.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

ELIDED = "..."
HEAD = 10
TAIL = 10


@dataclass
class Tree:
    """A BFS tree (or forest): the depth of every node reached and the parent it was first reached from."""

    depth: dict[str, int]
    parent: dict[str, str]
    """The parent of every non-root node."""
    _anchor: dict[str, str] = field(default_factory=dict, repr=False)

    def __contains__(self, node: object) -> bool:
        return node in self.depth

    def route(self, node: str) -> list[str]:
        """The route from a root to ``node``, elided in the middle when long."""
        depth = self.depth[node]
        if depth < HEAD + TAIL:
            return self._last(node, depth + 1)
        return [*self._last(self._head_end(node), HEAD), ELIDED, *self._last(node, TAIL)]

    def _last(self, node: str, count: int) -> list[str]:
        """The last ``count`` agents of the route to ``node``."""
        out = [node]
        while len(out) < count and node in self.parent:
            node = self.parent[node]
            out.append(node)
        out.reverse()
        return out

    def _head_end(self, node: str) -> str:
        """The ancestor of ``node`` at depth ``HEAD - 1``; memoised, so each node is walked over once."""
        walked = []
        while self.depth[node] >= HEAD and node not in self._anchor:
            walked.append(node)
            node = self.parent[node]
        top = self._anchor.get(node, node)
        for seen in walked:
            self._anchor[seen] = top
        return top


def bfs(roots: Iterable[str], neighbours: Callable[[str], Iterable[str]]) -> Tree:
    """Breadth-first search from ``roots`` (all at depth 0)."""
    depth = dict.fromkeys(roots, 0)
    parent: dict[str, str] = {}
    queue = deque(depth)
    while queue:
        node = queue.popleft()
        next_depth = depth[node] + 1
        for succ in neighbours(node):
            if succ not in depth:
                depth[succ] = next_depth
                parent[succ] = node
                queue.append(succ)
    return Tree(depth, parent)


def shorten(route: list[str]) -> list[str]:
    """Elide the middle of a (possibly joined) route to at most ``HEAD + TAIL + 1`` items."""
    if len(route) <= HEAD + TAIL + 1:
        return route
    return [*route[:HEAD], ELIDED, *route[-TAIL:]]


def show(route: list[str]) -> str:
    return " -> ".join(route)


def strongly_connected(succ: Mapping[str, Sequence[str]]) -> Iterator[list[str]]:
    """The strongly connected components of the graph ``succ`` (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for root in succ:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(succ[root]))]
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(succ[target])))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    yield component
