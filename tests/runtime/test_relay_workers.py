"""`serve --workers 2`: two processes share the port; conversations spread over both, SIGTERM drains both,
and the shared audit file has every record, whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from engine.runtime.audit_file import read_jsonl
from engine.session.audit import AuditRecord
from tests.realtime_schema import run
from tests.runtime.relay_helpers import FLOW, SCRIPT, ask, start_serve

ROOT = Path(__file__).resolve().parents[2]
CONVERSATIONS = 24


def test_two_workers_share_the_port_the_load_and_the_audit_file(tmp_path: Path) -> None:
    proc, url, audit = start_serve(tmp_path, FLOW, SCRIPT, "--workers", "2")
    try:
        assert proc.stdout is not None

        async def main() -> list[str]:
            answers = []
            for _ in range(CONVERSATIONS):  # one connection each: the kernel picks the worker
                async with connect(url) as ws:
                    answers.append(await ask(ws, "hi"))
            return answers

        assert run(main()) == ["Hello."] * CONVERSATIONS
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        printed = proc.stdout.read().decode()
    finally:
        proc.kill()
        proc.wait()
    served = [
        int(line.split("after ")[1].split()[0]) for line in printed.splitlines() if "stopped after" in line
    ]
    assert len(served) == 2 and sum(served) == CONVERSATIONS and min(served) > 0, printed
    assert "2 workers stopped" in printed
    rows = list(read_jsonl(audit))
    assert all(isinstance(r, AuditRecord) for _, r in rows)  # no line torn or interleaved
    ends = [r for _, r in rows if isinstance(r, AuditRecord) and r.kind == "end"]
    assert len({r.conversation_id for r in ends}) == CONVERSATIONS


@pytest.mark.parametrize("workers", ["0", "1000"])
def test_a_worker_count_out_of_range_is_a_usage_error(tmp_path: Path, workers: str) -> None:
    (tmp_path / "desk.toml").write_text(FLOW, encoding="utf-8")
    command = [sys.executable, "-m", "engine.cli", "serve", str(tmp_path / "desk.toml"), "--workers", workers]
    done = subprocess.run(
        [*command, "--no-auth"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and f"--workers must be from 1 to 64, not {workers}" in done.stderr
