"""Each expectation kind passes when it holds and fails, at its own position, when it does not."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.flowtest.case import load_case
from engine.flowtest.runner import run_case
from tests.flowtest.helpers import run_text, shipped_script

RETAIL = shipped_script("retail", "retail")
SUPERVISOR = shipped_script("chat_supervisor", "chat_supervisor")

# Richer expectations than the shipped script states, all true of its run (the base of every variant).
RETAIL_RICH = RETAIL.replace(
    'expect = { agent = "returns", handoff = "done", tool = ["authenticate_user_information", "lookup_orders"] }',
    'expect = { agent = "returns", handoff = "done", tool = ["authenticate_user_information", "lookup_orders"], '
    'carried = ["user_id"], history = "reset" }',
)

# (name, base, text in the base, its replacement, what the failure says)
VARIANTS = [
    (
        "turn agent",
        RETAIL_RICH,
        'expect = { agent = "sales", handoff = "done", tool',
        'expect = { agent = "returns", handoff = "done", tool',
        "expected agent 'returns'",
    ),
    (
        "handoff",
        RETAIL_RICH,
        '"authentication", handoff = "refused"',
        '"authentication", handoff = "done"',
        "handoff outcome",
    ),
    (
        "tool",
        RETAIL_RICH,
        'tool = "lookup_new_sales"',
        'tool = "lookup_orders"',
        "expected call(s) [lookup_orders]",
    ),
    ("carried", RETAIL_RICH, 'carried = ["user_id"]', "carried = []", "expected the handoff to carry none"),
    ("history", RETAIL_RICH, 'history = "reset"', 'history = "keep"', "expected history policies [keep]"),
    ("says", RETAIL_RICH, 'says = "(?i)verify"', 'says = "(?i)welcome"', "expected the assistant to say"),
    (
        "end agent",
        RETAIL_RICH,
        'agent = "generalist"\ndepth',
        'agent = "returns"\ndepth',
        "to end with 'returns'",
    ),
    ("depth", RETAIL_RICH, "depth = 6", "depth = 5", "expected depth 5, got 6"),
    ("outcomes", RETAIL_RICH, "refused = 1", "refused = 2", "expected 2 'refused' handoff(s), got 1"),
    (
        "context unset",
        RETAIL_RICH,
        'context = { set = ["user_id"] }',
        'context = { unset = ["user_id"] }',
        "'user_id' to be absent",
    ),
    (
        "escalation",
        SUPERVISOR,
        'escalation = "answered", says = "94105"',
        'escalation = "timed_out", says = "94105"',
        "escalation outcome(s) [timed_out]",
    ),
    ("escalations", SUPERVISOR, "escalations = 2", "escalations = 3", "expected 3 escalation(s), got 2"),
]


@pytest.mark.parametrize("base", [RETAIL_RICH, SUPERVISOR], ids=["retail", "supervisor"])
def test_every_expectation_of_the_base_scripts_holds(base: str, tmp_path: Path) -> None:
    result = run_text(tmp_path, base)
    assert result.passed, [str(f) for f in result.failures]


@pytest.mark.parametrize(("name", "base", "old", "new", "says"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_an_unmet_expectation_fails_at_its_position(
    name: str, base: str, old: str, new: str, says: str, tmp_path: Path
) -> None:
    assert base.count(old) == 1, old
    text = base.replace(old, new)
    result = run_text(tmp_path, text)
    assert len(result.failures) == 1, [str(f) for f in result.failures]
    failure = result.failures[0]
    assert says in failure.message
    changed = base[: base.index(old)].count("\n") + 1  # the line the variant changed (or the next one)
    assert failure.location.line in (changed, changed + new.count("\n"))
    assert failure.location.file.endswith("case.toml")


def test_a_key_never_learnt_fails_context_set(tmp_path: Path) -> None:
    head = RETAIL[: RETAIL.index("\n[[turn]]")]
    rules = RETAIL[RETAIL.index("# --- authentication") :]
    one_turn = (
        '[[turn]]\nuser = "I want to return my snowboard"\n\n[expect]\ncontext = { set = ["user_id"] }\n'
    )
    result = run_text(tmp_path, head + one_turn + rules)
    assert [f.message for f in result.failures] == [
        "expected trusted context key 'user_id' to be set, it is not"
    ]
    assert result.failures[0].turn is None


def test_a_turn_no_rule_answers_fails_that_turn(tmp_path: Path) -> None:
    text = RETAIL.replace('user = "Hmm, can I talk to a human?"', 'user = "Hmm, can I speak to someone?"')
    result = run_text(tmp_path, text)
    first = result.failures[0]
    assert first.turn == 3 and "no script rule matched" in first.message


def test_a_run_that_stops_early_fails_the_turns_it_never_said(tmp_path: Path) -> None:
    path = tmp_path / "case.toml"
    path.write_text(RETAIL, encoding="utf-8")
    result = asyncio.run(run_case(load_case(path), turn_timeout=0.001))  # no turn can be answered in time
    assert result.observation.error is not None
    unsaid = [f for f in result.failures if f.message.startswith("never said")]
    assert unsaid and all(f.turn is not None and f.turn >= len(result.observation.turns) for f in unsaid)
