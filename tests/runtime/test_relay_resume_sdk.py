"""The real ``openai`` SDK, reconnecting by itself, survives a relay crash: ``serve`` killed with SIGKILL,
another ``serve`` on the same port and store; the SDK's ``on_reconnecting`` puts the conversation id in the
query, and the next turn is answered by the agent the client was talking to."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import openai
from openai.types.websocket_reconnection import ReconnectingEvent, ReconnectingOverrides

from tests.realtime_schema import run
from tests.runtime.relay_helpers import FLOW, start_serve
from tests.runtime.test_relay_resume import RESUME_SCRIPT
from tools.fault_resume import free_port


def user(text: str) -> Any:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def test_the_openai_sdk_reconnects_through_a_relay_crash_to_the_same_agent(tmp_path: Path) -> None:
    port = free_port()
    flags = ("--port", str(port), "--store", f"sqlite:{tmp_path / 'conversations.db'}")
    first, _, audit = start_serve(tmp_path, FLOW, RESUME_SCRIPT, *flags)
    servers: list[subprocess.Popen[bytes]] = [first]
    conversation: dict[str, str] = {}
    attempts: list[int] = []

    def on_reconnecting(event: ReconnectingEvent) -> ReconnectingOverrides:
        attempts.append(event.close_code)
        return {"extra_query": {"conversation_id": conversation["id"]}}

    async def main() -> list[str]:
        client = openai.AsyncOpenAI(api_key="unused", websocket_base_url=f"ws://127.0.0.1:{port}/v1")
        said: list[str] = []
        async with client.realtime.connect(model="gpt-realtime", on_reconnecting=on_reconnecting) as conn:
            await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            await conn.conversation.item.create(item=user("bill please"))
            await conn.response.create()
            crashed = False
            async for event in conn:
                if event.type == "session.created" and not crashed:
                    conversation["id"] = str(getattr(event.session, "id", ""))
                elif event.type == "session.created":  # the SDK reconnected, to the new relay
                    assert getattr(event.session, "id", "") == conversation["id"]
                    await conn.conversation.item.create(item=user("again"))
                    await conn.response.create()
                elif event.type == "error":
                    raise AssertionError(f"error event: {event.error}")
                elif event.type == "response.output_text.done":
                    said.append(event.text)
                elif event.type == "response.done" and said == ["Billing here."] and not crashed:
                    crashed = True
                    first.send_signal(signal.SIGKILL)  # a crash: no drain, no close frame
                    first.wait()
                    servers.append(start_serve(tmp_path, FLOW, RESUME_SCRIPT, *flags)[0])
                elif event.type == "response.done" and crashed:
                    return said
        return said

    try:
        said = run(main(), timeout=60)
    finally:
        for server in servers:
            server.kill()
            server.wait()
            for stream in (server.stdout, server.stderr):
                if stream is not None:
                    stream.close()
    assert conversation["id"].startswith("conv_")
    assert said == ["Billing here.", "Still billing."]
    assert attempts and attempts[0] == 1006
    resumed = [line for line in audit.read_text().splitlines() if '"kind": "resume"' in line]
    assert len(resumed) == 1 and conversation["id"] in resumed[0]
