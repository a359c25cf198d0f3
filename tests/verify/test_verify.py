"""The verifier, rule by rule: each finding's code, location, agents and message, and the clean case."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.flow.diagnostics import Diagnostic, FlowError, Severity
from engine.flow.loader import FlowDocument, SourceMap, load_flow
from engine.flow.model import Flow
from engine.runtime.prepare import prepare
from engine.verify import RULES, verify
from engine.verify.search import ELIDED, HEAD, TAIL

FLOWS = Path(__file__).resolve().parents[2] / "flows"

Lint = Callable[[str], list[Diagnostic]]
Where = Callable[..., tuple[int, int]]

BASE = """\
[flow]
name = "t"
entry = "front"
recovery = "helper"

[agents.front]
handoffs = ["helper"]

[agents.helper]
terminal = true
"""


@pytest.fixture
def lint(parse_toml: Callable[..., FlowDocument]) -> Lint:
    return lambda text: verify(parse_toml(text))


def only(diagnostics: list[Diagnostic], code: str) -> Diagnostic:
    """The single diagnostic, which must have ``code``."""
    assert [d.code for d in diagnostics] == [code], [str(d) for d in diagnostics]
    return diagnostics[0]


def at(diagnostic: Diagnostic) -> tuple[int, int]:
    return diagnostic.location.line, diagnostic.location.col


def test_base_flow_is_clean(lint: Lint) -> None:
    assert lint(BASE) == []


# --- SB1xx references ---------------------------------------------------------------------------------


def test_sb101_unknown_handoff_target(lint: Lint, position_of: Where) -> None:
    text = BASE.replace('handoffs = ["helper"]', 'handoffs = ["helper", "billing"]')
    d = only(lint(text), "SB101")
    assert at(d) == position_of(text, '"billing"')
    assert d.agents == ("front",)
    assert "'front'" in d.message and "'billing'" in d.message
    assert d.extra == {"target": "billing"}
    assert (d.severity, d.rule) == (Severity.ERROR, "unknown-handoff-target")


def test_sb101_suggests_a_near_miss(lint: Lint) -> None:
    d = only(lint(BASE.replace('handoffs = ["helper"]', 'handoffs = ["helpr"]')), "SB101")
    assert "did you mean 'helper'?" in d.message


def test_sb101_contract_naming_an_unknown_agent(lint: Lint, position_of: Where) -> None:
    text = BASE + '\n[[handoff]]\nfrom = "front"\nto = "ghost"\n'
    d = only(lint(text), "SB101")
    assert at(d) == position_of(text, 'to = "ghost"')
    assert d.agents == ("front",) and "'ghost'" in d.message


def test_sb102_unknown_tool_of_agent_and_supervisor(lint: Lint, position_of: Where) -> None:
    text = (
        BASE.replace("[agents.front]\n", '[agents.front]\ntools = ["lookup"]\n')
        + '\n[supervisor]\nscript = "rules.toml"\ntools = ["search"]\n'
    )
    first, second = lint(text)
    assert (first.code, at(first), first.agents) == ("SB102", position_of(text, '"lookup"'), ("front",))
    assert "agent 'front'" in first.message and "'lookup'" in first.message
    assert (second.code, at(second), second.agents) == ("SB102", position_of(text, '"search"'), ())
    assert "supervisor" in second.message and "'search'" in second.message


def test_sb102_known_tools_are_clean(lint: Lint) -> None:
    text = BASE.replace("[agents.front]\n", '[agents.front]\ntools = ["lookup"]\n') + "\n[tools.lookup]\n"
    assert lint(text) == []


@pytest.mark.parametrize("key", ["entry", "recovery"])
def test_sb103_unknown_entry_or_recovery_without_noise(lint: Lint, position_of: Where, key: str) -> None:
    text = BASE.replace(f'{key} = "{"front" if key == "entry" else "helper"}"', f'{key} = "nobody"')
    d = only(lint(text), "SB103")
    assert at(d) == position_of(text, f'{key} = "nobody"')
    assert f"{key} agent 'nobody'" in d.message


def test_sb103_unknown_supervisor_front_agent(lint: Lint, position_of: Where) -> None:
    text = BASE + '\n[supervisor]\nscript = "rules.toml"\nfront = ["front", "desk"]\n'
    d = only(lint(text), "SB103")
    assert at(d) == position_of(text, '"desk"')
    assert "front agent 'desk'" in d.message


def test_sb104_duplicates(lint: Lint, position_of: Where) -> None:
    text = (
        BASE.replace('handoffs = ["helper"]', 'handoffs = ["helper", "helper"]\ntools = ["t", "t"]')
        + "\n[tools.t]\n"
        + '\n[[handoff]]\nfrom = "front"\nto = "helper"\n' * 2
    )
    handoff, tool, contract = lint(text)
    assert (handoff.code, at(handoff)) == ("SB104", position_of(text, '"helper"', 2))
    assert handoff.agents == ("front",) and "'helper' twice" in handoff.message
    assert (tool.code, at(tool)) == ("SB104", position_of(text, '"t"', 2))
    assert "tool 't' twice" in tool.message
    assert (contract.code, at(contract)) == ("SB104", position_of(text, "[[handoff]]", 1))
    assert contract.agents == ("front", "helper") and "#1" in contract.message


def test_sb105_self_handoff(lint: Lint, position_of: Where) -> None:
    text = BASE.replace('handoffs = ["helper"]', 'handoffs = ["helper", "front"]')
    d = only(lint(text), "SB105")
    assert at(d) == position_of(text, '"front"', 1)
    assert d.agents == ("front",) and "'front' hands off to itself" in d.message


def test_sb106_orphan_contract(lint: Lint, position_of: Where) -> None:
    text = BASE + '\n[[handoff]]\nfrom = "helper"\nto = "front"\n'
    d = only(lint(text), "SB106")
    assert d.severity is Severity.WARNING
    assert at(d) == position_of(text, "[[handoff]]")
    assert d.agents == ("helper", "front") and "'helper' -> 'front'" in d.message


def test_sb106_declared_contract_is_clean(lint: Lint) -> None:
    assert lint(BASE + '\n[[handoff]]\nfrom = "front"\nto = "helper"\nwhen = "always"\n') == []


def test_sb107_unused_tool(lint: Lint, position_of: Where) -> None:
    text = BASE + "\n[tools.refund]\n"
    d = only(lint(text), "SB107")
    assert (d.severity, at(d)) == (Severity.WARNING, position_of(text, "[tools.refund]"))
    assert "'refund'" in d.message


def test_sb107_tool_used_only_by_the_supervisor_is_clean(lint: Lint) -> None:
    assert lint(BASE + '\n[supervisor]\nscript = "rules.toml"\ntools = ["refund"]\n\n[tools.refund]\n') == []


@pytest.mark.parametrize(
    ("tool", "clash"),
    [("transfer_to_helper", "transfer tools"), ("get_next_response_from_supervisor", "escalation tool")],
)
def test_sb108_reserved_tool_names(lint: Lint, position_of: Where, tool: str, clash: str) -> None:
    text = BASE.replace("[agents.front]\n", f'[agents.front]\ntools = ["{tool}"]\n') + f"\n[tools.{tool}]\n"
    d = only(lint(text), "SB108")
    assert at(d) == position_of(text, f"[tools.{tool}]")
    assert d.agents == ("front",) and f"'{tool}'" in d.message and clash in d.message


# --- SB2xx topology -----------------------------------------------------------------------------------


def test_sb201_unreachable_agent(lint: Lint, position_of: Where) -> None:
    text = BASE + "\n[agents.billing]\nterminal = true\n"
    d = only(lint(text), "SB201")
    assert at(d) == position_of(text, "[agents.billing]")
    assert d.agents == ("billing",) and "'billing'" in d.message and "'front'" in d.message


def test_sb201_the_implicit_fallback_makes_recovery_reachable(lint: Lint) -> None:
    text = BASE.replace('handoffs = ["helper"]', 'handoffs = ["billing"]')
    text += "\n[agents.billing]\nterminal = true\n"
    assert lint(text) == []
    off = lint(text.replace('recovery = "helper"', 'recovery = "helper"\nimplicit_fallback = false'))
    assert ("SB201", ("helper",)) in [(d.code, d.agents) for d in off]


CHAIN = """\
[flow]
name = "chain"
entry = "a0"
recovery = "helper"
max_handoff_depth = {cap}

