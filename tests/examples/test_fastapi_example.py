"""Embedding: the FastAPI example under uvicorn, and a plain ``websockets`` server of the application's own,
each serving the relay next to their own routes; the real ``openai`` SDK talks through them."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import openai
import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import InvalidStatus

from engine.emulator.script import Script
from engine.emulator.server import Emulator
from engine.runtime.relay import CONVERSATION_HEADER, Relay
from engine.session import MemorySink
from examples.fastapi_app import create_app
from tests.realtime_schema import run
from tests.runtime.relay_helpers import FLOW, ask, desk
from tests.runtime.test_relay_resume import RESUME_SCRIPT

TOKEN = "k" * 40
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def user(text: str) -> Any:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def sdk_turns(base_url: str, texts: list[str]) -> tuple[list[str], list[Any]]:
    """The openai SDK says each text in turn; the answers and any error events."""
    client = openai.AsyncOpenAI(api_key=TOKEN, websocket_base_url=base_url)
    answers: list[str] = []
    errors: list[Any] = []
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        for text in texts:
            await conn.conversation.item.create(item=user(text))
            await conn.response.create()
            async for event in conn:
                if event.type == "error":
                    errors.append(event.error)
                elif event.type == "response.output_text.done":
                    answers.append(event.text)
                elif event.type == "response.done" and len(answers) == texts.index(text) + 1:
                    break
    return answers, errors


@asynccontextmanager
async def under_uvicorn(app: Any) -> AsyncIterator[str]:
    """``app`` served by a real uvicorn on a free port; yields ``ws://127.0.0.1:PORT/v1``."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        await serving


def test_the_fastapi_example_serves_the_relay_under_uvicorn(tmp_path: Path) -> None:
    flow = tmp_path / "desk.toml"
    flow.write_text(FLOW)

    async def main() -> tuple[list[str], list[Any], int, str]:
        async with Emulator(Script.parse(RESUME_SCRIPT, "s")) as emulator:
            app = create_app(str(flow), emulator.url, TOKEN, f"sqlite:{tmp_path / 'c.db'}")
            async with under_uvicorn(app) as base:
                answers, errors = await sdk_turns(base, ["bill please", "again"])
                with pytest.raises(InvalidStatus) as refused:
                    await connect(f"{base}/realtime")  # no credential
                async with connect(f"{base}/realtime", additional_headers=AUTH) as ws:
                    header = ws.response.headers[CONVERSATION_HEADER] if ws.response else ""
            return answers, errors, refused.value.response.status_code, header

    answers, errors, status, header = run(main(), timeout=60)
    assert answers == ["Billing here.", "Still billing."]
    assert errors == []
    assert status == 401
    assert header.startswith("conv_")


def test_an_oversized_frame_through_asgi_closes_only_that_client(tmp_path: Path) -> None:
    """The relay's frame limit holds behind an ASGI server too (uvicorn's own is 16 MiB)."""
    flow = tmp_path / "desk.toml"
    flow.write_text(FLOW)

    async def main() -> tuple[int | None, str]:
        async with Emulator(Script.parse(RESUME_SCRIPT, "s")) as emulator:
            async with under_uvicorn(create_app(str(flow), emulator.url, TOKEN)) as base:
                async with connect(f"{base}/realtime", additional_headers=AUTH, max_size=None) as big:
                    await big.send("x" * (2 * 1024 * 1024))
                    await big.wait_closed()
                async with connect(f"{base}/realtime", additional_headers=AUTH) as honest:
                    return big.close_code, await ask(honest, "bill please")

    assert run(main(), timeout=60) == (1009, "Billing here.")


def test_a_plain_websockets_server_serves_the_relay_with_its_hooks() -> None:
    """Another application's ``websockets.serve`` with the relay's handler and admission hooks."""

    async def main() -> tuple[str, int]:
        async with Emulator(Script.parse(RESUME_SCRIPT, "s")) as emulator:
            relay = Relay(desk(), emulator.url, audit=MemorySink())  # not entered: no server of its own
            async with serve(
                relay.handle,
                "127.0.0.1",
                0,
                process_request=relay.process_request,
                process_response=relay.process_response,
            ) as server:
                port = server.sockets[0].getsockname()[1]
                async with connect(f"ws://127.0.0.1:{port}/v1/realtime") as ws:
                    answer = await ask(ws, "bill please")
                with pytest.raises(InvalidStatus) as off_path:
                    await connect(f"ws://127.0.0.1:{port}/elsewhere")
                await relay.shutdown(drain_s=1.0)
                return answer, off_path.value.response.status_code

    assert run(main()) == ("Billing here.", 404)
