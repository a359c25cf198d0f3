"""SB304: a contract drops a key the source knows while ``history = "keep"`` lets the next agent read the
turns where it was said (``carry`` governs the instructions, not the conversation)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from engine.flow.diagnostics import Diagnostic
from engine.verify.dataflow import Keys, Network, may_available
from engine.verify.scope import Scope


def check(scope: Scope) -> Iterator[Diagnostic]:
    entry, flow = scope.entry, scope.flow
    if entry is None:
        return
    keeping = [
        (n, c)
        for n, c in enumerate(flow.handoff)
        if c.carry is not None
        and (c.history or flow.flow.history) == "keep"
        and flow.contracts.get((c.source, c.target)) is c
        and scope.declares(c.source, c.target)
        and c.source in scope.from_entry.depth
    ]
    if not keeping:
        return
    tools = flow.tools
    keys = Keys(
        [*flow.flow.initial_context]
        + [key for agent in flow.agents.values() for key in agent.produces]
        + [key for name in flow.agents for t in flow.agents[name].tools if t in tools for key in tools[t].sets]
    )
    if not keys.bits:
        return
    net = Network.build(scope, entry, keys)
    avail = may_available(net, keys)
    for n, contract in keeping:
        src, dst = contract.source, contract.target
        known = avail[src] | net.gen[src]
        for key, bit in keys.bits.items():
            if not known & bit or key in (contract.carry or ()):
                continue
            yield scope.diagnostic(
                "SB304",
                f"contract '{src}' -> '{dst}' drops '{key}', but history = \"keep\" lets '{dst}' read the "
                "turns where it was said",
                ("handoff", n, "carry"),
                (src, dst),
                {"key": key, "edge": [src, dst]},
                help=f"set history = \"reset\" on {src} -> {dst}, or carry '{key}'",
            )


def settle(found: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Drop an SB304 whose key SB301 reports lost on the same edge: carrying it fixes both, report it once."""
    found = list(found)
    lost = {
        (d.extra["key"], tuple(d.extra["lost_on"]))
        for d in found
        if d.code == "SB301" and d.extra.get("lost_on")
    }
    return [
        d for d in found if d.code != "SB304" or (d.extra["key"], tuple(d.extra["edge"])) not in lost
    ]
