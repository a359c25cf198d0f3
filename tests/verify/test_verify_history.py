"""SB304: a dropped key the next agent can still read in the conversation (history = "keep")."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings

from engine.flow.loader import FlowDocument
from engine.flow.model import Flow
from engine.verify import verify
from tests.verify.test_verify_properties import flows, lint

FLOW = """
[flow]
name = "desk"
entry = "front"
recovery = "billing"
{flow_extra}

[agents.front]
tools = ["verify_card"]
handoffs = ["billing"]

[agents.billing]
requires = ["user_id"]
tools = ["{billing_tool}"]
terminal = true

[tools.verify_card]
sets = ["user_id", "card_last4"]

[tools.late]
sets = ["receipt"]

[[handoff]]
from = "front"
to = "billing"
carry = {carry}
{edge_extra}
"""


def findings(parse_toml: Callable[..., FlowDocument], **parts: str) -> list[str]:
    values = {"flow_extra": "", "edge_extra": "", "carry": '["user_id"]', "billing_tool": "late", **parts}
    return [f"{d.code} {d.message} | {d.help}" for d in verify(parse_toml(FLOW.format(**values)))]


def test_a_dropped_key_under_keep_is_a_warning_with_its_fix(
    parse_toml: Callable[..., FlowDocument], position_of: Callable[..., tuple[int, int]]
) -> None:
    text = FLOW.format(flow_extra="", edge_extra="", carry='["user_id"]', billing_tool="late")
    (d,) = verify(parse_toml(text))
    assert (d.code, d.rule, d.severity.value) == ("SB304", "history-leaks-dropped-key", "warning")
    assert d.message == (
        "contract 'front' -> 'billing' drops 'card_last4', but history = \"keep\" lets 'billing' read the "
        "turns where it was said"
    )
    assert d.help == "set history = \"reset\" on front -> billing, or carry 'card_last4'"
    assert (d.location.line, d.location.col) == position_of(text, "carry = [")
    assert d.agents == ("front", "billing") and d.extra == {"key": "card_last4", "edge": ["front", "billing"]}


@pytest.mark.parametrize(
    "parts",
    [
        {"edge_extra": 'history = "reset"'},
        {"edge_extra": 'history = "summary"'},
        {"flow_extra": 'history = "reset"'},
        {"carry": '["user_id", "card_last4"]'},
    ],
    ids=["edge-reset", "edge-summary", "flow-reset", "carried"],
)
def test_reset_summary_or_carrying_the_key_settles_it(
    parse_toml: Callable[..., FlowDocument], parts: dict[str, str]
) -> None:
    assert findings(parse_toml, **parts) == []


def test_an_edge_keep_overrides_a_flow_reset(parse_toml: Callable[..., FlowDocument]) -> None:
    found = findings(parse_toml, flow_extra='history = "reset"', edge_extra='history = "keep"')
    assert [f.split()[0] for f in found] == ["SB304"]


def test_keys_the_source_does_not_know_yet_are_not_dropped(parse_toml: Callable[..., FlowDocument]) -> None:
    """'receipt' is set only downstream (billing's tool): nothing said before the handoff can hold it."""
    found = findings(parse_toml, carry='["user_id", "card_last4"]', billing_tool="late")
    assert found == []


def test_a_required_key_dropped_is_left_to_sb301(parse_toml: Callable[..., FlowDocument]) -> None:
    found = findings(parse_toml, carry='["card_last4"]')
    assert [f.split()[0] for f in found] == ["SB301"]


@settings(max_examples=150, deadline=None)
@given(flows())
def test_sb304_follows_the_policy_and_nothing_else(flow: Flow) -> None:
    """On any flow: every SB304 names a key its contract drops and no agent requires; a flow-wide
    ``history = "reset"`` settles every SB304 and changes no other finding; carrying everything settles too."""
    found = lint(flow)
    required = {k for agent in flow.agents.values() for k in agent.requires}
    for d in found:
        if d.code == "SB304":
            source, target = d.extra["edge"]
            contract = flow.contracts[(source, target)]
            assert contract.carry is not None and d.extra["key"] not in contract.carry
            assert d.extra["key"] not in required
    data = flow.model_dump(by_alias=True)
    reset = Flow.model_validate({**data, "flow": {**data["flow"], "history": "reset"}})
    assert lint(reset) == [d for d in found if d.code != "SB304"]
    everything = [{**h, "carry": None} for h in data["handoff"]]
    assert not any(d.code == "SB304" for d in lint(Flow.model_validate({**data, "handoff": everything})))