[agents.helper]
terminal = true
"""


def chain(length: int, cap: int) -> str:
    """``a0 -> a1 -> ... -> a<length>`` (the last one terminal)."""
    text = CHAIN.format(cap=cap)
    for i in range(length):
        text += f'\n[agents.a{i}]\nhandoffs = ["a{i + 1}"]\n'
    return text + f"\n[agents.a{length}]\nterminal = true\n"


def test_sb202_depth_cap(lint: Lint, position_of: Where) -> None:
    text = chain(4, cap=3)
    d = only(lint(text), "SB202")
    assert at(d) == position_of(text, "[agents.a4]")
    assert d.agents == ("a4",)
    assert "4 handoffs" in d.message and "max_handoff_depth = 3" in d.message
    assert "a0 -> a1 -> a2 -> a3 -> a4" in d.message
    assert d.extra == {"depth": 4, "max_handoff_depth": 3, "path": ["a0", "a1", "a2", "a3", "a4"]}
    assert lint(chain(4, cap=4)) == []


def test_sb202_elides_long_routes(lint: Lint) -> None:
    found = lint(chain(60, cap=30))
    assert [d.code for d in found] == ["SB202"] * 30
    last = found[-1]
    assert last.extra["depth"] == 60
    path = last.extra["path"]
    assert len(path) == HEAD + TAIL + 1 and path[HEAD] == ELIDED
    assert path[:2] == ["a0", "a1"] and path[-2:] == ["a59", "a60"]


STRANDED = """\
[flow]
name = "stranded"
entry = "front"
recovery = "helper"
max_handoff_depth = {cap}
implicit_fallback = {fallback}

