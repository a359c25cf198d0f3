"""SB501: instructions that ask for a transfer the agent will not have; and no false alarms on real prompts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.compile.plan import transfer_targets
from engine.flow.diagnostics import Diagnostic, Severity
from engine.flow.loader import FlowDocument, SourceMap, load_flow, parse_flow
from engine.flow.model import Flow
from engine.verify import verify
from tests.verify.test_verify_properties import flows

FLOWS = Path(__file__).resolve().parents[2] / "flows"
Where = Callable[..., tuple[int, int]]

UPSTREAM_GREETER = (
    "Please greet the user and ask them if they'd like a Haiku. If yes, hand off to the 'haiku' agent."
)

BASE = """\
[flow]
name = "t"
entry = "greeter"
recovery = "generalist"
{settings}

[agents.greeter]
instructions = {prompt}
handoffs = ["haiku_writer"]

[agents.haiku_writer]
terminal = true

[agents.billing]
handoffs = ["generalist"]
max_visits = 2

[agents.generalist]
handoffs = ["billing"]
max_visits = 2
terminal = true
"""


def flow_text(prompt: str, settings: str = "") -> str:
    return BASE.format(prompt=json.dumps(prompt), settings=settings)


def lint(prompt: str, settings: str = "") -> list[Diagnostic]:
    return [d for d in verify(parse_flow(flow_text(prompt, settings), "flow.toml")) if d.code != "SB201"]


def sb501(prompt: str, settings: str = "") -> list[Diagnostic]:
    found = lint(prompt, settings)
    assert {d.code for d in found} <= {"SB501"}, [str(d) for d in found]
    return found


def test_the_upstream_greeter_names_an_agent_that_does_not_exist(position_of: Where) -> None:
    [d] = sb501(UPSTREAM_GREETER)
    assert (d.severity, d.rule) == (Severity.WARNING, "prompt-mentions-unknown-agent")
    assert (d.location.line, d.location.col) == position_of(flow_text(UPSTREAM_GREETER), "instructions")
    assert d.message == (
        "the instructions of 'greeter' say \"hand off to the 'haiku' agent\" (line 1), "
        "but the flow has no agent 'haiku' (did you mean 'haiku_writer'?)"
    )
    assert d.help == "name 'haiku_writer' instead (its tool is `transfer_to_haiku_writer`)"
    assert d.agents == ("greeter",)
    assert d.extra == {
        "mention": "hand off to the 'haiku' agent",
        "line": 1,
        "target": "haiku",
        "meant": "haiku_writer",
    }
    assert [r.message for r in d.related] == ["the handoffs of 'greeter'"]


def test_the_shipped_greeter_is_clean() -> None:
    assert sb501("If yes, hand off to the 'haiku_writer' agent (call `transfer_to_haiku_writer`).") == []


def test_a_prompt_file_is_pointed_at_by_its_key(tmp_path: Path, position_of: Where) -> None:
    (tmp_path / "greeter.md").write_text(
        "Greet the user.\n\nThen call transfer_to_billing.\n", encoding="utf-8"
    )
    text = flow_text("").replace('instructions = ""', 'instructions_file = "greeter.md"')
    (tmp_path / "flow.toml").write_text(text, encoding="utf-8")
    [d] = [d for d in verify(load_flow(tmp_path / "flow.toml")) if d.code == "SB501"]
    assert (d.location.line, d.location.col) == position_of(text, "instructions_file")
    assert d.message == (
        "the instructions of 'greeter' name `transfer_to_billing` (line 3 of greeter.md), "
        "but 'greeter' cannot transfer to 'billing'"
    )
    assert d.agents == ("greeter", "billing")
    assert d.help == (
        "add 'billing' to the handoffs of 'greeter', or change the prompt "
        "(its transfer tools: `transfer_to_haiku_writer`, `transfer_to_generalist`)"
    )


@pytest.mark.parametrize(
    ("prompt", "target", "meant"),
    [
        ("Call transfer_to_haiku when asked.", "haiku", "haiku_writer"),
        ("Call transfer_to_haikuWriter when asked.", "haikuWriter", "haiku_writer"),
        ("Transfer the caller to the billing agent.", "billing", None),
        ("If they ask about money, route them to billing.", "billing", None),
        ("Hand the conversation over to `billing`.", "billing", None),
        ("Escalate to the 'supervisor' agent.", "supervisor", None),
        ("Transfer to the payments agent.", "payments", None),
    ],
)
def test_transfers_the_agent_cannot_make(prompt: str, target: str, meant: str | None) -> None:
    [d] = sb501(prompt)
    assert d.extra["target"] == target and d.extra.get("meant") == meant, d.message


@pytest.mark.parametrize(
    "prompt",
    [
        "Use transfer_to_haiku_writer for poems, transfer_to_generalist for anything else.",
        "Hand off to haikuWriter when they want a poem.",  # camelCase of a target
        "Transfer to the generalist if you are stuck.",  # the implicit fallback
        "Never transfer to billing.",
        "Do not hand the caller over to the 'billing' agent, but answer yourself.",
        "You cannot route them to billing; only the generalist can.",
        "Before transferring to another agent, confirm the request.",
        "Route to the correct agent. Transfer to a human agent if they ask. Hand them back to the main agent.",
        "Transfer to the right agent or the appropriate one.",
        "Transfer to speak with someone.",  # not a name
        "The greeter agent never transfers to itself; hand off to the greeter only in tests.",  # itself
        "Explain the rationale_for_transfer_to_billing field.",  # not a tool name
    ],
)
def test_prompts_that_agree_with_the_graph(prompt: str) -> None:
    assert sb501(prompt) == [], prompt


def test_the_fallback_only_counts_while_it_is_on() -> None:
    found = lint("Call transfer_to_generalist when stuck.", "implicit_fallback = false")
    [d] = [d for d in found if d.code == "SB501"]
    assert d.extra["target"] == "generalist" and d.agents == ("greeter", "generalist")


def test_one_finding_per_name() -> None:
    found = sb501(
        "Call transfer_to_billing. Really, transfer to billing. Or to the 'payments' agent: hand off to 'payments'."
    )
    assert [d.extra["target"] for d in found] == ["billing", "payments"]


def test_a_transfer_the_misspelled_handoff_would_allow_is_the_handoffs_finding() -> None:
    text = flow_text("When they want a poem, call transfer_to_haiku_writer.").replace(
        'handoffs = ["haiku_writer"]', 'handoffs = ["haiku_writr"]'
    )
    found = verify(parse_flow(text, "flow.toml"))
    assert [d.code for d in found] == ["SB101"]


@pytest.mark.parametrize("path", sorted(FLOWS.glob("*.toml")), ids=lambda p: p.name)
def test_no_false_positives_on_the_shipped_flows(path: Path) -> None:
    assert [str(d) for d in verify(load_flow(path)) if d.code == "SB501"] == []


# --- the property: a finding names a transfer the runtime would not offer -------------------------------

WORDS = st.sampled_from(
    [
        "transfer to",
        "hand off to the",
        "route them to",
        "do not transfer to",
        "call",
        "agent",
        "the",
        "another",
        "right",
        "'",
        ".",
        "\n",
        "if",
        "billing",
        "haiku",
        "a0",
        "a1",
        "A2",
        "a3_x",
    ]
)


@settings(max_examples=150, deadline=None)
@given(flows(), st.data())
def test_findings_name_only_transfers_the_session_does_not_offer(flow: Flow, data: st.DataObject) -> None:
    """Each SB501 names a target that ``engine/compile/plan.py`` gives the agent no tool for; a prompt that
    names only the tools the session offers (``transfer_to_T``, "transfer to T") is never flagged."""
    raw: dict[str, Any] = flow.model_dump(by_alias=True)
    offered = {name: transfer_targets(flow, name) for name in flow.agents}
    for name in flow.agents:
        words = data.draw(
            st.lists(WORDS | st.sampled_from([f"transfer_to_{a}" for a in flow.agents]), max_size=12)
        )
        raw["agents"][name]["instructions"] = " ".join(words)
    noisy = Flow.model_validate(raw)
    for d in verify(FlowDocument(noisy, SourceMap("<random>"))):
        if d.code == "SB501":
            speaker = d.agents[0]
            assert d.extra["target"] not in offered[speaker], d.message
    for name in flow.agents:
        raw["agents"][name]["instructions"] = " ".join(
            f"If needed, call transfer_to_{t}, or transfer to the {t} agent." for t in offered[name]
        )
    clean = Flow.model_validate(raw)
    assert [str(d) for d in verify(FlowDocument(clean, SourceMap("<random>"))) if d.code == "SB501"] == []
