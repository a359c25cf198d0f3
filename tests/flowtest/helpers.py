"""Helpers for the flow-test tests: a script beside a shipped flow, run once, its failures."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.flowtest.case import load_case
from engine.flowtest.check import Failure
from engine.flowtest.runner import CaseResult, run_case

FLOWS = Path(__file__).resolve().parents[2] / "flows"


def shipped_script(name: str, flow: str) -> str:
    """The text of ``flows/scripts/NAME.toml`` naming ``flow`` by its absolute path (so it runs from tmp)."""
    text = (FLOWS / "scripts" / f"{name}.toml").read_text(encoding="utf-8")
    return text.replace(f'flow = "../{flow}.toml"', f'flow = "{(FLOWS / f"{flow}.toml").as_posix()}"', 1)


def run_text(tmp_path: Path, text: str, name: str = "case.toml") -> CaseResult:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return asyncio.run(run_case(load_case(path)))


def line_of(failure: Failure) -> int:
    return failure.location.line