[agents.front]
handoffs = ["helper", "orders"]

[agents.orders]
handoffs = ["billing", "helper"]

[agents.billing]
handoffs = ["orders"]
max_visits = 2

[agents.helper]
terminal = true
"""


def test_sb203_stranded_agent(lint: Lint, position_of: Where) -> None:
    text = STRANDED.format(cap=3, fallback="false")
    d = only(lint(text), "SB203")
    assert at(d) == position_of(text, "[agents.billing]")
    assert d.agents == ("billing", "helper")
    assert "'billing'" in d.message and "2 handoffs" in d.message and "plus 2" in d.message
    assert "max_handoff_depth = 3" in d.message
    assert d.extra["path"] == ["front", "orders", "billing", "orders", "helper"]
    assert (d.extra["depth"], d.extra["to_recovery"]) == (2, 2)


def test_sb203_within_budget_or_with_the_implicit_fallback_is_clean(lint: Lint) -> None:
    assert lint(STRANDED.format(cap=4, fallback="false")) == []
    assert lint(STRANDED.format(cap=3, fallback="true")) == []


def test_sb203_no_route_to_recovery(lint: Lint) -> None:
    text = STRANDED.format(cap=9, fallback="false")
    text = text.replace('handoffs = ["billing", "helper"]', 'handoffs = ["billing"]')
    found = lint(text)
    assert [(d.code, d.agents[0]) for d in found] == [("SB203", "orders"), ("SB203", "billing")]
    assert all("no route to recovery agent 'helper'" in d.message for d in found)


def test_sb203_leaves_agents_past_the_cap_to_sb202(lint: Lint) -> None:
    text = (
        chain(3, cap=2)
        .replace("[agents.a3]\n", '[agents.a3]\nhandoffs = ["helper"]\n')
        .replace('recovery = "helper"', 'recovery = "helper"\nimplicit_fallback = false')
    )
    codes = [(d.code, d.agents[0]) for d in lint(text)]
    assert ("SB202", "a3") in codes and ("SB203", "a2") in codes and ("SB203", "a3") not in codes


def test_sb204_recovery_dead_end(lint: Lint, position_of: Where) -> None:
    text = BASE.replace("[agents.helper]\nterminal = true", '[agents.helper]\ndescription = "stuck"')
    text = text.replace('handoffs = ["helper"]', 'handoffs = ["helper"]\nterminal = true')
    d = only(lint(text), "SB204")
    assert at(d) == position_of(text, "[agents.helper]")
    assert d.agents == ("helper",) and "recovery agent 'helper'" in d.message


def test_sb204_a_self_handoff_does_not_lead_back(lint: Lint) -> None:
    text = BASE.replace("[agents.helper]\nterminal = true", '[agents.helper]\nhandoffs = ["helper"]')
    text = text.replace('handoffs = ["helper"]\n\n', 'handoffs = ["helper"]\nterminal = true\n\n', 1)
    assert sorted(d.code for d in lint(text)) == ["SB105", "SB204"]


def test_sb204_recovery_leading_back_is_clean(lint: Lint) -> None:
    text = BASE.replace("terminal = true", 'handoffs = ["front"]')
    assert lint(text.replace('handoffs = ["helper"]', 'handoffs = ["helper"]\nmax_visits = 2')) == []


def test_sb205_dead_end(lint: Lint, position_of: Where) -> None:
    text = BASE.replace('handoffs = ["helper"]', 'handoffs = ["helper", "billing"]') + "\n[agents.billing]\n"
    d = only(lint(text), "SB205")
    assert at(d) == position_of(text, "[agents.billing]")
    assert d.agents == ("billing",) and "'billing'" in d.message
    assert lint(text + "terminal = true\n") == []


def test_sb206_unbudgeted_loop(lint: Lint, position_of: Where) -> None:
    text = BASE.replace('handoffs = ["helper"]', 'handoffs = ["sales"]') + (
        '\n[agents.returns]\nhandoffs = ["sales", "helper"]\n\n[agents.sales]\nhandoffs = ["returns"]\n'
    )
    d = only(lint(text), "SB206")
    assert d.severity is Severity.WARNING
    assert at(d) == position_of(text, "[agents.returns]")
    assert d.agents == ("returns", "sales")
    assert d.message == "handoff loop returns -> sales -> returns has no agent with a max_visits budget"
    assert d.extra == {
        "cycle": ["returns", "sales", "returns"],
        "agents": ["returns", "sales"],
        "budget_on": "returns",
    }
    assert d.help == "add max_visits = 3 to 'returns'"
    [note] = d.related
    assert (note.location.line, note.location.col) == position_of(text, '"returns"]')
    assert note.message == "'sales' hands off to 'returns' here"
    assert lint(text.replace("[agents.sales]\n", "[agents.sales]\nmax_visits = 3\n")) == []


PING_PONG = """\
[flow]
name = "ping_pong"
entry = "front"
recovery = "helper"

