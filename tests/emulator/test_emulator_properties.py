"""Property: any sequence of client frames (valid or not, create/cancel interleaved) leaves the emulator
serving, every event it sends is schema-valid, and responses never overlap."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.emulator.script import Script
from engine.emulator.server import Emulator
from tests.realtime_schema import Wire, run, text_session, user_message

SCRIPT = Script.parse(
    """
[[rule]]
user = "(?i)call"
say = "Calling."
calls = [{ name = "f", arguments = { x = 1 } }, { name = "g" }]

[[rule]]
after = "f"
say = "f is done."

[[rule]]
user = "(?i)hello"
say = "Hello there, nice to meet you."
"""
)

valid_events = st.one_of(
    st.builds(user_message, st.sampled_from(["hello", "please call", "something else", ""])),
    st.just(text_session()),
    st.just({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["audio"]}}),
    st.just({"type": "response.create"}),
    st.just({"type": "response.create", "response": {"conversation": "none", "output_modalities": ["text"]}}),
    st.just({"type": "response.cancel"}),
    st.builds(lambda rid: {"type": "response.cancel", "response_id": rid}, st.sampled_from(["resp_x", ""])),
    st.builds(
        lambda call_id: {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": call_id, "output": "{}"},
        },
        st.sampled_from(["call_unknown", ""]),
    ),
    st.builds(
        lambda n: {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(n)).decode()},
        st.integers(0, 64),
    ),
    st.just({"type": "input_audio_buffer.commit"}),
    st.just({"type": "input_audio_buffer.clear"}),
    st.builds(lambda i: {"type": "conversation.item.delete", "item_id": i}, st.sampled_from(["item_x", ""])),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
invalid_events = st.one_of(
    st.dictionaries(
        st.sampled_from(["type", "event_id", "session", "item", "response", "audio", "item_id"]),
        json_values,
        max_size=4,
    ),
    st.builds(
        lambda t, v: {"type": t, "session": v, "item": v, "response": v},
        st.sampled_from(["session.update", "conversation.item.create", "response.create", "nope"]),
        json_values,
    ),
)
frames = st.one_of(
    valid_events.map(json.dumps),
    invalid_events.map(json.dumps),
    st.text(max_size=20),
    st.binary(max_size=20),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames, min_size=1, max_size=25))
def test_random_client_frames_never_crash_or_overlap_responses(sequence: list[str | bytes]) -> None:
    async def main() -> list[dict[str, Any]]:
        async with Emulator(SCRIPT) as emu:
            wire = await Wire.open(emu.url)
            for frame in sequence:
                await wire.send_raw(frame)
            await wire.sync()  # every frame handled, no response left streaming
            # still serving: a full scripted turn works on the same connection
            await wire.send(text_session())
            await wire.send(user_message("hello"))
            await wire.send({"type": "response.create", "event_id": "final"})
            events = await wire.until("response.done")
            refused = [e for e in events if e["type"] == "error" and e["error"]["event_id"] == "final"]
            if refused:  # only possible if a response was still active, which sync() rules out
                raise AssertionError(refused)
            assert (
                events[-1]["response"]["output"][0]["content"][0]["text"] == "Hello there, nice to meet you."
            )
            await wire.close()
            return wire.received  # every one was schema-validated on receipt

    received = run(main())
    active: str | None = None
    for event in received:
        if event["type"] == "response.created":
            assert active is None, f"response {event['response']['id']} started while {active} was active"
            active = event["response"]["id"]
        elif event["type"] == "response.done":
            assert event["response"]["id"] == active
            assert event["response"]["status"] in ("completed", "cancelled")
            active = None
        elif event["type"].startswith("response."):
            assert event.get("response_id") == active, event
    assert active is None
