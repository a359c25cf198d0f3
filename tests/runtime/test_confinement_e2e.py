"""A flow naming `/proc/self/environ` is refused at start-up, so the environment never reaches a relay client:
the relay shows a client the instructions it sends upstream (the control), and `serve`/`run` refuse the flow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from engine.cli import EXIT_FINDINGS, main
from engine.compile.pipeline import CompiledFlow, compile_document
from engine.emulator.script import Script
from engine.emulator.server import Emulator
from engine.flow.diagnostics import FlowError
from engine.flow.loader import load_flow
from engine.runtime.prepare import prepare, startup_problems
from engine.runtime.relay import Relay
from engine.runtime.tools import ToolRegistry
from engine.session import MemorySink
from engine.supervisor.backend import SupervisorConfigError
from engine.supervisor.factory import make_supervisor
from tests.realtime_schema import run

REPO = Path(__file__).resolve().parents[2]
SECRET = "sb005-secret-7f3a9c"

FLOW = """\
[flow]
name = "desk"
entry = "front"
recovery = "help"

[agents.front]
instructions_file = "{ref}"
handoffs = ["help"]

[agents.help]
terminal = true
"""


def flow_naming(folder: Path, ref: str) -> Path:
    (folder / "prompts").mkdir(exist_ok=True)
    (folder / "prompts" / "front.md").write_text(f"You are the front desk ({SECRET}).\n", encoding="utf-8")
    path = folder / "desk.toml"
    path.write_text(FLOW.format(ref=ref), encoding="utf-8")
    return path


def session_updated(compiled: CompiledFlow) -> dict[str, Any]:
    """The first ``session.updated`` a raw websocket client of the relay receives."""

    async def main() -> dict[str, Any]:
        async with Emulator(Script.parse('[[rule]]\nsay = "Hello."\n', "e2e")) as emulator:
            async with Relay(compiled, emulator.url, audit=MemorySink()) as relay:
                async with connect(relay.url) as ws:
                    async for frame in ws:
                        event: dict[str, Any] = json.loads(frame)
                        if event["type"] == "session.updated":
                            return event
        raise AssertionError("no session.updated")

    return run(main())


def test_control_a_prompt_inside_the_folder_reaches_the_client(tmp_path: Path) -> None:
    compiled = prepare(flow_naming(tmp_path, "prompts/front.md"), import_tools=False)
    assert SECRET in session_updated(compiled)["session"]["instructions"]


@pytest.mark.parametrize("ref", ["/proc/self/environ", "env.md", "../../../../../../proc/self/environ"])
def test_proc_self_environ_is_refused_before_a_relay_exists(tmp_path: Path, ref: str) -> None:
    (tmp_path / "env.md").symlink_to("/proc/self/environ")
    with pytest.raises(FlowError) as info:
        prepare(flow_naming(tmp_path, ref), import_tools=False)
    assert [d.code for d in info.value.diagnostics] == ["SB005"]
    assert os.environ["PATH"] not in str(info.value)


def test_serve_refuses_the_flow_and_prints_no_environment(tmp_path: Path) -> None:
    """A real process whose environment holds a secret: it exits 1 at once (a relay that started would
    never exit: the timeout fails the test) and nothing it prints holds the secret."""
    path = flow_naming(tmp_path, "/proc/self/environ")
    (tmp_path / "prompts" / "front.md").unlink()  # the secret is now only in the environment
    argv = [sys.executable, "-m", "engine.cli", "serve", str(path), "--port", "0"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "SWITCHBOARD_TEST_SECRET": SECRET}
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_FINDINGS, done.stderr
    assert "error[SB005]" in done.stderr and "nothing was run" in done.stderr
    assert SECRET not in done.stdout + done.stderr


def test_run_refuses_the_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "script.toml"
    script.write_text('[[rule]]\nsay = "Hello."\n[[turn]]\nuser = "hi"\n', encoding="utf-8")
    path = flow_naming(tmp_path, "/proc/self/environ")
    assert main(["run", str(path), "--script", str(script)]) == EXIT_FINDINGS
    captured = capsys.readouterr()
    assert "error[SB005]" in captured.err and "Hello." not in captured.out


def test_the_rules_file_is_confined_again_when_the_supervisor_is_built(tmp_path: Path) -> None:
    """Swapped for a symlink out after the flow was loaded: start-up refuses it too (SB402, noting SB005)."""
    rules = '[[rule]]\nmatch = "x"\nanswer = "y"\n'
    (tmp_path / "rules.toml").write_text(rules, encoding="utf-8")
    (tmp_path / "outside.toml").write_text(rules, encoding="utf-8")
    folder = tmp_path / "flow"
    folder.mkdir()
    (folder / "rules.toml").write_text(rules, encoding="utf-8")
    path = flow_naming(folder, "prompts/front.md")
    path.write_text(path.read_text() + '\n[supervisor]\nscript = "rules.toml"\n', encoding="utf-8")
    doc = load_flow(path)
    (folder / "rules.toml").unlink()
    (folder / "rules.toml").symlink_to(tmp_path / "outside.toml")
    with pytest.raises(SupervisorConfigError) as info:
        make_supervisor(doc, ToolRegistry.from_flow(doc))
    assert [d.code for d in info.value.diagnostics] == ["SB005"]
    problems = startup_problems(compile_document(doc), import_tools=False)
    assert [(d.code, [r.message for r in d.related]) for d in problems] == [
        ("SB402", ["cannot read supervisor script: outside the flow's folder (through a symlink)"])
    ]