[agents.front]
handoffs = ["sales"]

[agents.sales]
handoffs = ["returns", "billing"]

[agents.returns]
handoffs = ["sales"]

[agents.billing]
handoffs = ["returns"]
max_visits = 2

[agents.helper]
terminal = true
"""


def test_sb206_a_budget_elsewhere_in_the_cycle_leaves_a_ping_pong(lint: Lint, position_of: Where) -> None:
    """'billing' has a budget, but sales -> returns -> sales avoids it (the old rule passed this flow)."""
    d = only(lint(PING_PONG), "SB206")
    assert at(d) == position_of(PING_PONG, "[agents.sales]")
    assert d.extra["cycle"] == ["sales", "returns", "sales"] and d.agents == ("sales", "returns")
    assert d.help == "add max_visits = 3 to 'sales'"
    assert [(n.location.line, n.location.col) for n in d.related] == [position_of(PING_PONG, '"sales"]', 1)]
    assert (
        lint(
            PING_PONG.replace(
                'handoffs = ["sales"]\n\n[agents.billing]',
                'handoffs = ["sales"]\nmax_visits = 1\n\n[agents.billing]',
            )
        )
        == []
    )


def test_sb206_each_unbudgeted_component_once_with_the_busiest_agent_to_budget(lint: Lint) -> None:
    """Two components; the hub is on every cycle of the first, so it gets the help, though 'a' comes first."""
    spokes = "".join(f'\n[agents.{s}]\nhandoffs = ["hub"]\n' for s in "abc")
    text = (
        BASE.replace('handoffs = ["helper"]', 'handoffs = ["a", "x"]')
        + spokes
        + (
            '\n[agents.hub]\nhandoffs = ["a", "b", "c"]\n'
            '\n[agents.x]\nhandoffs = ["y"]\n\n[agents.y]\nhandoffs = ["x"]\n'
        )
    )
    found = lint(text)
    assert [(d.code, d.agents, d.help) for d in found] == [
        ("SB206", ("a", "b", "c", "hub"), "add max_visits = 3 to 'hub'"),
        ("SB206", ("x", "y"), "add max_visits = 3 to 'x'"),
    ]
    assert found[0].extra["cycle"] == ["a", "hub", "a"]
    assert (
        lint(
            text.replace("[agents.hub]\n", "[agents.hub]\nmax_visits = 3\n").replace(
                "[agents.y]\n", "[agents.y]\nmax_visits = 2\n"
            )
        )
        == []
    )


def test_sb206_through_the_implicit_fallback(lint: Lint, position_of: Where) -> None:
    """front -> helper is no declared handoff, but the implicit fallback; the recovery's budget is no bound."""
    text = BASE.replace('handoffs = ["helper"]', 'handoffs = ["desk"]') + "\n[agents.desk]\nterminal = true\n"
    text = text.replace(
        "[agents.helper]\nterminal = true", '[agents.helper]\nhandoffs = ["front"]\nmax_visits = 2'
    )
    d = only(lint(text), "SB206")
    assert at(d) == position_of(text, "[agents.front]")
    assert d.message == (
        "handoff loop front -> helper -> front has no agent with a max_visits budget (front -> helper is the "
        "implicit fallback; max_visits on recovery agent 'helper' does not count: guardrails reroute there "
        "whatever its visits)"
    )
    assert d.help == "add max_visits = 3 to 'front'"
    [note] = d.related
    assert (note.location.line, note.location.col) == position_of(text, '"front"]')
    assert note.message == "'helper' hands off to 'front' here"
    assert lint(text.replace('handoffs = ["desk"]', 'handoffs = ["desk"]\nmax_visits = 3')) == []


