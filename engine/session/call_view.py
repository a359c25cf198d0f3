"""What a relay's client sees of function calls: nothing. Every function call is the flow's business.

Through the relay the model only has the flow's tools (a client's ``tools`` are dropped or refused, see
:mod:`engine.session.client_view`), so every ``function_call`` it makes — a transfer, a flow tool, the
escalation tool — is run by the relay, and so is its ``function_call_output``. A client that saw them would
try to answer them (the Agents SDK reports ``Tool transfer_to_… not found`` and sends an error output), so
:class:`CallView` hides them: the ``response.output_item.*``, ``response.function_call_arguments.*`` and
``conversation.item.*`` events of function-call items and their outputs are not forwarded, and
``response.done`` lists only the items the client saw. The client sees the responses themselves
(``response.created``/``response.done``, so it can track what is in flight) and whatever the agents say.
"""

from __future__ import annotations

from typing import Any

CALL_ITEM_TYPES = frozenset({"function_call", "function_call_output"})
"""Conversation items that belong to the flow."""

ITEM_EVENTS = frozenset(
    {
        "response.output_item.added",
        "response.output_item.done",
        "conversation.item.added",
        "conversation.item.created",
        "conversation.item.done",
        "conversation.item.retrieved",
    }
)
"""Server events that carry a whole ``item``."""

ARGUMENT_EVENTS = frozenset(
    {"response.function_call_arguments.delta", "response.function_call_arguments.done"}
)
"""Server events that only function calls have."""


UNREAD = frozenset(
    {
        "response.output_text.delta",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.delta",
        "response.content_part.added",
        "response.content_part.done",
        "conversation.item.input_audio_transcription.delta",
        "input_audio_buffer.committed",
        "input_audio_buffer.speech_stopped",
        "rate_limits.updated",
    }
)
"""Server events that neither the core (:data:`engine.session.events.HANDLED`) nor :class:`CallView` reads:
a relay may forward their frames without decoding them (the streaming deltas, most of a turn's events)."""


def is_call_item(item: Any) -> bool:
    """Whether ``item`` is a function call or a function call's output (an odd ``type``, say a list from
    a hostile upstream, is neither)."""
    return isinstance(item, dict) and isinstance(item.get("type"), str) and item["type"] in CALL_ITEM_TYPES


class CallView:
    """One conversation's filter of server events on their way to the client (it remembers hidden items,
    so that their later ``conversation.item.deleted`` is hidden too)."""

    def __init__(self) -> None:
        self._hidden: set[str] = set()

    def view(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """``event`` as the client sees it, or ``None`` when the client does not see it at all."""
        kind = event.get("type")
        if kind in ARGUMENT_EVENTS:
            return None
        if kind in ITEM_EVENTS:
            item = event.get("item")
            if not isinstance(item, dict) or not is_call_item(item):
                return event
            if isinstance(item.get("id"), str):
                self._hidden.add(item["id"])
            return None
        if kind == "conversation.item.deleted":
            item_id = event.get("item_id")
            if isinstance(item_id, str) and item_id in self._hidden:
                self._hidden.discard(item_id)
                return None
            return event
        if kind == "response.done":
            return _without_calls(event)
        return event

    def shows_as_is(self, event: dict[str, Any]) -> bool:
        """Whether :meth:`view` would return ``event`` itself (what it remembers unchanged)."""
        kind = event.get("type")
        if kind in ARGUMENT_EVENTS:
            return False
        if kind in ITEM_EVENTS:
            return not is_call_item(event.get("item"))
        if kind == "conversation.item.deleted":
            item_id = event.get("item_id")
            return not (isinstance(item_id, str) and item_id in self._hidden)
        if kind == "response.done":
            return _without_calls(event) is event
        return True


def _without_calls(event: dict[str, Any]) -> dict[str, Any]:
    response = event.get("response")
    output = response.get("output") if isinstance(response, dict) else None
    if not isinstance(response, dict) or not isinstance(output, list) or not any(map(is_call_item, output)):
        return event
    return {**event, "response": {**response, "output": [i for i in output if not is_call_item(i)]}}
