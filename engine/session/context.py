"""Initial context: trusted values the embedding application supplies before the first turn.

A flow declares the keys it expects in ``[flow] initial_context``; the verifier treats them as known at the
entry agent. Supplying a key the flow does not declare, or leaving a declared one out, would make that
guarantee false, so both are refused before a conversation starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.errors import SwitchboardError
from engine.flow.model import Flow
from engine.flow.suggest import did_you_mean, suggestion_text


class ContextError(SwitchboardError, ValueError):
    """Initial context that does not match what the flow declares."""


def initial_context(flow: Flow, values: Mapping[str, Any], *, complete: bool = True) -> dict[str, Any]:
    """``values`` checked against ``flow``'s declared ``initial_context`` (a copy).

    ``complete``: every declared key must be present (the CLI and the relay); the core itself only refuses
    undeclared keys, so a conversation without a declared key still runs (handoffs that need it are refused).
    """
    declared = flow.flow.initial_context
    unknown = [k for k in values if k not in declared]
    if unknown:
        key = unknown[0]
        hint = suggestion_text(did_you_mean(key, declared))
        accepted = ", ".join(declared) if declared else "none"
        raise ContextError(
            f"initial context key {key!r} is not declared by flow {flow.flow.name!r}{hint} "
            f"(it accepts: {accepted}; declare it in [flow] initial_context)"
        )
    missing = [k for k in declared if k not in values] if complete else []
    if missing:
        raise ContextError(
            f"flow {flow.flow.name!r} expects initial context {', '.join(missing)}: "
            + " ".join(f"--context {k}=VALUE" for k in missing)
        )
    return dict(values)


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings (from ``--context``) as a dict; a repeated key is an error."""
    found: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ContextError(f"--context {item!r}: expected KEY=VALUE")
        if key in found:
            raise ContextError(f"--context {key!r} given twice")
        found[key] = value
    return found
