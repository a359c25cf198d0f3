"""RealtimeClient against the emulator and against real failure modes, over real loopback sockets."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request

from engine.emulator.script import Script
from engine.emulator.server import Emulator, Faults
from engine.runtime.client import (
    RealtimeClient,
    UpstreamClosed,
    UpstreamDropped,
    UpstreamError,
    UpstreamRefused,
)
from engine.wire.protocol import Event, ProtocolError
from tests.realtime_schema import (
    run,
    text_session,
    user_message,
    validate_client_event,
    validate_server_event,
)

SCRIPT = Script.parse(
    """
[[rule]]
user = "(?i)balance"
say = "Checking your balance."
call = "get_balance"
arguments = { account = "checking" }
"""
)


async def send(client: RealtimeClient, event: dict[str, Any]) -> None:
    validate_client_event(event)
    await client.send(event)


async def until(client: RealtimeClient, kind: str) -> list[Event | ProtocolError]:
    seen: list[Event | ProtocolError] = []
    async for event in client:
        seen.append(event)
        if isinstance(event, dict):
            validate_server_event(event)
            if event["type"] == kind:
                return seen
    raise AssertionError(f"connection ended before {kind}")


def test_a_scripted_turn_through_the_client() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT) as emu, RealtimeClient.connect(emu.url, api_key="") as client:
            assert client.url == emu.url and not client.closed
            created = await client.recv()
            assert created["type"] == "session.created"
            await send(client, text_session())
            await send(client, user_message("What's my balance?"))
            await send(client, {"type": "response.create"})
            events = await until(client, "response.done")
            done = events[-1]
            assert isinstance(done, dict)
            call = done["response"]["output"][1]
            assert (call["name"], call["arguments"]) == ("get_balance", '{"account":"checking"}')
        assert client.closed

    run(main())


def test_nothing_listening_is_refused() -> None:
    async def main() -> None:
        with socket.socket() as sock:  # bound but not listening: connections are refused
            sock.bind(("127.0.0.1", 0))
            url = f"ws://127.0.0.1:{sock.getsockname()[1]}/v1/realtime"
            with pytest.raises(UpstreamRefused) as info:
                await RealtimeClient.open(url)
        assert info.value.status is None and info.value.url == url
        assert url in str(info.value) and "refused" in str(info.value)

    run(main())


def test_http_rejection_is_refused_with_its_status() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT) as emu:
            url = emu.url.replace("/v1/realtime", "/v1/elsewhere")
            with pytest.raises(UpstreamRefused) as info:
                async with RealtimeClient.connect(url, api_key="k"):
                    pass
        assert info.value.status == 404
        assert str(info.value).startswith(f"upstream {url} refused the connection: HTTP 404 Not Found")
        assert "/v1/realtime" in info.value.reason  # the body says where to go

    run(main())


def test_abrupt_drop_mid_response_raises_upstream_dropped() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT, faults=Faults(drop_in_response=1, drop_after_events=4)) as emu:
            async with RealtimeClient.connect(emu.url) as client:
                await send(client, user_message("balance"))
                await send(client, {"type": "response.create"})
                seen: list[str] = []
                with pytest.raises(UpstreamDropped) as info:
                    async for event in client:
                        assert isinstance(event, dict)
                        seen.append(event["type"])
                assert seen[-4:] == [
                    "response.created",
                    "response.output_item.added",
                    "conversation.item.added",
                    "response.content_part.added",
                ]
                assert info.value.code is None and "no close frame" in str(info.value)
                with pytest.raises(UpstreamDropped):
                    await client.send({"type": "response.create"})

    run(main())


def test_malformed_frames_are_yielded_as_protocol_errors_and_the_stream_goes_on() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT, faults=Faults(malformed_after=1, malformed="no_type")) as emu:
            async with RealtimeClient.connect(emu.url) as client:
                await send(client, user_message("balance"))
                await send(client, {"type": "response.create"})
                await until(client, "response.done")
                await send(client, {"type": "input_audio_buffer.clear"})
                events = await until(client, "input_audio_buffer.cleared")
                bad = events[0]
                assert isinstance(bad, ProtocolError) and bad.field == "type" and bad.event_id == "event_bad"
                assert len(events) == 2

    run(main())


def test_recv_raises_protocol_error_and_continues() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT, faults=Faults(malformed_after=1, malformed="json")) as emu:
            async with RealtimeClient.connect(emu.url) as client:
                await send(client, user_message("balance"))
                await send(client, {"type": "response.create"})
                await until(client, "response.done")
                with pytest.raises(ProtocolError, match="malformed JSON"):
                    await client.recv()
                await send(client, {"type": "input_audio_buffer.clear"})
                assert (await client.recv())["type"] == "input_audio_buffer.cleared"

    run(main())


def test_a_normal_close_ends_iteration() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT) as emu:
            client = await RealtimeClient.open(emu.url)
            assert (await client.recv())["type"] == "session.created"
        # the emulator shut down (close code 1001, going away): iteration just ends
        assert [e async for e in client] == []
        with pytest.raises(UpstreamClosed):
            await client.recv()
        with pytest.raises(UpstreamClosed):
            await client.send({"type": "response.create"})
        await client.close()
        await client.close()

    run(main())


def test_missing_key_for_openai_fails_before_any_network_io(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UpstreamError, match="OPENAI_API_KEY is not set") as info:
        run(RealtimeClient.open())
    assert type(info.value) is UpstreamError
    with pytest.raises(UpstreamError, match="OPENAI_API_KEY is not set"):
        run(RealtimeClient.open("wss://api.openai.com/v1/realtime?model=gpt-realtime", api_key=""))


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/v1/realtime", "not a url", "ws://[::1/x"])
def test_invalid_urls_are_upstream_errors(url: str) -> None:
    with pytest.raises(UpstreamError, match="invalid upstream URL"):
        run(RealtimeClient.open(url, api_key=""))


def test_authorization_header_from_key_env_or_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []

    def record(connection: ServerConnection, request: Request) -> None:
        seen.append(request.headers.get("Authorization"))

    async def handler(ws: ServerConnection) -> None:
        await ws.close()

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, process_request=record) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/realtime"
            monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
            for kwargs in (
                {},
                {"api_key": "sk-arg"},
                {"api_key": ""},
                {"api_key": "sk-arg", "headers": {"authorization": "Bearer custom"}},
            ):
                async with RealtimeClient.connect(url, **kwargs) as client:
                    assert [e async for e in client] == []

    run(main())
    assert seen == ["Bearer sk-env", "Bearer sk-arg", None, "Bearer custom"]


def test_server_error_close_code_is_a_drop() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send('{"type": "session.created"}')
        await ws.close(1011, "internal error")

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
            async with RealtimeClient.connect(url) as client:
                with pytest.raises(UpstreamDropped) as info:
                    async for event in client:
                        assert event == {"type": "session.created"}
                assert (info.value.code, info.value.reason) == (1011, "internal error")

    run(main())


@pytest.mark.parametrize("url", ["ws://10.0.0.5:8765/v1/realtime", "ws://relay.example/v1/realtime"])
def test_the_api_key_never_goes_over_plain_ws_to_another_host(url: str) -> None:
    async def main() -> None:
        async with RealtimeClient.connect(url, api_key="sk-secret"):
            pass

    with pytest.raises(UpstreamError, match="plain ws://") as info:
        run(main())
    assert "sk-secret" not in str(info.value)
