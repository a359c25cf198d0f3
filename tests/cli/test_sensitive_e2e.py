"""A sensitive value, end to end: `run` with an audit file, the transcript, `log`, and the emulator's view of
every agent's instructions (the model side of the wire)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import EXIT_OK, main
from engine.compile.pipeline import compile_document
from engine.flow.loader import parse_flow
from engine.runtime.conversation import UserTurn
from engine.runtime.tools import ToolRegistry
from tests.e2e_helpers import converse

FLOW = """
[flow]
name = "bank"
entry = "auth"
recovery = "help"
sensitive = ["dob"]

[agents.auth]
tools = ["verify"]
handoffs = ["cards", "loans"]

[agents.cards]
handoffs = ["loans"]

[agents.loans]
terminal = true

[agents.help]
terminal = true

[tools.verify]
parameters = {{ type = "object", properties = {{ card = {{ type = "string" }}, dob = {{ type = "string" }} }} }}
sets = ["user_id", "dob"]
sensitive = ["card"]
impl = "{module}:verify"

[[handoff]]
from = "auth"
to = "cards"
carry = ["user_id", "dob"]

[[handoff]]
from = "cards"
to = "loans"
carry = ["user_id"]
"""

SCRIPT = """
[[turn]]
user = "verify me"
[[turn]]
user = "loans please"

[[rule]]
agent = "auth"
user = "verify"
call = "verify"
arguments = { card = "4321", dob = "1988-10-12" }
[[rule]]
agent = "auth"
after = "verify"
call = "transfer_to_cards"
arguments = { reason = "verified with card 4321 and dob 1988-10-12" }
[[rule]]
agent = "cards"
user = "loans"
call = "transfer_to_loans"
arguments = { reason = "caller born 1988-10-12 wants a loan" }
[[rule]]
say = "Done."
"""


def test_a_sensitive_value_never_reaches_the_audit_file_the_transcript_or_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = f"bank_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(
        "def verify(card='', dob=''):\n    return {'user_id': 'u-1', 'dob': dob, 'card_seen': card}\n"
    )
    flow = tmp_path / "bank.toml"
    flow.write_text(FLOW.format(module=module))
    (tmp_path / "script.toml").write_text(SCRIPT)
    audit = tmp_path / "audit.jsonl"
    code = main(["run", str(flow), "--script", str(tmp_path / "script.toml"), "--audit", str(audit)])
    out, err = capsys.readouterr()
    assert code == EXIT_OK, err
    assert "auth -> cards" in out and "cards -> loans" in out
    assert main(["log", str(audit)]) == EXIT_OK
    logged, _ = capsys.readouterr()
    for seen in (out, err, audit.read_text(), logged):
        assert "1988-10-12" not in seen and "4321" not in seen
    assert "***" in out and "***" in audit.read_text()


def test_only_the_agent_whose_contract_carries_it_is_told_a_sensitive_value() -> None:
    compiled = compile_document(parse_flow(FLOW.format(module="unused"), "bank.toml"))
    tools = ToolRegistry({"verify": lambda card="", dob="": {"user_id": "u-1", "dob": dob}})
    turns: list[UserTurn | str] = [UserTurn("verify me"), UserTurn("loans please")]
    session, rec, _sink = converse(compiled, SCRIPT, turns, tools=tools)
    assert session.agent == "loans"
    told = {
        e["session"]["instructions"].splitlines()[0]: e["session"]["instructions"]
        for side, e in rec.wire
        if side == "client" and e["type"] == "session.update"
    }
    assert "1988-10-12" in told["# agent: cards"]  # carried by name
    assert "1988-10-12" not in told["# agent: loans"]  # cards -> loans carries only user_id