def test_sb206_through_a_guardrail_reroute(lint: Lint, position_of: Where) -> None:
    """Without the fallback, a transfer to 'desk' past its budget still reroutes 'front' to the recovery agent."""
    text = BASE.replace('recovery = "helper"', 'recovery = "helper"\nimplicit_fallback = false')
    text = (
        text.replace('handoffs = ["helper"]', 'handoffs = ["desk"]')
        + '\n[agents.desk]\nhandoffs = ["helper"]\nmax_visits = 1\n'
    )
    text = text.replace("[agents.helper]\nterminal = true", '[agents.helper]\nhandoffs = ["front"]')
    d = only(lint(text), "SB206")
    assert d.extra["cycle"] == ["front", "helper", "front"]
    assert "(front -> helper is the reroute of a transfer to 'desk' past its budget)" in d.message
    assert [n.message for n in d.related] == ["'helper' hands off to 'front' here"]
    assert lint(text.replace('handoffs = ["desk"]', 'handoffs = ["desk"]\nmax_visits = 2')) == []


def test_sb206_one_warning_per_component(lint: Lint) -> None:
    text = BASE.replace('handoffs = ["helper"]', 'handoffs = ["a", "c"]') + "".join(
        f'\n[agents.{pair[0]}]\nhandoffs = ["{pair[1]}", "helper"]\n' for pair in ["ab", "ba", "cd", "dc"]
    )
    assert [(d.code, d.agents) for d in lint(text)] == [("SB206", ("a", "b")), ("SB206", ("c", "d"))]


# --- SB3xx context contracts --------------------------------------------------------------------------

RETAIL = """\
[flow]
name = "retail"
entry = "authentication"
recovery = "generalist"

[agents.authentication]
tools = ["authenticate_user"]
produces = ["user_id"]
handoffs = ["sales", "returns"]

[agents.sales]
handoffs = ["returns"]

[agents.returns]
requires = ["user_id"]
terminal = true

[agents.generalist]
terminal = true

[tools.authenticate_user]
sets = ["user_id"]

[[handoff]]
from = "sales"
to = "returns"
carry = []
"""


def test_sb301_required_key_lost(lint: Lint, position_of: Where) -> None:
    d = only(lint(RETAIL), "SB301")
    assert at(d) == position_of(RETAIL, '"user_id"', 1)
    assert d.message == (
        "agent 'returns' requires 'user_id', which is lost on path "
        "authentication -> sales -> returns (not carried on sales -> returns)"
    )
    assert d.agents == ("returns", "sales")
    assert d.extra == {
        "key": "user_id",
        "path": ["authentication", "sales", "returns"],
        "lost_on": ["sales", "returns"],
        "cause": "carry",
    }
    assert d.help == 'add "user_id" to carry on sales -> returns'
    [note] = d.related
    assert (note.location.line, note.location.col) == position_of(RETAIL, "carry = []")
    assert note.message == "the contract sales -> returns does not carry 'user_id'"


