"""Tools of the random flows in the flow-test tests: each returns every key a random flow may set."""

from __future__ import annotations

KEYS = ("k1", "k2")


def learn(**_: object) -> dict[str, str]:
    return {key: f"{key}-value" for key in KEYS}
