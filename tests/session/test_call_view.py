"""What a relay's client sees of function calls (:mod:`engine.session.call_view`): nothing."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from engine.session.actions import Transcript
from engine.session.call_view import ARGUMENT_EVENTS, ITEM_EVENTS, CallView
from tests.session_helpers import new_session, sent

ids = st.sampled_from(["item_1", "item_2", "item_3"])
call_items = st.builds(
    lambda kind, item_id: {
        "type": kind,
        "id": item_id,
        "call_id": f"call_{item_id}",
        "name": "transfer_to_x",
    },
    st.sampled_from(["function_call", "function_call_output"]),
    ids,
)
message_items = st.builds(
    lambda item_id: {"type": "message", "id": f"msg_{item_id}", "role": "assistant", "content": []}, ids
)
items = call_items | message_items
events = st.one_of(
    st.builds(lambda kind, item: {"type": kind, "item": item}, st.sampled_from(sorted(ITEM_EVENTS)), items),
    st.builds(
        lambda kind, i: {"type": kind, "item_id": i, "delta": "{"},
        st.sampled_from(sorted(ARGUMENT_EVENTS)),
        ids,
    ),
    st.builds(lambda i: {"type": "conversation.item.deleted", "item_id": i}, ids | st.just("msg_item_1")),
    st.builds(
        lambda out: {"type": "response.done", "response": {"id": "r", "output": out}},
        st.lists(items, max_size=3),
    ),
    st.just({"type": "response.created", "response": {"id": "r"}}),
)


@given(st.lists(events, max_size=12))
def test_a_client_never_sees_a_call_and_sees_everything_else_unchanged(stream: list[dict[str, Any]]) -> None:
    view, hidden = CallView(), set()
    for event in stream:
        as_is = view.shows_as_is(event)  # what a relay's reader asks before it sends an event ahead
        shown = view.view(event)
        assert as_is == (shown is event)
        item = event.get("item") or {}
        output = event.get("response", {}).get("output", [])
        if event["type"] in ARGUMENT_EVENTS or item.get("type", "message") != "message":
            assert shown is None
            hidden.add(item.get("id"))
        elif event["type"] == "conversation.item.deleted":
            assert (shown is None) == (event["item_id"] in hidden)
            hidden.discard(event["item_id"])
        elif any(i["type"] != "message" for i in output):
            assert shown is not None  # the client tracks its responses: only the call items are gone
            assert shown["response"]["output"] == [i for i in output if i["type"] == "message"]
        else:
            assert shown is event  # nothing about a call: forwarded as is
        assert shown is None or '"function_call' not in json.dumps(shown)


def test_a_deleted_item_is_hidden_only_when_the_item_was() -> None:
    view = CallView()
    assert (
        view.view({"type": "conversation.item.added", "item": {"type": "function_call", "id": "fc"}}) is None
    )
    assert view.view({"type": "conversation.item.deleted", "item_id": "fc"}) is None
    message_deleted = {"type": "conversation.item.deleted", "item_id": "msg"}
    assert view.view(message_deleted) is message_deleted
    again = {"type": "conversation.item.deleted", "item_id": "fc"}
    assert view.view(again) is again  # forgotten once deleted


def test_a_clients_output_for_a_flow_call_is_dropped_and_noted() -> None:
    session = new_session("flows/retail.toml")
    session.start()
    event = {
        "type": "conversation.item.create",
        "item": {
            "type": "function_call_output",
            "call_id": "call_9",
            "output": "Tool transfer_to_sales not found",
        },
    }
    actions = session.client_event(event)
    assert sent(actions) == []
    (note,) = actions
    assert isinstance(note, Transcript) and note.kind == "notice" and "'call_9' dropped" in note.text
    user = {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": []}}
    assert sent(session.client_event(user)) == [user]
