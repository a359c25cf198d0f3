"""What ``switchboard`` imports: start-up is part of every command's time (``tools/bench_lint.py`` measures it).

Each case runs in a fresh interpreter, so that the modules it reports are the command's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY_FOR_LINT = ["networkx", "openai", "websockets", "graphviz", "engine.render", "engine.runtime.client"]
"""Imports a lint of a clean flow does without (networkx alone was a third of it, openai twice the rest)."""

PROBE = """
import json, sys
from engine.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def imported_by(*argv: str) -> tuple[int, set[str]]:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


def test_lint_of_a_clean_flow_leaves_the_heavy_imports_out() -> None:
    code, modules = imported_by("lint", "flows/retail.toml")
    assert code == 0
    assert {"engine.verify", "engine.compile.handoff", "statemachine"} <= modules  # it did lint and compile
    assert sorted(m for m in HEAVY_FOR_LINT if m in modules) == []


def test_an_uncommon_voice_is_looked_up_in_the_sdk() -> None:
    code, modules = imported_by("lint", "flows/broken/sb110_unknown_value.toml")
    assert code == 1 and "openai.types.realtime" in modules  # 'sagee': SB110, from the SDK's list


@pytest.mark.parametrize(("command", "module"), [("log", "engine.cli.log"), ("rule", "engine.cli.rule")])
def test_a_command_module_is_imported_only_when_it_runs(command: str, module: str) -> None:
    _, modules = imported_by("--version")
    assert module not in modules and "engine.cli.run" not in modules
    _, modules = imported_by(command, "SB301" if command == "rule" else "/nonexistent.jsonl")
    assert module in modules
