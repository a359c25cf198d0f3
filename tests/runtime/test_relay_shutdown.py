"""Graceful shutdown of a real ``switchboard serve`` process: SIGTERM and SIGINT drain, tell, close 1001."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from engine.runtime.audit_file import read_jsonl
from engine.session.audit import AuditRecord
from tests.realtime_schema import run
from tests.runtime.relay_helpers import FLOW, SCRIPT, ask, next_event

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_drains_every_conversation_and_writes_every_end_record(
    tmp_path: Path, signum: signal.Signals
) -> None:
    (tmp_path / "desk.toml").write_text(FLOW, encoding="utf-8")
    (tmp_path / "script.toml").write_text(SCRIPT, encoding="utf-8")
    audit = tmp_path / "audit.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "engine.cli", "serve", str(tmp_path / "desk.toml"), "--port", "0"]
    command += [
        "--script",
        str(tmp_path / "script.toml"),
        "--audit",
        str(audit),
        "--drain-s",
        "5",
        "--no-auth",
    ]
    transcript = signum == signal.SIGINT  # one run shows the opt-in transcript too
    command += ["--transcript"] if transcript else []
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = _url(proc)

        async def main() -> list[tuple[dict[str, Any], int | None, str | None]]:
            clients = [await connect(url) for _ in range(4)]
            for ws in clients:
                assert await ask(ws, "hi") == "Hello."
            proc.send_signal(signum)
            seen = []
            for ws in clients:
                notice = await next_event(ws, "error")
                await ws.wait_closed()
                seen.append((notice, ws.close_code, ws.close_reason))
            return seen

        seen = run(main())
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
        proc.wait()
    assert [(n["error"]["code"], code) for n, code, _ in seen] == [("server_shutting_down", 1001)] * 4
    records = [r for _, r in read_jsonl(audit) if isinstance(r, AuditRecord)]
    ends = [r for r in records if r.kind == "end"]
    assert len(ends) == 4 and len({r.conversation_id for r in ends}) == 4
    assert all(r.flow == "desk" and r.detail["user_turns"] == 1 for r in ends)
    assert proc.stderr is not None and b"Traceback" not in proc.stderr.read()
    assert proc.stdout is not None
    printed = proc.stdout.read().decode()
    assert printed.count("Hello.") == (4 if transcript else 0)
    assert "stopped after 4 conversation(s)" in printed


def _url(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stdout is not None
    for line in proc.stdout:
        text = line.decode()
        if text.startswith("clients connect to "):
            return text.split()[-1]
    raise AssertionError(
        f"serve exited before listening: {proc.wait()} {proc.stderr and proc.stderr.read()!r}"
    )
