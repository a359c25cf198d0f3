"""SB301 says how to keep the key: carry it on the edge that drops it, or provide it."""

from __future__ import annotations

from engine.flow.loader import parse_flow
from engine.verify import verify

FLOW = """\
[flow]
name = "t"
entry = "front"
recovery = "helper"
{settings}
[agents.front]
tools = ["login"]
produces = ["user_id"]
handoffs = ["desk"]

[agents.desk]
handoffs = ["helper"]
requires = ["user_id"]

[agents.helper]
requires = ["user_id"]
terminal = true

[tools.login]
sets = ["user_id"]
{contract}"""


def sb301(settings: str = "", contract: str = "") -> list[tuple[str, str, list[tuple[int, str]]]]:
    doc = parse_flow(FLOW.format(settings=settings, contract=contract), "flow.toml")
    return [
        (d.agents[0], d.help, [(r.location.line, r.message) for r in d.related])
        for d in verify(doc)
        if d.code == "SB301"
    ]


def test_a_contract_that_drops_the_key() -> None:
    contract = '\n[[handoff]]\nfrom = "front"\nto = "desk"\ncarry = []\n'
    assert sb301(contract=contract)[0] == (
        "desk",
        "add 'user_id' to carry on front -> desk",
        [(25, "the contract that drops it")],
    )


def test_the_implicit_fallback_that_drops_the_key() -> None:
    [(agent, fix, related)] = sb301(settings="fallback_carry = []\n")
    assert (agent, fix) == ("helper", "add 'user_id' to fallback_carry")
    assert related == [(5, "what the implicit fallback carries")]


def test_a_key_nothing_provides_before_the_entry() -> None:
    text = FLOW.format(settings="", contract="").replace('produces = ["user_id"]\n', "")
    text = text.replace("[agents.front]\n", '[agents.front]\nrequires = ["user_id"]\n')
    [d] = [d for d in verify(parse_flow(text, "flow.toml")) if d.agents == ("front",)]
    assert d.help == "add 'user_id' to initial_context, or produce it (a tool that sets it) before 'front'"
