"""Parity, as a property: a random flow either fails `lint --import-tools`, or it compiles, binds and runs a
random scripted conversation on the emulator without an exception (issue: what lint accepts runs).

The flows mix good and bad parts on purpose: JSON Schemas with a misspelt type or a broken pattern, impls
naming a missing module, a missing function, a constant, a function with the wrong signature, one that raises.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engine.cli import EXIT_OK, main
from engine.emulator.script import Script
from engine.flow.diagnostics import FlowError
from engine.runtime.prepare import prepare
from engine.runtime.runner import RunOptions, run_conversation
from engine.session import MemorySink

MODULE = """
def good(**arguments):
    return {"k": "v", "seen": sorted(arguments)}

def takes_nothing():
    return {}

def explodes(**arguments):
    raise RuntimeError("the backend is down")

async def slow_ok(**arguments):
    return {"k": "async"}

CONSTANT = 1
"""

PARAMETERS = [
    {"type": "object", "properties": {"x": {"type": "string"}}},
    {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
    {"type": "object", "properties": {"x": {"type": "strnig"}}},  # not a JSON Schema type
    {"type": "object", "properties": {"x": {"type": "string", "pattern": "("}}},  # a broken regex
]
IMPLS = [
    None,
    "{m}:good",
    "{m}:slow_ok",
    "{m}:explodes",
    "{m}:takes_nothing",  # cannot take the parameters: --import-tools refuses it (unless there are none)
    "{m}:CONSTANT",  # not callable
    "{m}:missing",
    "nosuchmodule_{m}:good",
]
ARGUMENTS = [{}, {"x": "a"}, {"x": 3}, {"reason": "r", "k": "claimed"}]


@st.composite
def flows(draw: st.DrawFn) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    n = draw(st.integers(2, 4))
    agents = [f"a{i}" for i in range(n)]
    recovery = agents[-1]
    tools = {
        f"t{i}": {
            "parameters": draw(st.sampled_from(PARAMETERS)),
            "sets": draw(st.sampled_from([[], ["k"]])),
            **({"impl": impl} if (impl := draw(st.sampled_from(IMPLS))) else {}),
        }
        for i in range(draw(st.integers(0, 3)))
    }
    table: dict[str, Any] = {}
    for name in agents:
        own = draw(st.lists(st.sampled_from(sorted(tools)), unique=True)) if tools else []
        agent: dict[str, Any] = {
            "tools": own,
            "handoffs": draw(st.lists(st.sampled_from([a for a in agents if a != name]), unique=True)),
            "max_visits": draw(st.integers(1, 3)),
        }
        if any("k" in tools[t]["sets"] for t in own):
            agent["produces"] = ["k"]
        if name != agents[0] and draw(st.booleans()):
            agent["requires"] = ["k"]
        if name == recovery or not agent["handoffs"] or draw(st.booleans()):
            agent["terminal"] = True
        table[name] = agent
    flow = {
        "flow": {"name": "parity", "entry": agents[0], "recovery": recovery, "max_handoff_depth": 4},
        "agents": table,
        "tools": tools,
    }
    names = [*tools, *(f"transfer_to_{a}" for a in agents), "ghost_tool"]
    calls = draw(
        st.lists(st.tuples(st.sampled_from(names), st.sampled_from(ARGUMENTS)), min_size=1, max_size=4)
    )
    return flow, calls


def script_for(calls: list[tuple[str, dict[str, Any]]]) -> str:
    lines = []
    for i, (name, arguments) in enumerate(calls):
        lines += ["[[turn]]", f'user = "t{i}"', ""]
        lines += ["[[rule]]", f'user = "^t{i}$"', f'call = "{name}"', f"arguments = {_inline(arguments)}", ""]
    lines += ["[[rule]]", 'say = "ok"']
    return "\n".join(lines)


def _inline(arguments: dict[str, Any]) -> str:
    return "{ " + ", ".join(f"{key} = {json.dumps(value)}" for key, value in arguments.items()) + " }"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=flows())
def test_a_random_flow_fails_lint_or_runs_a_random_conversation(
    case: tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]],
) -> None:
    flow, calls = case
    module = f"parity_{uuid.uuid4().hex[:12]}"
    for tool in flow["tools"].values():
        if "impl" in tool:
            tool["impl"] = tool["impl"].replace("{m}", module)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / f"{module}.py").write_text(MODULE, encoding="utf-8")
        path = root / "flow.json"
        path.write_text(json.dumps(flow), encoding="utf-8")
        lint_code = main(["lint", "--import-tools", "--format", "json", str(path)])
        try:
            compiled = prepare(path, import_tools=True)
        except FlowError:
            assert lint_code != EXIT_OK  # run refuses it, so lint refused it first
            event("refused by lint")
            return
        finally:
            sys.modules.pop(module, None)
        assert lint_code == EXIT_OK  # lint passed it: it must run
        script = Script.parse(script_for(calls), "parity")
        options = RunOptions(turn_timeout=10)
        session = asyncio.run(
            run_conversation(compiled, script, MemorySink(), options, on_action=lambda _: None)
        )
        sys.modules.pop(module, None)
        assert session.agent in flow["agents"]
        event("ran")
