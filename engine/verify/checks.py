"""The verifier: every check over one flow, findings sorted by where they point."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from engine.flow.diagnostics import Diagnostic
from engine.flow.loader import FlowDocument
from engine.gcpause import gc_paused
from engine.verify import (
    causes,
    contracts,
    history,
    prompts,
    references,
    supervisor,
    tool_schemas,
    topology,
    values,
)
from engine.verify.scope import Scope

Check = Callable[[Scope], Iterator[Diagnostic]]

CHECKS: tuple[Check, ...] = (
    references.check,
    tool_schemas.check,
    values.check,
    topology.check,
    contracts.check,
    history.check,
    supervisor.check,
    prompts.check,
)
"""SB101-SB108 references, SB109 tool schemas, SB110 known values, SB2xx topology, SB3xx context contracts (SB304 history),
SB4xx supervisor, SB5xx prompts."""


def verify(doc: FlowDocument) -> list[Diagnostic]:
    """All findings of the static checks on a loaded flow, sorted by location, then code; what a misspelled
    name explains is reported once, by the name (see ``causes.py``)."""
    with gc_paused():
        scope = Scope(doc)
        found = causes.settle(scope, [diagnostic for check in CHECKS for diagnostic in check(scope)])
        return sorted(found, key=lambda d: (d.location, d.code, d.message))
