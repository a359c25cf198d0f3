"""What a relay's client may change and see: the flow owns the prompt, clients see a redacted session.

Pure functions over decoded (already schema-checked) client and server events; the relay applies them.

- :func:`owned_field` names the part of a client event that would change what the flow owns (an agent's
  instructions, tools, tool choice or a stored prompt, or a system/developer message); the relay refuses
  such an event with an ``error``. ``session.update`` is the exception for the keys SDKs always send
  (``instructions``, ``tools``, ``tool_choice``, ``model``): those are dropped by
  :meth:`Session.client_event`, which reports them to the server log, and the rest of the update goes on.
- :func:`redact_session` cuts ``session.created`` / ``session.updated`` down to what a client needs.
"""

from __future__ import annotations

from typing import Any

DROPPED_SESSION_KEYS = frozenset({"instructions", "tools", "tool_choice", "model"})
"""``session.update`` keys the flow owns and SDKs send anyway: dropped (reported to the server log)."""

REFUSED_SESSION_KEYS = ("prompt",)
"""``session.update`` keys the flow owns that no SDK sends by default: the event is refused."""

REFUSED_RESPONSE_KEYS = ("instructions", "tools", "tool_choice", "prompt")
"""``response.create`` overrides the flow owns: the event is refused."""

OWNED_ROLES = frozenset({"system", "developer"})
"""Message roles only the flow speaks with."""

VISIBLE_SESSION_KEYS = frozenset(
    {
        "type",
        "id",
        "object",
        "expires_at",
        "model",
        "output_modalities",
        "audio",
        "include",
        "max_output_tokens",
    }
)
"""The session fields a client sees (plus ``instructions``, replaced by the current agent's name)."""


def owned_field(event: dict[str, Any]) -> tuple[str, str] | None:
    """``(field, message)`` when ``event`` would change what the flow owns, else ``None``."""
    kind = event.get("type")
    if kind == "session.update":
        session = event.get("session")
        for key in REFUSED_SESSION_KEYS:
            if isinstance(session, dict) and key in session:
                return f"session.{key}", "the flow owns each agent's prompt; a client cannot set it"
    elif kind == "response.create":
        response = event.get("response")
        if isinstance(response, dict):
            for key in REFUSED_RESPONSE_KEYS:
                if key in response:
                    return f"response.{key}", f"the flow owns each agent's {key.replace('_', ' ')}"
            for i, item in enumerate(response.get("input") or []):
                if _owned_role(item):
                    return f"response.input[{i}].role", _ROLE_MESSAGE
    elif kind == "conversation.item.create" and _owned_role(event.get("item")):
        return "item.role", _ROLE_MESSAGE
    return None


_ROLE_MESSAGE = "system and developer messages belong to the flow; send a user message"


def _owned_role(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type") == "message" and item.get("role") in OWNED_ROLES


def redact_session(event: dict[str, Any], agent: str, conversation_id: str | None = None) -> dict[str, Any]:
    """``session.created`` / ``session.updated`` as a client sees it: audio, modalities and the current
    agent's name (as ``instructions: "agent: NAME"``); no instructions, tools or prompt; its ``id`` is the
    relay's ``conversation_id`` when given (what a client reconnects with). Other events as is."""
    session = event.get("session")
    if event.get("type") not in ("session.created", "session.updated") or not isinstance(session, dict):
        return event
    visible = {k: v for k, v in session.items() if k in VISIBLE_SESSION_KEYS}
    if conversation_id is not None:
        visible["id"] = conversation_id
    return {**event, "session": {**visible, "instructions": f"agent: {agent}"}}
