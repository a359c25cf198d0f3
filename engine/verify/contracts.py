"""SB301–SB303: context keys: required keys guaranteed, carried keys that exist, produced keys set."""

from __future__ import annotations

from collections.abc import Iterator

from engine.flow.diagnostics import Diagnostic
from engine.flow.positions import PathKey
from engine.verify.dataflow import Keys, Network, may_available, must_available
from engine.verify.graph import FALLBACK
from engine.verify.scope import Scope
from engine.verify.search import show
from engine.verify.witness import Cause, Losses, losses


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
    """SB301: every key an agent ``requires`` must be present on arrival over every walk from the entry.

    One finding per distinct cause (see ``witness.py``): each contract whose ``carry`` drops the key on the
    way, the implicit fallback's ``fallback_carry``, or ``initial_context``, each with a walk that shows it;
    a key nothing in the flow provides gets one finding saying so instead.
    """
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
    fallback = {
        (src, dst)
        for src in net.nodes
        for dst, data in scope.adjacency[src].items()
        if data["kind"] == FALLBACK
    }
    lost: dict[str, Losses] = {}
    contract_at = {id(c): n for n, c in enumerate(scope.flow.handoff)}
    for name, j, key in missing:
        where: PathKey = ("agents", name, "requires", j)
        if key not in scope.providers:
            yield scope.diagnostic(
                "SB301",
                f"agent '{name}' requires '{key}', but nothing in the flow produces '{key}' "
                "(no tool sets it, no agent produces it, and it is not in initial_context)",
                where,
                (name,),
                {"key": key, "path": scope.from_entry.route(name), "lost_on": None, "cause": "unproduced"},
                help=f'add "{key}" to initial_context, or set it with a tool (sets = ["{key}"])',
            )
            continue
        if key not in lost:
            lost[key] = losses(net, avail, keys.bits[key], fallback)
        for cause, path in lost[key].of(name):
            yield _lost(scope, name, key, where, cause, path, contract_at)


def _lost(
    scope: Scope,
    name: str,
    key: str,
    where: PathKey,
    cause: Cause,
    path: list[str],
    contract_at: dict[int, int],
) -> Diagnostic:
    """The SB301 finding for one cause of ``key`` missing at ``name``, shown by the walk ``path``;
    ``contract_at`` numbers the contracts (by ``id``) as the document does."""
    src, dst = cause.source, cause.target
    related: tuple[PathKey, str]
    if src is None:
        why, kind = "not in initial_context", "initial_context"
        fix = f'add "{key}" to initial_context'
        if name != dst:
            why += " and not produced on the way"
            fix += f" or produce it before '{name}'"
        related = (("flow", "initial_context"), f"initial_context lacks '{key}'")
    elif cause.fallback:
        why, kind = f"not in fallback_carry of the implicit fallback {src} -> {dst}", "fallback_carry"
        fix = f'add "{key}" to fallback_carry'
        related = (
            ("flow", "fallback_carry"),
            f"the implicit fallback {src} -> {dst} carries only fallback_carry",
        )
    else:
        why, kind = f"not carried on {src} -> {dst}", "carry"
        fix = f'add "{key}" to carry on {src} -> {dst}'
        n = contract_at[id(scope.flow.contracts[(src, dst)])]
        related = (("handoff", n, "carry"), f"the contract {src} -> {dst} does not carry '{key}'")
    edge = [src, dst] if src is not None else None
    return scope.diagnostic(
        "SB301",
        f"agent '{name}' requires '{key}', which is lost on path {show(path)} ({why})",
        where,
        tuple(dict.fromkeys((name, *(edge or ())))),
        {"key": key, "path": path, "lost_on": edge, "cause": kind},
        help=fix,
        related=[related],
    )


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
