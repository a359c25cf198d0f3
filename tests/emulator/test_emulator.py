"""The emulator over real loopback sockets; every event sent and received is checked against the schema."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from engine.cli.run import serve_emulator
from engine.emulator.script import Script, ScriptError
from engine.emulator.server import Emulator, Faults
from engine.wire.protocol import ProtocolError
from tests.realtime_schema import (
    Wire,
    count,
    function_output,
    run,
    text_session,
    user_message,
    validate_server_event,
)

SCRIPT = Script.parse(
    """
[[rule]]
user = "(?i)hello"
say = "Hi there, how can I help you today?"

[[rule]]
agent = "authentication"
user = "(?i)return"
say = "Let me verify you first."
call = "authenticate_user_information"
arguments = { phone_number = "206 135 1246", last_4_digits = "1234" }

[[rule]]
after = "authenticate_user_information"
output = "(?i)error"
say = "Sorry, that did not work."

[[rule]]
after = "authenticate_user_information"
calls = [{ name = "transfer_to_returns", arguments = { reason = "return" } }, { name = "noop" }]

[[rule]]
user = "(?i)many"
calls = [
  { name = "f" }, { name = "f" }, { name = "f" }, { name = "f" }, { name = "f" },
  { name = "f" }, { name = "f" }, { name = "f" }, { name = "f" }, { name = "f" },
]
""",
    "test.toml",
)

AUTH = "# agent: authentication\nYou verify callers."
TEXT_TURN = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "conversation.item.done",
]
CALL_TURN = [
    "response.output_item.added",
    "conversation.item.added",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_item.done",
    "conversation.item.done",
]


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def shape(events: list[dict[str, Any]]) -> list[str]:
    """Event types with each run of deltas collapsed to one entry."""
    out: list[str] = []
    for kind in types(events):
        if not (out and out[-1] == kind and kind.endswith(".delta")):
            out.append(kind)
    return out


async def turn(wire: Wire, text: str) -> list[dict[str, Any]]:
    await wire.send(user_message(text))
    await wire.until("conversation.item.done")
    await wire.send({"type": "response.create"})
    return await wire.until("response.done")


def test_session_created_is_a_full_realtime_session() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT) as emu, connect(emu.url + "?model=gpt-realtime-mini") as ws:
            event = json.loads(await ws.recv())
            validate_server_event(event)
            session = event["session"]
            assert event["type"] == "session.created"
            assert session["type"] == "realtime" and session["object"] == "realtime.session"
            assert session["id"].startswith("sess_") and session["model"] == "gpt-realtime-mini"
            assert session["output_modalities"] == ["audio"] and session["tool_choice"] == "auto"
            assert session["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}

    run(main())


def test_text_turn_streams_the_scripted_text() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT) as emu:
            wire = await Wire.open(emu.url)
            await wire.send(text_session())
            assert (await wire.recv())["session"]["output_modalities"] == ["text"]
            await wire.send(user_message("Hello!"))
            added, done = await wire.until("conversation.item.done")
            assert types([added, done]) == ["conversation.item.added", "conversation.item.done"]
            assert added["previous_item_id"] is None and added["item"]["id"] == done["item"]["id"]
            await wire.send({"type": "response.create"})
            events = await wire.until("response.done")
            assert shape(events) == [*TEXT_TURN, "response.done"]
            assert count(events, "response.output_text.delta") == 4
            text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
            assert text == "Hi there, how can I help you today?"
            assert events[-3]["item"]["content"] == [{"type": "output_text", "text": text}]
            # the assistant item is chained after the user item
            assert events[2]["previous_item_id"] == added["item"]["id"]
            response = events[-1]["response"]
            assert response["status"] == "completed" and response["id"] == events[0]["response"]["id"]
            assert response["output"][0]["content"][0]["text"] == text
            assert response["usage"]["output_tokens"] == 8
            await wire.close()

    run(main())


def test_function_call_turn_then_output_rules() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT) as emu:
            wire = await Wire.open(emu.url)
            tool = {"type": "function", "name": "authenticate_user_information", "parameters": {}}
            await wire.send(text_session(instructions=AUTH, tools=[tool]))
            await wire.recv()
            events = await turn(wire, "I want to return my snowboard")
            assert shape(events) == [*TEXT_TURN, *CALL_TURN, "response.done"]
            assert count(events, "response.function_call_arguments.delta") == 2
            done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
            assert done["name"] == "authenticate_user_information"
            assert json.loads(done["arguments"]) == {"phone_number": "206 135 1246", "last_4_digits": "1234"}
            deltas = "".join(
                e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"
            )
            assert deltas == done["arguments"]
            call = events[-1]["response"]["output"][1]
            assert call["type"] == "function_call" and call["status"] == "completed"
            assert call["call_id"] == done["call_id"] and call["arguments"] == done["arguments"]

            # `after` + `output`: an error output gets an apology, any other output the two transfers
            await wire.send(function_output(done["call_id"], '{"error": "no such user"}'))
            await wire.until("conversation.item.done")
            await wire.send({"type": "response.create"})
            events = await wire.until("response.done")
            assert events[-1]["response"]["output"][0]["content"][0]["text"] == "Sorry, that did not work."
            await wire.send(function_output(done["call_id"], '{"user_id": "u1"}'))
            await wire.until("conversation.item.done")
            await wire.send({"type": "response.create"})
            output = (await wire.until("response.done"))[-1]["response"]["output"]
            assert [(i["name"], json.loads(i["arguments"])) for i in output] == [
                ("transfer_to_returns", {"reason": "return"}),
                ("noop", {}),
            ]

    run(main())


def test_agent_condition_uses_the_marker_line() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT) as emu:
            wire = await Wire.open(emu.url)
            await wire.send(text_session(instructions="# agent: authentication-v2\n"))
            await wire.recv()
            events = await turn(wire, "return it")
            text = events[-1]["response"]["output"][0]["content"][0]["text"]
            assert text == "(emulator) no rule matched: return it"

    run(main())


def test_audio_modality_streams_transcript_and_audio() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT) as emu:
            wire = await Wire.open(emu.url)
            events = await turn(wire, "hello")
            kinds = types(events)
            assert "response.output_text.delta" not in kinds
            assert kinds.count("response.output_audio.delta") == kinds.count(
                "response.output_audio_transcript.delta"
            )
            assert kinds.index("response.output_audio.done") < kinds.index(
                "response.output_audio_transcript.done"
            )
            audio = next(e for e in events if e["type"] == "response.output_audio.delta")
            assert set(base64.b64decode(audio["delta"])) == {0}
            transcript = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
            assert transcript["transcript"] == "Hi there, how can I help you today?"
            part = next(e for e in events if e["type"] == "response.content_part.done")["part"]
            assert part == {"type": "audio", "transcript": transcript["transcript"]}
            response = events[-1]["response"]
            assert response["output_modalities"] == ["audio"]
            assert response["output"][0]["content"] == [
                {"type": "output_audio", "transcript": transcript["transcript"]}
            ]

    run(main())


def test_second_response_create_while_active_is_an_error() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT) as emu:
            wire = await Wire.open(emu.url)
            await wire.send(user_message("hello"))
            await wire.send({"type": "response.create", "event_id": "first"})
            await wire.send({"type": "response.create", "event_id": "second"})
            events = await wire.until("response.done")
            errors = [e["error"] for e in events if e["type"] == "error"]
            assert len(errors) == 1 and count(events, "response.created") == 1
            assert errors[0]["code"] == "conversation_already_has_active_response"
            assert errors[0]["event_id"] == "second" and errors[0]["type"] == "invalid_request_error"
            assert events[-1]["response"]["status"] == "completed"
            # afterwards a new response is accepted
            await wire.send({"type": "response.create"})
            assert (await wire.until("response.done"))[-1]["response"]["status"] == "completed"

    run(main())


def test_cancel_ends_the_response_as_cancelled() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT) as emu:
            wire = await Wire.open(emu.url)
            await wire.send(text_session())
            await wire.send(user_message("many calls please"))
            await wire.send({"type": "response.create"})
            first = await wire.until("response.output_item.added")
            await wire.send({"type": "response.cancel", "response_id": first[-1]["response_id"]})
            events = await wire.until("response.done")
            response = events[-1]["response"]
            assert response["status"] == "cancelled"
            assert response["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
            assert 1 <= len(response["output"]) < 10
            # every item that was started was also finished
            everything = first + events
            assert count(everything, "response.output_item.added") == count(
                everything, "response.output_item.done"
            )
            assert response["output"][-1]["status"] in ("incomplete", "completed")
            # nothing to cancel any more
            await wire.send({"type": "response.cancel", "event_id": "late"})
            error = (await wire.recv())["error"]
            assert error["code"] == "response_cancel_not_active" and error["event_id"] == "late"

    run(main())


def test_cancel_right_after_create_gives_an_empty_cancelled_response() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT) as emu:
            wire = await Wire.open(emu.url)
            await wire.send(user_message("hello"))
            await wire.send({"type": "response.create"})
            await wire.send({"type": "response.cancel"})
            events = await wire.until("response.done")
            assert events[-1]["response"]["status"] == "cancelled"
            assert count(events, "response.output_item.added") == count(events, "response.output_item.done")

    run(main())


@pytest.mark.parametrize(
    ("frame", "code", "param"),
    [
        ("{not json", "invalid_json", None),
        ("[1, 2]", "invalid_json", None),
        (b"\xff\xfe", "invalid_json", None),
        ('{"event_id": "e1"}', "missing_required_parameter", "type"),
        ('{"type": 42}', "invalid_type", "type"),
        ('{"type": "response.create", "response": {"x": NaN}}', "invalid_json", None),
        ('{"type": "session.delete", "event_id": "e1"}', "unknown_event", "type"),
    ],
)
def test_bad_frames_get_an_error_and_the_connection_stays_usable(
    frame: str | bytes, code: str, param: str
) -> None:
    async def main() -> None:
        async with Emulator(SCRIPT) as emu:
            wire = await Wire.open(emu.url)
            await wire.send_raw(frame)
            error = (await wire.recv())["error"]
            assert (error["code"], error["param"], error["type"]) == (code, param, "invalid_request_error")
            assert error["event_id"] == ("e1" if '"e1"' in str(frame) else None)
            if code == "unknown_event":
                assert "session.delete" in error["message"]
            assert (await turn(wire, "hello"))[-1]["response"]["status"] == "completed"

    run(main())


INVALID: list[tuple[dict[str, Any], str, str | None]] = [
    (
        {"type": "session.update", "session": {"type": "realtime", "voice": "x"}},
        "unknown_parameter",
        "session.voice",
    ),
    (
        {"type": "session.update", "session": {"instructions": "x"}},
        "missing_required_parameter",
        "session.type",
    ),
    ({"type": "session.update", "session": {"type": "transcription"}}, "invalid_value", "session.type"),
    (
        {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text", "audio"]}},
        "invalid_value",
        "session.output_modalities",
    ),
    (
        {"type": "session.update", "session": {"type": "realtime", "tool_choice": "sometimes"}},
        "invalid_value",
        "session.tool_choice",
    ),
    (
        {"type": "session.update", "session": {"type": "realtime", "tools": [{"type": "function"}]}},
        "missing_required_parameter",
        "session.tools[0].name",
    ),
    (
        {"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"speed": "fast"}}}},
        "invalid_value",
        "session.audio.output.speed",
    ),
    ({"type": "session.update"}, "missing_required_parameter", "session"),
    ({"type": "session.update", "session": "realtime"}, "invalid_type", "session"),
    (
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": 1}]},
        },
        "invalid_value",
        "item.content[0].text",
    ),
    (
        {"type": "conversation.item.create", "item": {"type": "message", "role": "robot", "content": []}},
        "invalid_value",
        "item.role",
    ),
    (
        {"type": "conversation.item.create", "item": {"type": "function_call_output", "output": "x"}},
        "missing_required_parameter",
        "item.call_id",
    ),
    ({**user_message("x"), "previous_item_id": "item_missing"}, "item_not_found", "previous_item_id"),
    ({"type": "conversation.item.delete", "item_id": "item_missing"}, "item_not_found", "item_id"),
    ({"type": "conversation.item.retrieve"}, "missing_required_parameter", "item_id"),
    (
        {"type": "response.create", "response": {"output_modalities": ["video"]}},
        "invalid_value",
        "response.output_modalities[0]",
    ),
    (
        {"type": "response.create", "response": {"input": [{"type": "item_reference", "id": "item_nope"}]}},
        "item_not_found",
        "response.input[0].id",
    ),
    ({"type": "response.cancel", "response_id": 3}, "invalid_value", "response_id"),
    ({"type": "input_audio_buffer.append", "audio": "not base64!"}, "invalid_value", "audio"),
    ({"type": "input_audio_buffer.commit"}, "input_audio_buffer_commit_empty", None),
    ({"type": "output_audio_buffer.clear"}, "unsupported_event", "type"),
    ({"type": "response.create", "event_id": 7}, "invalid_type", "event_id"),
    ({"type": "response.create", "extra": 1}, "unknown_parameter", "extra"),
]


@pytest.mark.parametrize(("event", "code", "param"), INVALID, ids=[f"{e['type']}-{p}" for e, _, p in INVALID])
def test_invalid_client_events_name_the_parameter(
    event: dict[str, Any], code: str, param: str | None
) -> None:
    async def main() -> None:
        async with Emulator(SCRIPT) as emu:
            wire = await Wire.open(emu.url)
            await wire.send({"event_id": "evt_1", **event} if "event_id" not in event else event, valid=False)
            reply = await wire.recv()
            assert reply["type"] == "error", reply
            error = reply["error"]
            assert (error["code"], error["param"]) == (code, param), error
            assert error["event_id"] == ("evt_1" if "event_id" not in event else None)
            if param:
                assert param in error["message"] or code in ("item_not_found", "unsupported_event")
            assert (await turn(wire, "hello"))[-1]["response"]["status"] == "completed"

    run(main())


def test_session_update_merges() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT) as emu:
            wire = await Wire.open(emu.url)
            update = {"type": "realtime", "instructions": "x", "audio": {"output": {"voice": "sage"}}}
            await wire.send({"type": "session.update", "session": update})
            session = (await wire.recv())["session"]
            assert session["instructions"] == "x" and session["audio"]["output"]["voice"] == "sage"
            assert session["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
            await wire.send(text_session())
            session = (await wire.recv())["session"]
            assert session["instructions"] == "x" and session["output_modalities"] == ["text"]

    run(main())


def test_conversation_items_insert_retrieve_delete_truncate() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT) as emu:
            wire = await Wire.open(emu.url)
            await wire.send(user_message("one", event_id="a"))
            first = (await wire.until("conversation.item.done"))[-1]["item"]["id"]
            await wire.send(user_message("zero", previous_item_id="root"))
            added = (await wire.until("conversation.item.done"))[-1]
            assert added["previous_item_id"] is None
            system = {
                "type": "message",
                "role": "system",
                "content": [{"type": "input_text", "text": "be brief"}],
            }
            await wire.send(
                {
                    "type": "conversation.item.create",
                    "item": {**system, "id": "sys_1"},
                    "previous_item_id": added["item"]["id"],
                }
            )
            assert (await wire.until("conversation.item.done"))[-1]["previous_item_id"] == added["item"]["id"]
            await wire.send(
                {"type": "conversation.item.create", "item": {**system, "id": "sys_1"}}, valid=True
            )
            assert (await wire.recv())["error"]["code"] == "duplicate_item_id"
            await wire.send({"type": "conversation.item.retrieve", "item_id": first})
            assert (await wire.recv())["item"]["content"][0]["text"] == "one"
            events = await turn(wire, "hello")  # audio reply
            reply = events[-1]["response"]["output"][0]["id"]
            await wire.send(
                {
                    "type": "conversation.item.truncate",
                    "item_id": reply,
                    "content_index": 0,
                    "audio_end_ms": 5,
                }
            )
            truncated = await wire.recv()
            assert truncated["type"] == "conversation.item.truncated" and truncated["audio_end_ms"] == 5
            await wire.send(
                {
                    "type": "conversation.item.truncate",
                    "item_id": first,
                    "content_index": 0,
                    "audio_end_ms": 5,
                }
            )
            assert (await wire.recv())["error"]["param"] == "content_index"
            await wire.send({"type": "conversation.item.delete", "item_id": first})
            assert (await wire.recv()) | {"event_id": None} == {
                "type": "conversation.item.deleted",
                "event_id": None,
                "item_id": first,
            }
            await wire.send({"type": "conversation.item.retrieve", "item_id": first, "event_id": "r"})
            assert (await wire.recv())["error"] | {"message": ""} == {
                "type": "invalid_request_error",
                "code": "item_not_found",
                "message": "",
                "param": "item_id",
                "event_id": "r",
            }

    run(main())


def test_out_of_band_response_with_input_and_overrides() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT) as emu:
            wire = await Wire.open(emu.url)
            await wire.send(user_message("return please"))
            item_id = (await wire.until("conversation.item.done"))[-1]["item"]["id"]
            # item_reference: in the SDK's ResponseCreateEventWithReferencesParam, not in RealtimeClientEvent
            await wire.send(
                {
                    "type": "response.create",
                    "response": {
                        "conversation": "none",
                        "output_modalities": ["text"],
                        "instructions": AUTH,
                        "metadata": {"topic": "check"},
                        "input": [{"type": "item_reference", "id": item_id}],
                    },
                },
                valid=False,
            )
            events = await wire.until("response.done")
            assert count(events, "conversation.item.added") == 0
            response = events[-1]["response"]
            assert response["conversation_id"] is None and response["metadata"] == {"topic": "check"}
            assert response["output_modalities"] == ["text"]
            assert response["output"][0]["content"][0]["text"] == "Let me verify you first."
            # the out-of-band output did not join the conversation
            await wire.send({"type": "conversation.item.retrieve", "item_id": response["output"][0]["id"]})
            assert (await wire.recv())["error"]["code"] == "item_not_found"
            # inline input items are matched too
            await wire.send(
                {
                    "type": "response.create",
                    "response": {"conversation": "none", "input": [user_message("hello")["item"]]},
                }
            )
            done = (await wire.until("response.done"))[-1]["response"]
            assert done["output"][0]["content"][0]["transcript"] == "Hi there, how can I help you today?"

    run(main())


def test_input_audio_commit_adds_an_item_and_answers_like_server_vad() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT) as emu:
            wire = await Wire.open(emu.url)
            audio = base64.b64encode(bytes(960)).decode()
            await wire.send({"type": "input_audio_buffer.append", "audio": audio})
            await wire.send({"type": "input_audio_buffer.commit"})
            events = await wire.until("response.done")
            assert types(events[:3]) == [
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.done",
            ]
            assert events[1]["item"]["content"] == [{"type": "input_audio", "transcript": None}]
            assert events[0]["item_id"] == events[1]["item"]["id"]
            assert events[-1]["response"]["output"][0]["content"][0]["transcript"].startswith("(emulator)")
            # without turn detection a commit does not answer
            no_vad = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
            await wire.send({"type": "session.update", "session": no_vad})
            await wire.recv()
            await wire.send({"type": "input_audio_buffer.append", "audio": audio})
            await wire.send({"type": "input_audio_buffer.clear"})
            assert (await wire.recv())["type"] == "input_audio_buffer.cleared"
            await wire.send({"type": "input_audio_buffer.append", "audio": audio})
            await wire.send({"type": "input_audio_buffer.commit"})
            events = await wire.sync()
            assert (
                count(events, "input_audio_buffer.committed") == 1 and count(events, "response.created") == 0
            )

    run(main())


def test_wrong_path_is_404_and_any_authorization_is_accepted() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT) as emu:
            base = emu.url.removesuffix("/v1/realtime")
            with pytest.raises(InvalidStatus) as info:
                await connect(base + "/v1/other")
            assert info.value.response.status_code == 404
            assert b"/v1/realtime" in info.value.response.body
            headers = {"Authorization": "Bearer sk-anything", "OpenAI-Beta": "realtime=v1"}
            async with connect(emu.url + "/?model=x", additional_headers=headers) as ws:
                assert json.loads(await ws.recv())["type"] == "session.created"

    run(main())


@pytest.mark.parametrize("kind", ["json", "no_type", "missing_field"])
def test_fault_malformed_event_after_nth_response(kind: Any) -> None:
    async def main() -> None:
        async with Emulator(SCRIPT, faults=Faults(malformed_after=2, malformed=kind)) as emu:
            wire = await Wire.open(emu.url)
            await turn(wire, "hello")
            await wire.send({"type": "response.create"})
            await wire.until("response.done")
            if kind == "missing_field":
                frame = json.loads(await wire.ws.recv())
                assert frame["type"] == "response.function_call_arguments.done"
                with pytest.raises(ValueError, match="Field required"):
                    validate_server_event(frame)
            else:
                with pytest.raises(ProtocolError):
                    await wire.recv()
            # the server goes on normally
            assert (await turn(wire, "hello"))[-1]["response"]["status"] == "completed"

    run(main())


def test_fault_drop_mid_response_closes_the_tcp_connection_abruptly() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT, faults=Faults(drop_in_response=2, drop_after_events=3)) as emu:
            wire = await Wire.open(emu.url)
            await turn(wire, "hello")  # response 1 is whole
            await wire.send({"type": "response.create"})
            received = []
            with pytest.raises(ConnectionClosedError) as info:
                while True:
                    received.append(await wire.recv())
            assert types(received) == TEXT_TURN[:3]
            assert info.value.rcvd is None  # no close frame: the TCP connection was aborted
            # other connections are unaffected
            other = await Wire.open(emu.url)
            assert (await turn(other, "hello"))[-1]["response"]["status"] == "completed"
            assert emu.stats.connections == 2

    run(main())


def test_observer_sees_every_event_and_stats_count_them() -> None:
    seen: list[tuple[str, str]] = []

    async def main() -> None:
        async with Emulator(SCRIPT, on_event=lambda side, e: seen.append((side, e["type"]))) as emu:
            wire = await Wire.open(emu.url)
            await turn(wire, "hello")
            await wire.close()
            assert emu.stats.client_events == 2 and emu.stats.responses == 1
            assert emu.stats.server_events == len(wire.received) == len([s for s in seen if s[0] == "server"])

    run(main())
    assert seen[0] == ("server", "session.created") and ("client", "response.create") in seen


def test_url_requires_a_running_emulator() -> None:
    emu = Emulator(SCRIPT)
    with pytest.raises(RuntimeError):
        _ = emu.url
    with pytest.raises(RuntimeError):
        run(emu.serve_forever())


def test_audio_follows_the_output_format() -> None:
    async def main() -> None:
        async with Emulator(SCRIPT) as emu:
            wire = await Wire.open(emu.url)
            ulaw = {"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcmu"}}}}
            await wire.send({"type": "session.update", "session": ulaw})
            await wire.recv()
            events = await turn(wire, "hello")
            audio = next(e for e in events if e["type"] == "response.output_audio.delta")
            assert base64.b64decode(audio["delta"]) == b"\xff" * 80  # 10 ms of mu-law silence
            assert events[-1]["response"]["audio"]["output"]["format"] == {"type": "audio/pcmu"}

    run(main())


def test_run_emulator_prints_the_url_and_serves_until_cancelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "script.toml"
    path.write_text('[[rule]]\nsay = "Hello from the script."\n', encoding="utf-8")

    async def main() -> None:
        server = asyncio.create_task(serve_emulator(path, "127.0.0.1", 0))
        printed = ""
        while "ws://" not in printed:  # yield to the loop until the server has started
            await asyncio.sleep(0)
            printed += capsys.readouterr().out
        url = printed.split()[2]
        assert url.endswith("/v1/realtime") and "1 rules from" in printed
        wire = await Wire.open(url)
        events = await turn(wire, "anything")
        assert events[-1]["response"]["output"][0]["content"][0]["transcript"] == "Hello from the script."
        server.cancel()
        with pytest.raises(asyncio.CancelledError):
            await server

    run(main())


def test_run_emulator_reports_script_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[rule]]\nsay = "x"\nuser = "("\n', encoding="utf-8")
    with pytest.raises(ScriptError, match=r"bad\.toml:3:1: rule\[0\]\.user"):
        run(serve_emulator(path, "127.0.0.1", 0))
