"""A kebab-case flow end to end: lint, compile, render (dot and Mermaid), and a scripted conversation over
real sockets whose handoffs reach ``airline-unreachable`` and ``human-agent``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from engine.cli import EXIT_OK, main
from engine.compile.handoff import compile_handoff_machine, state_id
from engine.compile.pipeline import compile_document
from engine.flow.loader import load_flow
from engine.flow.names import identifier
from engine.session import MemorySink
from tests.e2e_helpers import converse
from tests.render.test_render import read_mermaid

FLOW = """\
[flow]
name = "airline-desk"
entry = "front-desk"
recovery = "human-agent"
max_handoff_depth = 3

[agents.front-desk]
instructions = \"\"\"Greet the caller.
If the airline cannot be reached, transfer to the 'airline-unreachable' agent.
When they ask for a person, call transfer_to_human-agent.\"\"\"
handoffs = ["airline-unreachable", "human-agent"]
tools = ["look-up-flight"]

[agents.airline-unreachable]
description = "Explains the outage."
handoffs = ["human-agent"]
terminal = true

[agents.human-agent]
description = "A person takes over."
terminal = true

[tools.look-up-flight]
description = "Flight status."
"""

SCRIPT = """
[[rule]]
agent = "front-desk"
user = "flight"
call = "transfer_to_airline-unreachable"
arguments = { reason = "the airline is down" }
[[rule]]
agent = "airline-unreachable"
after = "transfer_to_airline-unreachable"
say = "The airline is unreachable right now."
[[rule]]
agent = "airline-unreachable"
user = "person"
call = "transfer_to_human-agent"
arguments = { reason = "wants a person" }
[[rule]]
agent = "human-agent"
after = "transfer_to_human-agent"
say = "A human here."
"""

FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "airline-desk.toml"
    path.write_text(FLOW)
    return path


def test_a_kebab_case_flow_lints_clean_and_a_misspelt_transfer_tool_is_still_found(
    flow_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lint", str(flow_file), "--strict"]) == EXIT_OK, capsys.readouterr().out
    capsys.readouterr()
    flow_file.write_text(FLOW.replace("call transfer_to_human-agent", "call transfer_to_human-agnet"))
    assert main(["lint", str(flow_file), "--format", "json"]) == EXIT_OK  # a warning
    (finding,) = json.loads(capsys.readouterr().out)["findings"]
    assert (finding["code"], finding["detail"]["meant"]) == ("SB501", "human-agent")
    assert finding["help"] == "name 'human-agent' instead (its tool is `transfer_to_human-agent`)"


def test_compiled_states_are_identifiers_and_events_are_the_transfer_tools(flow_file: Path) -> None:
    machine_cls = compile_handoff_machine(load_flow(flow_file).flow)
    assert {s.id for s in machine_cls.states} == {
        state_id(a) for a in ("front-desk", "airline-unreachable", "human-agent")
    }
    assert all(s.id.isidentifier() for s in machine_cls.states)
    machine = machine_cls()
    machine.send("transfer_to_airline-unreachable")
    assert machine.agent == "airline-unreachable"
    machine.send("transfer_to_human-agent")
    assert machine.agent == "human-agent"


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' is not installed")
def test_kebab_case_names_render_with_dot_and_mermaid(flow_file: Path, tmp_path: Path) -> None:
    svg, dot, mmd = (tmp_path / f"desk.{ext}" for ext in ("svg", "dot", "mmd"))
    for out in (svg, dot, mmd):
        assert main(["render", str(flow_file), "-o", str(out)]) == EXIT_OK
    assert "<svg" in svg.read_text() and ">human&#45;agent</text>" in svg.read_text()
    assert '"front-desk" -> "human-agent"' in dot.read_text()
    drawn = read_mermaid(mmd.read_text())
    assert drawn.agents() == {identifier(a) for a in ("front-desk", "airline-unreachable", "human-agent")}
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", n) for n in drawn.nodes), "no '-' a Mermaid arrow could take"
    assert ("_front_0desk", "_human_0agent", "handoff") in drawn.routes()
    assert "<b>human-agent</b>" in mmd.read_text(), "the label keeps the name as written"


def test_a_conversation_hands_off_to_kebab_case_agents_over_sockets(flow_file: Path) -> None:
    compiled = compile_document(load_flow(flow_file))
    session, rec, sink = converse(compiled, SCRIPT, ["my flight is late", "a person please"])
    assert isinstance(sink, MemorySink)
    handoffs = [(r.from_agent, r.to_agent, r.outcome) for r in sink.records if r.kind == "handoff"]
    assert handoffs == [
        ("front-desk", "airline-unreachable", "done"),
        ("airline-unreachable", "human-agent", "done"),
    ]
    assert session.agent == "human-agent"
    assert rec.transcript("assistant") == ["The airline is unreachable right now.", "A human here."]
    updates = [e["session"] for side, e in rec.wire if side == "client" and e["type"] == "session.update"]
    assert updates[-1]["instructions"].splitlines()[0] == "# agent: human-agent"
    offered = {t["name"] for u in updates for t in u["tools"]}
    assert {"transfer_to_airline-unreachable", "transfer_to_human-agent", "look-up-flight"} <= offered
    assert all(FUNCTION_NAME.match(name) for name in offered)
