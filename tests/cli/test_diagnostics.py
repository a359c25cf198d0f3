"""The caret run of a code frame: a table header is underlined, not the comment after it."""

from __future__ import annotations

import pytest

from engine.cli.diagnostics import span


@pytest.mark.parametrize(
    ("line", "width"),
    [
        ("[tools.refund]", 14),
        ("[tools.refund]  # switchboard: ignore[SB107]", 14),
        ("[[handoff]]  # switchboard: ignore[SB106]", 11),
        ("[agents.front", 13),  # no closing bracket: the rest of the line
    ],
)
def test_a_header_span_stops_at_its_bracket(line: str, width: int) -> None:
    assert span(line, 0) == width
