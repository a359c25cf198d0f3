"""Helpers for the relay's hostile-client tests: an honest conversation, descriptor counts, raw frames."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from engine.compile.pipeline import CompiledFlow, compile_document
from engine.flow.loader import parse_flow
from engine.runtime.relay import CONVERSATION_HEADER

ROOT = Path(__file__).resolve().parents[2]

FLOW = """
[flow]
name = "desk"
entry = "front"
recovery = "help"

[agents.front]
instructions = "You are the front desk."
tools = ["lookup"]
handoffs = ["billing"]

[agents.billing]
instructions = "You are billing."
terminal = true

[agents.help]
terminal = true

[tools.lookup]
parameters = { type = "object", properties = { q = { type = "string" } }, required = ["q"] }
impl = "tests.runtime.relay_helpers:lookup"
"""

SCRIPT = """
[[rule]]
agent = "front"
user = "bill"
call = "transfer_to_billing"
arguments = { reason = "billing" }
[[rule]]
agent = "billing"
after = "transfer_to_billing"
say = "Billing here."
[[rule]]
say = "Hello."
"""


RESUME_SCRIPT = SCRIPT.replace(
    '[[rule]]\nsay = "Hello."',
    '[[rule]]\nagent = "billing"\nuser = "again"\nsay = "Still billing."\n[[rule]]\nsay = "Hello."',
)
"""``SCRIPT`` and billing's answer to "again" (a resumed conversation's)."""


def lookup(q: str) -> dict[str, str]:
    return {"answer": q}


def desk() -> CompiledFlow:
    return compile_document(parse_flow(FLOW, "desk.toml"))


def open_fds() -> int:
    """Descriptors this process holds now."""
    return len(os.listdir("/proc/self/fd"))


def user_item(content: Any) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": content},
    }


def say_event(text: str) -> dict[str, Any]:
    return user_item([{"type": "input_text", "text": text}])


async def next_event(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next event of type ``kind`` (``AssertionError`` if the connection closes first)."""
    async for frame in ws:
        event: dict[str, Any] = json.loads(frame)
        if event["type"] == kind:
            return event
    raise AssertionError(f"connection closed before {kind} ({ws.close_code} {ws.close_reason})")


async def ask(ws: ClientConnection, text: str) -> str:
    """Say ``text`` on an open connection and return the answer's text."""
    await ws.send(json.dumps(say_event(text)))
    await ws.send(json.dumps({"type": "response.create"}))
    done = await next_event(ws, "response.output_text.done")
    return str(done["text"])


async def honest(url: str, text: str = "hello") -> str:
    """A whole honest conversation: connect, ask once, hang up; the answer's text."""
    async with connect(url) as ws:
        return await ask(ws, text)


def start_serve(
    folder: Path, flow: str, script: str, *flags: str
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """A real ``switchboard serve`` of ``flow`` (text) in ``folder`` on a free port, the embedded emulator
    answering with ``script``, auditing to ``folder/audit.jsonl``; the process, the URL it printed, the
    audit file. The caller stops (and reaps) it."""
    (folder / "flow.toml").write_text(flow, encoding="utf-8")
    (folder / "script.toml").write_text(script, encoding="utf-8")
    audit = folder / "audit.jsonl"
    command = [sys.executable, "-m", "engine.cli", "serve", str(folder / "flow.toml"), "--port", "0"]
    command += ["--script", str(folder / "script.toml"), "--audit", str(audit), "--no-auth", *flags]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    for line in proc.stdout:
        text = line.decode()
        if text.startswith("clients connect to "):
            return proc, text.split()[3], audit
    proc.kill()
    raise AssertionError(
        f"serve exited before listening: {proc.wait()} {proc.stderr and proc.stderr.read()!r}"
    )


async def to_billing(ws: ClientConnection) -> str:
    """Talk until billing answers; the conversation id the relay gave (its header, and the session's id)."""
    conversation_id = ws.response.headers[CONVERSATION_HEADER] if ws.response is not None else ""
    created = await next_event(ws, "session.created")
    assert created["session"]["id"] == conversation_id
    assert await ask(ws, "bill please") == "Billing here."
    return conversation_id
