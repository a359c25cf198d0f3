"""Did you mean: the known name a misspelled one most likely stands for.

Pure functions over strings, shared by the verifier's messages (an unknown agent, tool, voice, JSON Schema
type, context key) so that every "did you mean" in the linter is chosen the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

CUTOFF = 0.6
"""The lowest ``difflib`` similarity ratio (2 * matches / total length) still worth suggesting.

It is ``difflib``'s own default: ``retuns`` -> ``returns`` is 0.92, ``strnig`` -> ``string`` 0.83, while two
different two-character names (``a1``, ``a2``) score 0.5 and get no suggestion."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``name`` most likely misspells, or ``None`` when none is close.

    A candidate that differs from ``name`` only in case wins outright (the first one, in candidate order);
    otherwise the candidate most similar to ``name`` ignoring case, if its ``difflib`` ratio reaches
    :data:`CUTOFF` (ties go to the one ``difflib`` ranks first, so the answer is deterministic). ``name``
    itself is never suggested, even when it is among the candidates.

    Cost: one pass over the candidates, each compared by ``difflib`` in O(len(name) * len(candidate)) at
    worst (its cheap upper bounds skip most candidates).
    """
    folded = name.casefold()
    by_fold: dict[str, str] = {}
    for candidate in candidates:
        if candidate == name:
            continue
        key = candidate.casefold()
        if key == folded:
            return candidate
        by_fold.setdefault(key, candidate)
    close = difflib.get_close_matches(folded, by_fold, n=1, cutoff=CUTOFF)
    return by_fold[close[0]] if close else None


def suggestion_text(suggestion: str | None) -> str:
    """`` (did you mean 'returns'?)`` for a suggestion, ``""`` for none: to append to a message."""
    return f" (did you mean '{suggestion}'?)" if suggestion is not None else ""