CARD = """\
[flow]
name = "bank"
entry = "front"
recovery = "helper"

[agents.front]
tools = ["identify"]
handoffs = ["card_services", "savings", "mortgages"]

[agents.card_services]
handoffs = ["loans"]

[agents.savings]
handoffs = ["loans"]

[agents.mortgages]
handoffs = ["loans"]

[agents.loans]
requires = ["customer_id"]
terminal = true

[agents.helper]
terminal = true

[tools.identify]
sets = ["customer_id"]

[[handoff]]
from = "card_services"
to = "loans"
carry = []

[[handoff]]
from = "savings"
to = "loans"
carry = ["customer_id"]

[[handoff]]
from = "mortgages"
to = "loans"
carry = ["account"]
"""


def test_sb301_reports_every_contract_that_drops_the_key(lint: Lint, position_of: Where) -> None:
    """Two of the three routes into 'loans' drop 'customer_id': one finding each, each at the requires."""
    text = CARD.replace(
        'carry = ["account"]',
        'carry = ["account"]\n\n[[handoff]]\nfrom = "front"\nto = "mortgages"\ncarry = ["customer_id", "account"]',
    )
    text = text.replace(
        '[tools.identify]\nsets = ["customer_id"]', '[tools.identify]\nsets = ["customer_id", "account"]'
    )
    found = [d for d in lint(text) if d.code != "SB304"]  # SB304: the dropped keys stay readable in history
    assert [d.code for d in found] == ["SB301", "SB301"]
    requires = position_of(text, '"customer_id"]')
    for d, source, carry in zip(
        found, ["card_services", "mortgages"], ["carry = []", 'carry = ["account"]'], strict=True
    ):
        assert at(d) == requires
        assert d.message == (
            f"agent 'loans' requires 'customer_id', which is lost on path front -> {source} -> loans "
            f"(not carried on {source} -> loans)"
        )
        assert d.help == f'add "customer_id" to carry on {source} -> loans'
        assert [(n.location.line, n.location.col) for n in d.related] == [position_of(text, carry)]
        assert d.agents == ("loans", source) and d.extra["lost_on"] == [source, "loans"]


def test_sb301_one_finding_per_dropping_contract_however_many_paths_lead_to_it(lint: Lint) -> None:
    text = CARD.replace(
        'handoffs = ["card_services", "savings", "mortgages"]',
        'handoffs = ["card_services", "savings", "mortgages", "desk"]',
    )
    text = text.replace(
        "[agents.savings]\n", '[agents.desk]\nhandoffs = ["card_services"]\n\n[agents.savings]\n'
    )
    text = text.replace('carry = ["account"]', 'carry = ["customer_id"]')
    d = only(lint(text), "SB301")
    assert d.extra["path"] == ["front", "card_services", "loans"]


def test_sb301_a_key_nothing_produces(lint: Lint, position_of: Where) -> None:
    text = CARD.replace('requires = ["customer_id"]', 'requires = ["customer_id", "credit_score"]')
    text = text.replace("carry = []", 'carry = ["customer_id"]').replace(
        'carry = ["account"]', 'carry = ["customer_id"]'
    )
    d = only(lint(text), "SB301")
    assert at(d) == position_of(text, '"credit_score"')
    assert d.message == (
        "agent 'loans' requires 'credit_score', but nothing in the flow produces 'credit_score' "
        "(no tool sets it, no agent produces it, and it is not in initial_context)"
    )
    assert d.help == 'add "credit_score" to initial_context, or set it with a tool (sets = ["credit_score"])'
    assert d.agents == ("loans",) and d.related == ()
    assert d.extra == {
        "key": "credit_score",
        "path": ["front", "card_services", "loans"],
        "lost_on": None,
        "cause": "unproduced",
    }
    produced = text.replace('sets = ["customer_id"]', 'sets = ["customer_id", "credit_score"]')
    lost = lint(produced)  # produced now, but every contract into 'loans' drops it
    assert sorted(d.extra["lost_on"][0] for d in lost) == ["card_services", "mortgages", "savings"]
    assert all("(not carried on " in d.message for d in lost)


def test_sb301_carried_everywhere_is_clean(lint: Lint) -> None:
    assert lint(RETAIL.replace("carry = []", 'carry = ["user_id"]')) == []
    assert lint(RETAIL.replace("carry = []", "")) == []


def test_sb301_initial_context(lint: Lint) -> None:
    text = RETAIL.replace("carry = []", 'carry = ["user_id"]').replace(
        "[agents.authentication]\n", '[agents.authentication]\nrequires = ["user_id"]\n'
    )
    d = only(lint(text), "SB301")
    assert d.agents == ("authentication",)
    assert d.message.endswith("path authentication (not in initial_context)")
    assert d.help == 'add "user_id" to initial_context'
    assert [n.message for n in d.related] == ["initial_context lacks 'user_id'"]
    known = 'recovery = "generalist"\ninitial_context = ["user_id"]'
    assert lint(text.replace('recovery = "generalist"', known)) == []


