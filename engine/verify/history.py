"""SB304: a contract drops a key the source knows while ``history = "keep"`` lets the next agent read the
turns where it was said (``carry`` governs the instructions, not the conversation).

Keys some agent ``requires`` are left to SB301: dropping one either loses it for an agent downstream (an
error, whose fix, carrying it, settles this too) or it is brought again; either way one report, not two.
Linear: one may-available dataflow over the keys the flow provides."""

from __future__ import annotations

from collections.abc import Iterator

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
    required = {key for agent in flow.agents.values() for key in agent.requires}
    provided = [*flow.flow.initial_context, *(k for a in flow.agents.values() for k in a.produces)]
    provided += [k for a in flow.agents.values() for t in a.tools if t in tools for k in tools[t].sets]
    keys = Keys(key for key in provided if key not in required)
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
