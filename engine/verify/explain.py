"""What each rule means, for ``switchboard rule CODE``: why it matters, a flow that triggers it, and the fix.

The catalogue (:data:`engine.verify.rules.RULES`) says what a rule is; this says why, with an example.
A test checks that every rule in the catalogue is explained here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Explanation:
    why: str
    """Why the rule exists: what goes wrong at run time without it."""
    example: str
    """A small TOML excerpt that triggers the rule."""
    fix: str
    """How to make the finding go away (the ``help:`` lines are instances of this)."""


EXPLANATIONS: dict[str, Explanation] = {}