def test_sb301_lost_on_the_implicit_fallback(lint: Lint) -> None:
    text = RETAIL.replace("carry = []", 'carry = ["user_id"]').replace(
        "[agents.generalist]\n", '[agents.generalist]\nrequires = ["user_id"]\n'
    )
    d = only(lint(text), "SB301")  # one finding for the fallback of every agent: they share one fix
    assert d.agents == ("generalist", "authentication")
    assert "authentication -> generalist (not in fallback_carry" in d.message
    assert d.help == 'add "user_id" to fallback_carry'
    [note] = d.related
    assert (note.location.line, note.location.col) == (1, 1)  # no fallback_carry: the [flow] table
    assert note.message == "the implicit fallback authentication -> generalist carries only fallback_carry"
    fixed = text.replace('recovery = "generalist"', 'recovery = "generalist"\nfallback_carry = ["user_id"]')
    assert lint(fixed) == []


def test_sb301_lost_around_a_loop(lint: Lint) -> None:
    """The key reaches 'b' first with it, but a lap around the loop drops it: it is not guaranteed."""
    text = """\
    [flow]
    name = "loop"
    entry = "a"
    recovery = "z"
    implicit_fallback = false

    [agents.a]
    tools = ["t"]
    produces = ["k"]
    handoffs = ["b"]

    [agents.b]
    handoffs = ["c", "z"]
    max_visits = 2

    [agents.c]
    handoffs = ["b"]
    requires = ["k"]

    [agents.z]
    terminal = true

    [tools.t]
    sets = ["k"]

    [[handoff]]
    from = "c"
    to = "b"
    carry = []
    """
    d = only(lint(text), "SB301")
    assert d.extra["path"] == ["a", "b", "c", "b", "c"]
    assert "(not carried on c -> b)" in d.message


def test_sb301_path_avoids_agents_that_produce_the_key(lint: Lint) -> None:
    """'b' lacks 'k' only over a -> x -> y -> b: the shorter a -> p -> b gets 'k' from 'p'."""
    text = """\
    [flow]
    name = "producers"
    entry = "a"
    recovery = "z"

    [agents.a]
    handoffs = ["p", "x"]

    [agents.p]
    tools = ["t"]
    produces = ["k"]
    handoffs = ["b"]

    [agents.x]
    handoffs = ["y"]

    [agents.y]
    handoffs = ["b"]

    [agents.b]
    requires = ["k"]
    terminal = true

    [agents.z]
    terminal = true

    [tools.t]
    sets = ["k"]
    """
    d = only(lint(text), "SB301")
    assert d.extra["path"] == ["a", "x", "y", "b"]
    assert d.message.endswith("(not in initial_context and not produced on the way)")


def test_sb302_ignores_a_second_contract_for_the_same_edge(lint: Lint) -> None:
    text = BASE + '\n[[handoff]]\nfrom = "front"\nto = "helper"\n' * 2 + 'carry = ["order_id"]\n'
    assert [d.code for d in lint(text)] == ["SB104"]


def test_sb302_carry_never_produced(lint: Lint, position_of: Where) -> None:
    text = BASE + '\n[[handoff]]\nfrom = "front"\nto = "helper"\ncarry = ["user_id", "order_id"]\n'
    found = lint(text)
    assert [d.code for d in found] == ["SB302", "SB302"]
    assert at(found[1]) == position_of(text, '"order_id"')
    assert found[1].agents == ("front", "helper")
    assert "'front' -> 'helper' carries 'order_id'" in found[1].message
    known = 'recovery = "helper"\ninitial_context = ["user_id", "order_id"]'
    initial = text.replace('recovery = "helper"', known)
    assert lint(initial) == []


def test_sb302_produced_upstream_is_clean(lint: Lint) -> None:
    text = RETAIL.replace("carry = []", 'carry = ["user_id"]')
    assert lint(text) == []
    unproduced = text.replace('tools = ["authenticate_user"]\nproduces = ["user_id"]\n', "")
    assert [d.code for d in lint(unproduced)] == ["SB301", "SB107", "SB302"]


