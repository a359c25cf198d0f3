"""One root cause, one report: what the verifier does with all findings once every check has run.

- :func:`without_follow_ons` drops the graph findings a misspelled name explains, when the SB101/SB103 saying
  "did you mean" is already reported: an agent unreachable (SB201), too deep (SB202) or stranded (SB203)
  because the handoff, entry or recovery name that would lead to it is misspelled, a loop the missing edge
  splits (SB206), a required key lost on the implicit fallback a misspelled handoff to the recovery agent
  opens (SB301), a carried key only the missing edge would bring (SB302). Judged by running the topology
  and contract checks again on ``Scope.fixes.flow``, the flow with every suggestion taken: what they still
  find there is still reported.
- :func:`with_prompt_repeats` folds into a handoff's SB101 the SB501 of a prompt that names the same unknown
  agent (``handoffs = ["retuns"]`` and "call transfer_to_retuns"): one misspelled (or missing) agent, one
  report, the prompt a related location of it.
- :func:`with_key_hints` adds "did you mean" to the context-key findings (SB301, SB302) whose key nothing
  provides (no ``initial_context``, no agent ``produces`` it, no tool ``sets`` it) when a provided key is a
  near miss: ``requires = ["usr_id"]`` is a typo of ``user_id``, not a key lost on the way.

Both are pure (scope and findings in, findings out) and linear: when something is misspelled, one more run of
the (linear) topology and contract checks; at most :data:`~engine.verify.fixes.HINT_BUDGET` name comparisons.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import replace

from engine.flow.diagnostics import Diagnostic, Location, Related
from engine.flow.suggest import did_you_mean, suggestion_text
from engine.verify import contracts, topology
from engine.verify.fixes import HINT_BUDGET
from engine.verify.scope import Scope

KEY_CODES = frozenset({"SB301", "SB302"})
"""Findings about one context key, named by ``extra["key"]``."""


def settle(scope: Scope, found: Iterable[Diagnostic]) -> list[Diagnostic]:
    """``found`` without follow-ons of misspelled names, with key suggestions."""
    return with_key_hints(scope, with_prompt_repeats(scope, without_follow_ons(scope, found)))


def _first_agent(d: Diagnostic) -> Hashable:
    return d.agents[:1]


def _dropped_by(d: Diagnostic) -> Hashable:
    """The contract edge an SB301 finding's key is dropped on (one finding per such edge), else ``None``."""
    lost_on = d.extra.get("lost_on")
    return tuple(lost_on) if d.extra.get("cause") == "carry" and lost_on else None


FOLLOW_ONS: dict[str, Callable[[Diagnostic], Hashable]] = {
    "SB201": _first_agent,
    "SB202": _first_agent,
    "SB203": _first_agent,
    "SB206": _first_agent,  # the loop's first agent: a loop the typo splits is still reported, once
    "SB301": lambda d: (d.agents[:1], d.extra.get("key"), d.extra.get("cause"), _dropped_by(d)),
    "SB302": lambda d: (d.agents, d.extra.get("key")),
}
"""Codes whose findings can follow from a misspelled name, with what identifies one finding of each code."""

RECHECKS: tuple[Callable[[Scope], Iterator[Diagnostic]], ...] = (topology.check, contracts.check)
"""The checks that make those findings, run again on the fixed flow."""


def without_follow_ons(scope: Scope, found: Iterable[Diagnostic]) -> list[Diagnostic]:
    """``found`` less the findings (codes in :data:`FOLLOW_ONS`) that taking the suggested fixes would settle:
    those the same check does not make again on ``Scope.fixes.flow``."""
    found = list(found)
    fixed = scope.fixes.flow
    if fixed is scope.flow or not any(d.code in FOLLOW_ONS for d in found):
        return found
    again = Scope(replace(scope.doc, flow=fixed))
    still = {
        (d.code, FOLLOW_ONS[d.code](d)) for check in RECHECKS for d in check(again) if d.code in FOLLOW_ONS
    }
    return [d for d in found if d.code not in FOLLOW_ONS or (d.code, FOLLOW_ONS[d.code](d)) in still]


def with_prompt_repeats(scope: Scope, found: Iterable[Diagnostic]) -> list[Diagnostic]:
    """``found`` less each SB501 naming an unknown agent that its own agent's handoffs name too (ignoring
    case), which becomes a related location of that handoff's SB101."""
    found = list(found)
    agents = scope.flow.agents
    repeats: dict[Location, list[Diagnostic]] = {}  # where the handoff's SB101 points -> the SB501s
    for d in found:
        target = d.extra.get("target")
        if d.code != "SB501" or len(d.agents) != 1 or not isinstance(target, str) or target in agents:
            continue
        handoffs = agents[d.agents[0]].handoffs
        same = [i for i, t in enumerate(handoffs) if t.casefold() == target.casefold() and t not in agents]
        if same:
            where = scope.doc.source.locate(("agents", d.agents[0], "handoffs", same[0]))
            repeats.setdefault(where, []).append(d)
    if not repeats:
        return found
    out: list[Diagnostic] = []
    folded: set[int] = set()
    for d in found:
        prompts = repeats.get(d.location, []) if d.code == "SB101" else []
        if prompts:
            folded.update(map(id, prompts))
            d = replace(d, related=(*d.related, *map(_prompt_note, prompts)))
        out.append(d)
    return [d for d in out if id(d) not in folded]


def _prompt_note(d: Diagnostic) -> Related:
    speaker, name, line = d.agents[0], d.extra["target"], d.extra["line"]
    return Related(d.location, f"the instructions of '{speaker}' name '{name}' too (line {line})")


def with_key_hints(scope: Scope, found: Iterable[Diagnostic]) -> list[Diagnostic]:
    """``found`` with "did you mean" on SB301/SB302 findings whose key is a near miss of a provided key."""
    found = list(found)
    if not any(d.code in KEY_CODES for d in found):
        return found
    providers = scope.providers
    budget = HINT_BUDGET
    meant: dict[str, str | None] = {}
    out = []
    for d in found:
        key = d.extra.get("key")
        if (
            d.code not in KEY_CODES
            or not isinstance(key, str)
            or key in providers
            or "did you mean" in d.message
        ):
            out.append(d)
            continue
        if key not in meant and len(providers) <= budget:
            budget -= len(providers)
            meant[key] = did_you_mean(key, providers)
        hint = meant.get(key)
        if hint is None:
            out.append(d)
            continue
        fix = f"change '{key}' to '{hint}'"
        out.append(
            replace(
                d,
                message=d.message + suggestion_text(hint),
                help=f"{fix}; or {d.help}" if d.help else fix,
                related=(
                    *d.related,
                    Related(scope.doc.source.locate(providers[hint]), f"'{hint}' is provided here"),
                ),
            )
        )
    return out
