"""Names that must resolve: "did you mean", the fix in ``help``, and one report per misspelled name."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.flow.diagnostics import Diagnostic
from engine.flow.loader import FlowDocument, parse_flow
from engine.flow.model import Flow
from engine.flow.suggest import did_you_mean
from engine.verify import verify
from tests.verify.test_verify_properties import flows

Lint = Callable[[str], list[Diagnostic]]
Where = Callable[..., tuple[int, int]]

BASE = """\
[flow]
name = "t"
entry = "front"
recovery = "helper"

[agents.front]
handoffs = ["helper", "returns"]

[agents.returns]
handoffs = ["helper"]

[agents.helper]
terminal = true
"""


def lint(text: str) -> list[Diagnostic]:
    return verify(parse_flow(text, "flow.toml"))


def codes(found: list[Diagnostic]) -> list[str]:
    return [d.code for d in found]


def at(diagnostic: Diagnostic) -> tuple[int, int]:
    return diagnostic.location.line, diagnostic.location.col


def related(d: Diagnostic) -> list[tuple[tuple[int, int], str]]:
    return [((r.location.line, r.location.col), r.message) for r in d.related]


def test_base_is_clean() -> None:
    assert lint(BASE) == []


# --- the fix of each unknown name -----------------------------------------------------------------------


def test_sb101_a_near_miss_says_what_to_change(position_of: Where) -> None:
    text = BASE.replace('"helper", "returns"]', '"helper", "retuns"]')
    [d] = lint(text)
    assert d.code == "SB101" and at(d) == position_of(text, '"retuns"')
    assert d.message == "agent 'front' hands off to unknown agent 'retuns' (did you mean 'returns'?)"
    assert d.help == "change 'retuns' to 'returns'"
    assert related(d) == [(position_of(text, "[agents.returns]"), "agent 'returns' is defined here")]


def test_sb101_without_a_near_miss_says_what_to_define() -> None:
    [d] = lint(BASE.replace('handoffs = ["helper"]\n', 'handoffs = ["helper", "billing"]\n'))
    assert "did you mean" not in d.message and d.related == ()
    assert d.help == "define [agents.billing], or remove 'billing' from the handoffs of 'returns'"


def test_sb101_never_suggests_a_self_handoff() -> None:
    [d] = lint(BASE.replace('handoffs = ["helper"]\n', 'handoffs = ["helper", "returnz"]\n'))
    assert "did you mean" not in d.message  # 'returns' is the agent itself


def test_sb102_a_near_miss_says_what_to_change(position_of: Where) -> None:
    text = BASE.replace("[agents.returns]\n", '[agents.returns]\ntools = ["lokup"]\n') + "\n[tools.lookup]\n"
    [d] = lint(text)  # no SB107 for 'lookup': its only user misspelled it
    assert d.code == "SB102" and at(d) == position_of(text, '"lokup"')
    assert d.message == "agent 'returns' uses unknown tool 'lokup' (did you mean 'lookup'?)"
    assert d.help == "change 'lokup' to 'lookup'"
    assert related(d) == [(position_of(text, "[tools.lookup]"), "tool 'lookup' is defined here")]


def test_sb102_of_the_supervisor() -> None:
    text = BASE + '\n[supervisor]\nscript = "r.toml"\ntools = ["lokup", "refund"]\n\n[tools.lookup]\n'
    first, second = lint(text)
    assert (first.code, first.help) == ("SB102", "change 'lokup' to 'lookup'")
    assert second.help == "define [tools.refund], or remove 'refund' from the tools of the supervisor"


def test_sb103_entry_recovery_and_front(position_of: Where) -> None:
    text = BASE.replace('entry = "front"', 'entry = "Front"').replace('"helper"\n\n', '"nobody"\n\n', 1)
    text += '\n[supervisor]\nscript = "r.toml"\nfront = ["frnt"]\n'
    entry, recovery, front = lint(text)
    assert (entry.code, entry.help) == ("SB103", "change entry to 'front'")
    assert "(did you mean 'front'?)" in entry.message  # a case-only difference
    assert (
        recovery.help == "define [agents.nobody], or set recovery to one of 'front', 'returns' and 'helper'"
    )
    assert (front.code, at(front), front.help) == (
        "SB103",
        position_of(text, '"frnt"'),
        "change 'frnt' to 'front'",
    )


# --- one root cause, one report -------------------------------------------------------------------------


def test_a_contract_repeating_the_typo_is_a_related_location(position_of: Where) -> None:
    text = BASE.replace('"helper", "returns"]', '"helper", "retuns"]')
    text += '\n[[handoff]]\nfrom = "front"\nto = "retuns"\ncarry = []\n'
    [d] = lint(text)
    assert d.code == "SB101" and at(d) == position_of(text, '"retuns"')
    assert d.help == "change 'retuns' to 'returns' here and in [[handoff]] #1"
    assert (position_of(text, 'to = "retuns"'), "[[handoff]] #1 names 'retuns' too") in related(d)


def test_a_repeated_unknown_target_without_near_miss() -> None:
    text = BASE.replace('"helper", "returns"]', '"helper", "returns", "billing"]')
    [d] = lint(text + '\n[[handoff]]\nfrom = "front"\nto = "billing"\n')
    assert (
        d.help
        == "define [agents.billing], or remove 'billing' from the handoffs of 'front' (and [[handoff]] #1)"
    )


def test_the_contract_of_the_meant_edge_is_no_orphan(position_of: Where) -> None:
    text = BASE.replace('"helper", "returns"]', '"helper", "retuns"]')
    text += '\n[[handoff]]\nfrom = "front"\nto = "returns"\nwhen = "a refund"\n'
    [d] = lint(text)  # no SB106 for front -> returns, and no SB201 for 'returns'
    assert d.code == "SB101"
    assert (position_of(text, "[[handoff]]"), "the contract for 'front' -> 'returns'") in related(d)


def test_an_agent_unreachable_through_the_typo_is_not_reported() -> None:
    assert codes(lint(BASE.replace('"helper", "returns"]', '"helper", "retuns"]'))) == ["SB101"]


def test_an_unknown_target_without_near_miss_keeps_its_consequences() -> None:
    """Nothing says which agent was meant, so 'returns' really is unreachable."""
    assert codes(lint(BASE.replace('"helper", "returns"]', '"helper", "billing"]'))) == ["SB101", "SB201"]


def test_a_misspelled_recovery_does_not_strand_it() -> None:
    text = BASE.replace('recovery = "helper"', 'recovery = "helpr"').replace(
        '"helper", "returns"]', '"returns"]'
    )
    text = text.replace(
        '[agents.returns]\nhandoffs = ["helper"]', '[agents.returns]\nhandoffs = ["front"]\nmax_visits = 2'
    )
    assert codes(lint(text)) == [
        "SB103"
    ]  # 'helper' is reachable over the implicit fallback once spelled right


def test_no_stranded_agents_behind_a_typo() -> None:
    text = """\