def test_sb302_produced_by_the_source_itself_is_clean(lint: Lint) -> None:
    text = RETAIL.replace('from = "sales"', 'from = "authentication"').replace(
        "carry = []", 'carry = ["user_id"]'
    )
    assert lint(text.replace('handoffs = ["returns"]', 'handoffs = ["generalist"]')) == []


def test_sb303_produces_without_tool(lint: Lint, position_of: Where) -> None:
    text = BASE.replace("[agents.front]\n", '[agents.front]\nproduces = ["user_id"]\n')
    d = only(lint(text), "SB303")
    assert (d.severity, at(d), d.agents) == (Severity.WARNING, position_of(text, '"user_id"'), ("front",))
    assert "no tools" in d.message
    with_tool = text.replace("[agents.front]\n", '[agents.front]\ntools = ["t"]\n') + "\n[tools.t]\n"
    assert "none of its tools (t)" in only(lint(with_tool), "SB303").message
    assert lint(with_tool + 'sets = ["user_id"]\n') == []


# --- SB401 supervisor ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "field", "words"),
    [
        ('backend = "scripted"', 'backend = "scripted"', "`script`"),
        ('backend = "openai"\nmodel = " "', 'model = " "', "non-empty `model`"),
        ('script = "r.toml"\ntools = ["t"]\nmax_tool_rounds = 0', "max_tool_rounds = 0", "max_tool_rounds"),
    ],
)
def test_sb401_supervisor_config(lint: Lint, position_of: Where, table: str, field: str, words: str) -> None:
    text = BASE + f"\n[supervisor]\n{table}\n\n[tools.t]\n"
    text = text if "tools" in table else text.replace("\n[tools.t]\n", "")
    d = only(lint(text), "SB401")
    assert at(d) == position_of(text, field)
    assert d.agents == ("front",) and words in d.message


def test_sb401_sound_supervisors_are_clean(lint: Lint) -> None:
    assert lint(BASE + '\n[supervisor]\nscript = "rules.toml"\n') == []
    assert lint(BASE + '\n[supervisor]\nbackend = "openai"\nmodel = "gpt-4.1"\n') == []


# --- the whole verifier ---------------------------------------------------------------------------------


def test_findings_are_sorted_by_location_then_code(lint: Lint) -> None:
    text = BASE.replace('handoffs = ["helper"]', 'handoffs = ["helper", "x", "helper"]') + (
        "\n[agents.lost]\n\n[tools.spare]\n"
    )
    found = lint(text)
    assert [d.code for d in found] == ["SB101", "SB104", "SB201", "SB205", "SB107"]
    assert found == sorted(found, key=lambda d: (d.location, d.code))


def test_verify_takes_a_flow_without_source_positions() -> None:
    flow = Flow.model_validate({"flow": {"name": "x", "entry": "a", "recovery": "a"}, "agents": {"a": {}}})
    [d] = verify(FlowDocument(flow, SourceMap("<memory>")))
    assert (d.code, str(d.location)) == ("SB204", "<memory>:1:1")


BROKEN = sorted((FLOWS / "broken").glob("*.toml"))


def test_every_rule_has_a_broken_flow() -> None:
    shown = {f.name[:5].upper() for f in BROKEN}
    # lint's own failure and an unreadable file have no flow; a script rule's example is a script (SB7xx:
    # tests/verify/test_explain.py lints each beside its flow)
    assert shown == {c for c in RULES if not c.startswith("SB7")} - {"SB000", "SB001"}


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.name)
def test_broken_flow_yields_exactly_its_rule(path: Path) -> None:
    code = path.name[:5].upper()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#:schema ../../schemas/flow.schema.json"
    assert re.match(rf"# {code}: \S", lines[1])
    try:  # the whole start-up pipeline lint runs: load, verify, compile, bind
        found = list(prepare(path, import_tools=False).warnings)
    except FlowError as exc:
        found = exc.diagnostics
    assert {d.code for d in found} == {code}, [str(d) for d in found]
    for d in found:
        assert (d.severity, d.location.file) == (RULES[code].severity, str(path))
        if code >= "SB100":
            assert d.rule == RULES[code].name


SHIPPED = sorted([*FLOWS.glob("*.toml"), *FLOWS.glob("*.json")])


@pytest.mark.skipif(not SHIPPED, reason="no shipped flows yet")
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_flows_have_no_errors(path: Path) -> None:
    errors = [str(d) for d in verify(load_flow(path)) if d.severity is Severity.ERROR]
    assert errors == []
