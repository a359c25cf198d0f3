"""SB301–SB303: context keys: required keys guaranteed, carried keys that exist, produced keys set."""

from __future__ import annotations

from collections.abc import Iterator

from engine.flow.diagnostics import Diagnostic
from engine.flow.positions import PathKey
from engine.verify.dataflow import Keys, Network, may_available, must_available
from engine.verify.graph import FALLBACK
from engine.verify.scope import Scope
from engine.verify.search import shorten, show
from engine.verify.witness import Losses, losses


def check(scope: Scope) -> Iterator[Diagnostic]:
    yield from _produced(scope)
    entry = scope.entry
    if entry is None:
        return
    flow, reached = scope.flow, scope.from_entry
    keys = Keys(
        [key for name in reached.depth for key in flow.agents[name].requires]
        + [key for contract in flow.handoff for key in contract.carry or ()]
    )
    if not keys.bits:
        return
    net = Network.build(scope, entry, keys)
    yield from _required(scope, net, keys)
    yield from _carried(scope, net, keys)


def _required(scope: Scope, net: Network, keys: Keys) -> Iterator[Diagnostic]:
    """SB301: every key an agent ``requires`` must be present on arrival over every walk from the entry."""
    avail = must_available(net, keys)
    missing = [
        (name, j, key)
        for name, agent in scope.flow.agents.items()
        if name in avail
        for j, key in enumerate(agent.requires)
        if not avail[name] & keys.bits[key]
    ]
    if not missing:
        return
    lost = losses(net, avail, keys.mask(key for _, _, key in missing))
    for name, j, key in missing:
        path, why, edge = _witness(scope, lost, name, keys.bits[key])
        fix, related = _keep(scope, name, key, edge)
        yield scope.diagnostic(
            "SB301",
            f"agent '{name}' requires '{key}', which is lost on path {show(path)} ({why})",
            ("agents", name, "requires", j),
            tuple(dict.fromkeys((name, *edge))),
            {"key": key, "path": path, "lost_on": list(edge) or None},
            help=fix,
            related=related,
        )


def _keep(scope: Scope, name: str, key: str, edge: tuple[str, ...]) -> tuple[str, list[tuple[PathKey, str]]]:
    """SB301's fix: carry the key on the edge that drops it, or provide it; and where that is."""
    if not edge:
        return f"add '{key}' to initial_context, or produce it (a tool that sets it) before '{name}'", []
    src, dst = edge
    contract = scope.flow.contracts.get((src, dst))
    if contract is None or not scope.declares(src, dst):  # the implicit fallback
        return f"add '{key}' to fallback_carry", [
            (("flow", "fallback_carry"), "what the implicit fallback carries")
        ]
    n = scope.flow.handoff.index(contract)
    return f"add '{key}' to carry on {src} -> {dst}", [
        (("handoff", n, "carry"), "the contract that drops it")
    ]


def _witness(scope: Scope, lost: Losses, name: str, bit: int) -> tuple[list[str], str, tuple[str, ...]]:
    """A walk from the entry to ``name`` that lacks the key, why it lacks it, and the edge that dropped it."""
    src, chain = lost.chain(name, bit)
    root = chain[0]
    if src is None:  # the entry, whose initial_context lacks the key
        why = "not in initial_context"
        if name != root:
            why += " and not produced on the way"
        return shorten(chain), why, ()
    path = shorten([*scope.from_entry.route(src), *chain])
    if scope.adjacency[src][root]["kind"] == FALLBACK:
        return path, f"not in fallback_carry of the implicit fallback {src} -> {root}", (src, root)
    return path, f"not carried on {src} -> {root}", (src, root)


def _carried(scope: Scope, net: Network, keys: Keys) -> Iterator[Diagnostic]:
    """SB302: a contract ``A -> B`` may carry only keys that some walk from the entry brings out of ``A``."""
    flow = scope.flow
    avail = may_available(net, keys)
    for n, contract in enumerate(flow.handoff):
        src, dst = contract.source, contract.target
        if (
            contract.carry is None
            or src not in avail
            or flow.contracts.get((src, dst)) is not contract
            or not scope.declares(src, dst)
        ):
            continue
        out = avail[src] | net.gen[src]
        for j, key in enumerate(contract.carry):
            if not out & keys.bits[key]:
                yield scope.diagnostic(
                    "SB302",
                    f"contract '{src}' -> '{dst}' carries '{key}', but no route from entry agent "
                    f"'{net.entry}' brings '{key}' to '{src}' and '{src}' does not produce it",
                    ("handoff", n, "carry", j),
                    (src, dst),
                    {"key": key},
                )


def _produced(scope: Scope) -> Iterator[Diagnostic]:
    """SB303: an agent ``produces`` only what its tools ``set`` (skipped where a tool is unknown: SB102)."""
    tools = scope.flow.tools
    for name, agent in scope.flow.agents.items():
        if any(tool not in tools for tool in agent.tools):
            continue
        sets = {key for tool in agent.tools for key in tools[tool].sets}
        for i, key in enumerate(agent.produces):
            if key in sets:
                continue
            why = (
                f"none of its tools ({', '.join(agent.tools)}) sets it"
                if agent.tools
                else "it has no tools to set it"
            )
            yield scope.diagnostic(
                "SB303",
                f"agent '{name}' produces '{key}' but {why}",
                ("agents", name, "produces", i),
                (name,),
                {"key": key},
            )
