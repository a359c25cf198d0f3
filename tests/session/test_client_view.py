"""What a relay's client may change and see (:mod:`engine.session.client_view`)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from engine.session.client_view import VISIBLE_SESSION_KEYS, owned_field, redact_session

SECRET = "TOP SECRET PROMPT"
values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5), st.lists, max_leaves=5)
sessions = st.dictionaries(
    st.sampled_from([*VISIBLE_SESSION_KEYS, "tools", "tool_choice", "prompt", "x"]), values
)


@given(sessions, st.sampled_from(["session.created", "session.updated"]))
def test_a_redacted_session_shows_only_visible_keys_and_the_agent(session: dict[str, Any], kind: str) -> None:
    event = {"type": kind, "event_id": "e1", "session": {**session, "instructions": SECRET}}
    view = redact_session(event, "billing")
    assert set(view["session"]) <= VISIBLE_SESSION_KEYS | {"instructions"}
    assert view["session"]["instructions"] == "agent: billing" and SECRET not in json.dumps(view)
    assert view["event_id"] == "e1" and event["session"]["instructions"] == SECRET  # the input is untouched


def test_other_events_pass_unchanged() -> None:
    event = {"type": "response.done", "response": {"instructions": "x"}}
    assert redact_session(event, "a") is event


def test_owned_fields_are_named_and_plain_events_are_not() -> None:
    assert owned_field({"type": "response.create", "response": {"tool_choice": "auto"}}) == (
        "response.tool_choice",
        "the flow owns each agent's tool choice",
    )
    assert owned_field({"type": "response.create", "response": {"output_modalities": ["text"]}}) is None
    assert (
        owned_field({"type": "session.update", "session": {"instructions": "x"}}) is None
    )  # dropped, not refused
    user = {"type": "message", "role": "user", "content": []}
    assert owned_field({"type": "conversation.item.create", "item": user}) is None
    developer = {**user, "role": "developer"}
    assert owned_field({"type": "conversation.item.create", "item": developer}) is not None
