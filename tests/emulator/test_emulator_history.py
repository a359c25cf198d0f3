"""The emulator's conversation state: deleted items are gone for the scripted model, out-of-band responses
(rules and the deterministic summary), the effective session (the voice is fixed once audio is present)."""

from __future__ import annotations

from typing import Any

from engine.emulator.script import Script
from engine.emulator.server import Emulator
from tests.realtime_schema import Wire, count, run, text_session, user_message

SCRIPT = Script.parse(
    """
[[rule]]
out_of_band = true
user = "(?i)note"
say = "A scripted note."

[[rule]]
heard = "1988-10-12"
say = "LEAK"

[[rule]]
out_of_band = false
user = "(?i)note"
say = "In the conversation."

[[rule]]
user = "(?i)hello"
say = "fine"
""",
    "history.toml",
)


async def said(wire: Wire, text: str) -> str:
    """Add a user message (its id is returned); wait until the server has it."""
    await wire.send(user_message(text))
    (added, *_) = [
        e for e in await wire.until("conversation.item.done") if e["type"] == "conversation.item.added"
    ]
    return str(added["item"]["id"])


async def answer(wire: Wire, **response: Any) -> dict[str, Any]:
    await wire.send({"type": "response.create", **({"response": response} if response else {})})
    events = await wire.until("response.done")
    return events[-1]["response"] | {"_added": count(events, "conversation.item.added")}


def test_a_deleted_item_is_gone_for_the_scripted_model() -> None:
    async def main() -> tuple[str, str, list[dict[str, Any]]]:
        async with Emulator(SCRIPT) as emu:
            wire = await Wire.open(emu.url)
            await wire.send(text_session())
            await wire.until("session.updated")
            secret = await said(wire, "born 1988-10-12")
            await said(wire, "hello")
            control = (await answer(wire))["output"][0]["content"][0]["text"]
            await wire.send({"type": "conversation.item.delete", "item_id": secret})
            assert (await wire.until("conversation.item.deleted"))[-1]["item_id"] == secret
            await wire.send({"type": "conversation.item.delete", "item_id": secret})
            error = (await wire.until("error"))[-1]["error"]
            assert error["code"] == "item_not_found"
            await said(wire, "hello again")
            after = (await answer(wire))["output"][0]["content"][0]["text"]
            _, items = emu.state()
            return control, after, items

    control, after, items = run(main())
    assert (control, after) == ("LEAK", "fine")
    assert "1988" not in str(items) and len(items) == 4  # hello, LEAK, hello again, fine


def test_out_of_band_rules_and_the_deterministic_summary() -> None:
    async def main() -> list[dict[str, Any]]:
        async with Emulator(SCRIPT) as emu:
            wire = await Wire.open(emu.url)
            await wire.send(text_session())
            await wire.until("session.updated")
            await said(wire, "a note please")
            in_conversation = await answer(wire)
            out_of_band = await answer(wire, conversation="none", metadata={"purpose": "x"})
            messages = [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "yo"}]},
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "bye"}],
                },
            ]
            summary = await answer(wire, conversation="none", input=messages, output_modalities=["text"])
            return [in_conversation, out_of_band, summary]

    in_conversation, out_of_band, summary = run(main())
    assert in_conversation["output"][0]["content"][0]["text"] == "In the conversation."
    assert out_of_band["output"][0]["content"][0]["text"] == "A scripted note."
    assert out_of_band["conversation_id"] is None and out_of_band["metadata"] == {"purpose": "x"}
    assert out_of_band["_added"] == 0 and summary["_added"] == 0
    # no rule matches (the `heard` rule would: it reads the input): the deterministic summary
    text = summary["output"][0]["content"][0]["text"]
    assert text == "(emulator summary) 3 earlier messages: 2 from the caller, 1 from the agent."


def test_the_voice_is_fixed_once_assistant_audio_is_present_but_formats_still_change() -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        async with Emulator(SCRIPT) as emu:
            wire = await Wire.open(emu.url)
            voice = {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"output": {"voice": "sage"}}},
            }
            await wire.send(voice)  # before any audio: fine
            await wire.until("session.updated")
            await said(wire, "hello")
            await answer(wire)  # an audio answer (the default modality)
            again = {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"output": {"voice": "ash"}}},
            }
            await wire.send(again)
            error = (await wire.until("error"))[-1]["error"]
            same = {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"output": {"voice": "sage"}}},
            }
            await wire.send(same)  # the same voice is no change
            await wire.until("session.updated")
            pcmu = {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}},
            }
            await wire.send(pcmu)
            await wire.until("session.updated")
            session, _ = emu.state()
            return error, session

    error, session = run(main())
    assert (error["code"], error["message"]) == (
        "cannot_update_voice",
        "Cannot update a conversation's voice if assistant audio is present.",
    )
    assert session["audio"]["output"]["voice"] == "sage"
    assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
