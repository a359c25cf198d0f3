"""Graceful shutdown of a real ``switchboard serve`` process: SIGTERM and SIGINT drain, tell, close 1001."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from engine.runtime.audit_file import read_jsonl
from engine.session.audit import AuditRecord
from tests.realtime_schema import run
from tests.runtime.relay_helpers import FLOW, SCRIPT, ask, next_event, say_event, start_serve

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_drains_every_conversation_and_writes_every_end_record(
    tmp_path: Path, signum: signal.Signals
) -> None:
    transcript = signum == signal.SIGINT  # one run shows the opt-in transcript too
    flags = ["--drain-s", "5", *(["--transcript"] if transcript else [])]
    proc, url, audit = start_serve(tmp_path, FLOW, SCRIPT, *flags)
    try:

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


SLOW_FLOW = """
[flow]
name = "slow"
entry = "front"
recovery = "help"

[agents.front]
instructions = "You are the front desk."
tools = ["slow_lookup"]
handoffs = ["help"]
terminal = true

[agents.help]
terminal = true

[tools.slow_lookup]
impl = "slowtools:slow_lookup"
"""

SLOW_TOOLS = '''
import os
import signal
import time


def slow_lookup() -> dict[str, str]:
    """SIGTERM its own server mid-call, then take a while: the response is in flight when the drain starts."""
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.5)
    return {"answer": "found it"}
'''

SLOW_SCRIPT = """
[[rule]]
user = "look"
call = "slow_lookup"
[[rule]]
after = "slow_lookup"
say = "Here it is: {output.answer}."
[[rule]]
say = "Hello."
"""


def test_a_response_in_flight_at_sigterm_finishes_before_the_close(tmp_path: Path) -> None:
    (tmp_path / "slowtools.py").write_text(SLOW_TOOLS, encoding="utf-8")
    proc, url, audit = start_serve(tmp_path, SLOW_FLOW, SLOW_SCRIPT, "--drain-s", "5")
    try:

        async def main() -> tuple[list[dict[str, Any]], int | None]:
            async with connect(url) as ws:  # the tool SIGTERMs the server while it runs
                await ws.send(json.dumps(say_event("please look it up")))
                await ws.send(json.dumps({"type": "response.create"}))
                events = [json.loads(frame) async for frame in ws]
                return events, ws.close_code

        events, close = run(main())
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
        proc.wait()
    # the client is told at once, and the response under way still finishes before the close
    kinds = [e["type"] for e in events]
    notices = [e["error"]["code"] for e in events if e["type"] == "error"]
    texts = [e["text"] for e in events if e["type"] == "response.output_text.done"]
    assert notices == ["server_shutting_down"] and close == 1001
    assert texts == ["Here it is: found it."] and kinds[-1] == "response.done"
    records = [r for _, r in read_jsonl(audit) if isinstance(r, AuditRecord)]
    (tool,) = [r for r in records if r.kind == "tool"]
    assert tool.outcome == "ok"
    (end,) = [r for r in records if r.kind == "end"]
    assert end.detail["user_turns"] == 1
