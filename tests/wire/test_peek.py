"""The relay's undecoded lane: :func:`peek_type` and the event types it may skip decoding (:data:`UNREAD`)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.session.call_view import ARGUMENT_EVENTS, ITEM_EVENTS, UNREAD
from engine.session.events import HANDLED
from engine.wire.protocol import decode, peek_type
from tests.realtime_schema import SERVER_TYPES

kinds = st.sampled_from(sorted(UNREAD | HANDLED | {"response.done", "error"}))
scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["type", "delta", "part", "id", "x"]), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    kind=kinds,
    fields=st.dictionaries(
        st.sampled_from(["event_id", "delta", "part", "type2", "type"]), values, max_size=4
    ),
    type_first=st.booleans(),
    separators=st.sampled_from([(",", ":"), (", ", ": "), (" ,", " : ")]),
    ensure_ascii=st.booleans(),
)
def test_a_peeked_type_is_the_type_the_decoder_reads(
    kind: str, fields: dict[str, Any], type_first: bool, separators: tuple[str, str], ensure_ascii: bool
) -> None:
    """Whatever the frame's key order, spacing, nesting or escapes: ``peek_type`` names the type
    ``decode`` would read, or gives up (``None``), never another one."""
    fields.pop("type", None)
    event = {"type": kind, **fields} if type_first else {**fields, "type": kind}
    frame = json.dumps(event, separators=separators, ensure_ascii=ensure_ascii)
    peeked = peek_type(frame)
    assert peeked is None or peeked == decode(frame)["type"]
    if type_first and '"type"' not in json.dumps(fields, ensure_ascii=ensure_ascii):
        assert peeked == kind  # the shape OpenAI and the emulator send: always peeked


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"response.output_text.delta","type":"response.done","response":{}}',  # the last one wins
        '{"type":"response.output_text.delta","x":{"type":"response.done"}}',
        '{"delta":"x","type":"response.output_text.delta"}',  # not the first key: decoded instead
        '["type","response.output_text.delta"]',
        '{"type":"Response.Output_Text.Delta"}',
    ],
)
def test_frames_that_cannot_be_peeked_safely_are_left_to_the_decoder(frame: str) -> None:
    assert peek_type(frame) is None


def test_the_unread_types_are_ga_server_events_nothing_in_the_relay_reads() -> None:
    assert UNREAD <= SERVER_TYPES
    assert not UNREAD & HANDLED  # the core reads none of them
    assert not UNREAD & (ITEM_EVENTS | ARGUMENT_EVENTS | {"conversation.item.deleted", "response.done"})