[flow]
name = "t"
entry = "front"
recovery = "helper"
implicit_fallback = false

[agents.front]
handoffs = ["desk"]

[agents.desk]
handoffs = ["hlper"]

[agents.helper]
terminal = true
"""
    assert codes(lint(text)) == ["SB101"]  # not SB201 helper, SB203 front and desk


def test_no_carry_finding_behind_a_typo() -> None:
    text = """\
[flow]
name = "t"
entry = "front"
recovery = "helper"

[agents.front]
handoffs = ["atuh", "desk"]

[agents.auth]
tools = ["login"]
produces = ["user_id"]
handoffs = ["desk"]

[agents.desk]
handoffs = ["helper"]

[agents.helper]
terminal = true

[tools.login]
sets = ["user_id"]

[[handoff]]
from = "desk"
to = "helper"
carry = ["user_id"]
"""
    [d] = lint(text)  # not SB201 for 'auth', nor SB302: 'user_id' reaches 'desk' once 'auth' is spelled right
    assert (d.code, d.help) == ("SB101", "change 'atuh' to 'auth'")


def test_a_misspelled_key_says_which_key(position_of: Where) -> None:
    text = BASE.replace("[agents.front]\n", '[agents.front]\ntools = ["login"]\nproduces = ["user_id"]\n')
    text = text.replace("[agents.returns]\n", '[agents.returns]\nrequires = ["usr_id"]\n')
    text += '\n[tools.login]\nsets = ["user_id"]\n'
    [d] = lint(text)
    assert d.code == "SB301" and d.message.endswith(" (did you mean 'user_id'?)")
    assert d.help.startswith("change 'usr_id' to 'user_id'")
    assert related(d)[-1] == (position_of(text, '"user_id"'), "'user_id' is provided here")


def test_a_provided_key_that_is_lost_gets_no_suggestion() -> None:
    text = BASE.replace("[agents.returns]\n", '[agents.returns]\nrequires = ["user_ids"]\n')
    text = text.replace('recovery = "helper"', 'recovery = "helper"\ninitial_context = ["user_id"]')
    text = text.replace('"helper", "returns"]', '"helper", "returns", "desk"]')
    text += '\n[agents.desk]\nrequires = ["user_id"]\ntools = []\nhandoffs = ["returns"]\n'
    text += '\n[[handoff]]\nfrom = "front"\nto = "desk"\ncarry = []\n'
    found = {d.extra["key"]: d for d in lint(text) if d.code == "SB301"}
    assert "did you mean" not in found["user_id"].message  # 'user_id' is provided: it is lost, not misspelled
    assert "(did you mean 'user_id'?)" in found["user_ids"].message


# --- the property: a misspelled handoff target is reported once ----------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)  # strings, integers and lists of strings read the same in TOML


def to_toml(flow: Flow) -> str:
    data = flow.model_dump(by_alias=True, exclude_defaults=True, exclude_none=True)
    out = ["[flow]", *(f"{k} = {toml_value(v)}" for k, v in data["flow"].items())]
    for table in ("agents", "tools"):
        for name, body in data.get(table, {}).items():
            out += ["", f"[{table}.{name}]", *(f"{k} = {toml_value(v)}" for k, v in body.items())]
    for contract in data.get("handoff", []):
        out += ["", "[[handoff]]", *(f"{k} = {toml_value(v)}" for k, v in contract.items())]
    return "\n".join(out) + "\n"


@settings(max_examples=150, deadline=None)
@given(flows(), st.data())
def test_one_misspelled_handoff_target_is_one_finding(flow: Flow, data: st.DataObject) -> None:
    """Misspelling one handoff target of any flow adds exactly one finding, the SB101 that names the agent
    meant; whatever the missing edge would otherwise cause (unreachable, stranded or too deep agents, split
    loops, keys lost or never brought, orphan contracts) is not reported."""
    edges = [(a, i, t) for a, agent in flow.agents.items() for i, t in enumerate(agent.handoffs) if t != a]
    assume(edges)
    source, index, target = data.draw(st.sampled_from(edges))
    typo = target + data.draw(st.sampled_from(["x", target[-1], "_"]))
    assume(typo not in flow.agents and did_you_mean(typo, set(flow.agents) - {source}) == target)
    raw = flow.model_dump(by_alias=True)
    raw["agents"][source]["handoffs"][index] = typo
    before = lint(to_toml(flow))
    after = lint(to_toml(Flow.model_validate(raw)))
    seen = {(d.code, d.location.line) for d in before}
    new = [d for d in after if (d.code, d.location.line) not in seen]
    assert [(d.code, d.extra) for d in new] == [("SB101", {"target": typo})], [str(d) for d in after]
    assert new[0].help == f"change '{typo}' to '{target}'" or new[0].help.startswith(
        f"change '{typo}' to '{target}' here and in"
    )


def test_to_toml_round_trips(parse_toml: Callable[..., FlowDocument]) -> None:
    flow = parse_toml(BASE).flow
    assert parse_toml(to_toml(flow)).flow == flow
