"""One root cause reports once: a typo'd handoff target or tool name is one finding, not a cascade."""

from __future__ import annotations

import pytest

from engine.flow.diagnostics import Diagnostic
from engine.flow.loader import parse_flow
from engine.verify import verify

HEAD = """\
[flow]
name = "t"
entry = "front"
recovery = "helper"

[agents.helper]
terminal = true
"""


def lint(body: str) -> list[Diagnostic]:
    return verify(parse_flow(HEAD + body, "flow.toml"))


def codes(found: list[Diagnostic]) -> list[str]:
    return [d.code for d in found]


@pytest.mark.parametrize(
    ("body", "hidden"),
    [
        # the typo'd target was the only way to 'returns': not also unreachable (SB201)
        ('[agents.front]\nhandoffs = ["helper", "retuns"]\n[agents.returns]\nterminal = true\n', "SB201"),
        # the typo'd target is the agent's only handoff: not also a dead end (SB205)
        ('[agents.front]\nhandoffs = ["dsk"]\n[agents.desk]\nterminal = true\n', "SB205"),
        # the typo splits a budgeted loop: the part without the budget is no unbudgeted loop (SB206)
        (
            '[agents.front]\nhandoffs = ["helper", "sales"]\n[agents.sales]\nhandoffs = ["returns"]\n'
            '[agents.returns]\nhandoffs = ["biling"]\n[agents.billing]\nhandoffs = ["sales"]\n'
            "max_visits = 2\n",
            "SB206",
        ),
        # the contract of the meant edge is no orphan (SB106)
        (
            '[agents.front]\nhandoffs = ["retuns"]\n[agents.returns]\nterminal = true\n'
            '[[handoff]]\nfrom = "front"\nto = "returns"\n',
            "SB106",
        ),
    ],
)
def test_a_typod_handoff_target_is_one_finding(body: str, hidden: str) -> None:
    if hidden == "SB204":
        body = body.replace("[agents.desk]", '[agents.desk]\nhandoffs = ["front"]\nmax_visits = 1\n#', 1)
        text = HEAD.replace("[agents.helper]\nterminal = true\n", '[agents.helper]\nhandoffs = ["frnt"]\n')
        found = verify(parse_flow(text + body, "flow.toml"))
    else:
        found = lint(body)
    assert codes(found) == ["SB101"], [str(d) for d in found]


@pytest.mark.parametrize(
    "body",
    [
        # an agent's typo: the tool it meant is not also unused (SB107), nor its produces unbacked (SB303)
        '[agents.front]\ntools = ["lookup_ordrs"]\nproduces = ["order_id"]\nhandoffs = ["helper"]\n'
        '[tools.lookup_orders]\nsets = ["order_id"]\n',
        # the supervisor's typo: the same
        '[agents.front]\nhandoffs = ["helper"]\n[tools.lookup_orders]\n[supervisor]\nscript = "s.toml"\n'
        'tools = ["lookup_ordrs"]\n',
        # a misspelled definition: the tool as defined is not unused either
        '[agents.front]\ntools = ["lookup_orders"]\nhandoffs = ["helper"]\n[tools.lookup_ordrs]\n',
    ],
)
def test_a_typod_tool_name_is_one_finding(body: str) -> None:
    found = lint(body)
    assert codes(found) == ["SB102"], [str(d) for d in found]


@pytest.mark.parametrize(
    "prompt",
    [
        "If the caller wants a refund, call transfer_to_retuns.",
        "For refunds, hand off to the 'Retuns' agent.",
    ],
)
def test_a_prompt_repeating_the_typo_is_a_note_of_the_handoffs_finding(prompt: str) -> None:
    body = (
        f'[agents.front]\ninstructions = "{prompt}"\nhandoffs = ["helper", "retuns"]\n'
        "[agents.returns]\nterminal = true\n"
    )
    [d] = lint(body)
    assert d.code == "SB101" and d.help == "change 'retuns' to 'returns'"
    assert d.related[-1].message.startswith("the instructions of 'front' name '")
    assert d.related[-1].message.endswith("' too (line 1)") and d.related[-1].location.line == 9


def test_a_prompt_repeating_an_unknown_target_without_near_miss_is_folded_too() -> None:
    [d] = lint(
        '[agents.front]\ninstructions = "Call transfer_to_billing."\nhandoffs = ["helper", "billing"]\n'
    )
    assert d.code == "SB101" and "'billing' too" in d.related[-1].message


def test_a_prompt_naming_another_unknown_agent_is_still_reported() -> None:
    found = lint(
        '[agents.front]\ninstructions = "Call transfer_to_sales."\nhandoffs = ["helper", "retuns"]\n'
        "[agents.returns]\nterminal = true\n"
    )
    assert codes(found) == ["SB501", "SB101"]
