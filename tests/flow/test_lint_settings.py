"""The `[lint]` table of a flow: its keys, and did-you-mean for a misspelled one."""

from __future__ import annotations

import pytest

from engine.flow.diagnostics import FlowError
from engine.flow.loader import parse_flow

FLOW = '[flow]\nname = "t"\nentry = "a"\nrecovery = "a"\n\n[agents.a]\nterminal = true\n\n[lint]\n'


def test_ignore_defaults_to_nothing() -> None:
    assert parse_flow(FLOW, "f.toml").flow.lint.ignore == []
    assert parse_flow(FLOW + 'ignore = ["SB206"]\n', "f.toml").flow.lint.ignore == ["SB206"]


def test_a_misspelled_key_gets_a_did_you_mean() -> None:
    with pytest.raises(FlowError) as info:
        parse_flow(FLOW + 'ignroe = ["SB206"]\n', "f.toml")
    [d] = info.value.diagnostics
    assert (d.code, d.location.line) == ("SB003", 10)
    assert d.message == "unknown key 'ignroe' in [lint] (did you mean 'ignore'?)"
