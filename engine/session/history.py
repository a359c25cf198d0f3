"""History policy at a handoff: which conversation items exist, and the client events that reset or
summarise them (the core in :mod:`engine.session.core` decides when to send them).

``keep`` leaves the conversation as it is. ``reset`` deletes every item before the transfer call; the transfer
call itself (its ``reason`` and carried arguments) and its output stay, so the next agent learns why it was
called. ``summary`` asks the model out of band for a short note written with only the carried keys, adds it as
one system message at the start of the conversation, then deletes the originals as ``reset`` does.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from engine.flow.model import Flow, History

SUMMARY_PURPOSE = "history_summary"
"""``response.metadata["switchboard"]`` of the out-of-band summary request: how its events are recognised."""
SUMMARY_PREFIX = "Summary of the conversation before this handoff (the earlier turns were removed): "


def policy(flow: Flow, source: str, target: str) -> History:
    """The history policy of the edge ``source -> target``: its contract's, else ``[flow] history``."""
    contract = flow.contracts.get((source, target))
    if contract is not None and contract.history is not None:
        return contract.history
    return flow.flow.history


@dataclass
class Item:
    """What the core knows of one conversation item."""

    id: str
    type: str
    role: str | None
    call_id: str | None
    text: str


def compact_json(value: Any) -> str:
    """``value`` as the JSON a stored snapshot holds (no spaces; its parts are encoded one at a time)."""
    return json.dumps(value, separators=(",", ":"))


def item_record(item: Item) -> dict[str, Any]:
    """The item as a snapshot holds it."""
    return {"id": item.id, "type": item.type, "role": item.role, "call_id": item.call_id, "text": item.text}


class Items:
    """The conversation's items, in the order the server added them (from ``conversation.item.*``)."""

    def __init__(self) -> None:
        self._items: dict[str, Item] = {}
        self._parts: list[str] = []
        """The JSON of the first ``len(_parts)`` items' :func:`item_record`, none changed since encoded: a
        change cuts it back to the changed item (usually the last), an append leaves it."""
        self._at: dict[str, int] | None = {}
        """Each item's position (``None`` after a removal shifted them: rebuilt when asked)."""

    def encoded(self) -> str:
        """The JSON array of every item's :func:`item_record`, encoding only what changed since the last call."""
        parts = self._parts
        if len(parts) < len(self._items):
            fresh = itertools.islice(self._items.values(), len(parts), None)
            parts.extend(compact_json(item_record(item)) for item in fresh)
        return "[" + ",".join(parts) + "]"

    def _changed(self, item_id: str) -> None:
        if not self._parts:
            return
        if self._at is None:
            self._at = {known: n for n, known in enumerate(self._items)}
        at = self._at.get(item_id)
        if at is not None:
            del self._parts[at:]

    def __len__(self) -> int:
        return len(self._items)

    def ids(self) -> list[str]:
        return list(self._items)

    def values(self) -> list[Item]:
        return list(self._items.values())

    def put(self, item: Item) -> None:
        """Add ``item`` as it is (a restored snapshot's)."""
        self._changed(item.id)
        self._add(Item(item.id, item.type, item.role, item.call_id, item.text))

    def upsert(self, item: Mapping[str, Any]) -> None:
        """Record an item from ``conversation.item.added``/``done`` (``done`` brings the final text)."""
        item_id = item.get("id")
        if not isinstance(item_id, str):
            return
        text = _text(item.get("content"))
        known = self._items.get(item_id)
        if known is not None:
            if text and text != known.text:
                self._changed(item_id)
                known.text = text
            return
        role, call_id = item.get("role"), item.get("call_id")
        self._add(
            Item(
                item_id,
                str(item.get("type", "")),
                role if isinstance(role, str) else None,
                call_id if isinstance(call_id, str) else None,
                text,
            )
        )

    def _add(self, item: Item) -> None:
        if self._at is not None and item.id not in self._items:
            self._at[item.id] = len(self._items)
        self._items[item.id] = item

    def transcribed(self, item_id: str, transcript: str) -> None:
        if item_id in self._items:
            self._changed(item_id)
            self._items[item_id].text = transcript

    def remove(self, item_id: str) -> None:
        if item_id in self._items:
            self._changed(item_id)
            del self._items[item_id]
            self._at = None

    def before(self, item_id: str, call_id: str) -> list[Item]:
        """Copies of the items before the transfer call (named by its item id or call id); all of them if it
        is unknown. Copies: a handoff's history job works on the items as they were when it began (a
        transcript completing later changes the conversation's item, not the job's), as a restored job does."""
        found: list[Item] = []
        for item in self._items.values():
            if item.id == item_id or (item.type == "function_call" and item.call_id == call_id):
                break
            found.append(replace(item))
        return found


def _text(content: Any) -> str:
    if not isinstance(content, list):
        return ""
    parts = (p.get("text") or p.get("transcript") or "" for p in content if isinstance(p, dict))
    return " ".join(p for p in parts if isinstance(p, str) and p)


def delete_events(ids: Iterable[str], prefix: str) -> list[dict[str, Any]]:
    """One ``conversation.item.delete`` per id; its ``event_id`` (``prefix-N``) lets an error name it."""
    return [
        {"type": "conversation.item.delete", "event_id": f"{prefix}-{n}", "item_id": item_id}
        for n, item_id in enumerate(ids, 1)
    ]


def summary_request(
    items: Iterable[Item], carried: Mapping[str, Any], source: str, target: str, event_id: str
) -> dict[str, Any]:
    """The out-of-band ``response.create``: the earlier messages as ``input``, outside the conversation."""
    facts = json.dumps(dict(carried), sort_keys=True, default=str) if carried else "none"
    instructions = (
        f"Write a handover note for the agent '{target}', who takes over from '{source}'. In at most three "
        "short sentences, say what the caller wants and what has been done. Do not repeat any personal "
        "detail the caller gave (numbers, dates, names, addresses, codes). The only facts you may state "
        f"are these: {facts}."
    )
    entries = [_message(item) for item in items if item.type == "message" and item.text]
    return {
        "type": "response.create",
        "event_id": event_id,
        "response": {
            "conversation": "none",
            "input": entries,
            "instructions": instructions,
            "output_modalities": ["text"],
            "tools": [],
            "tool_choice": "none",
            "metadata": {"switchboard": SUMMARY_PURPOSE, "handoff": f"{source}->{target}"},
        },
    }


def _message(item: Item) -> dict[str, Any]:
    role = item.role if item.role in ("user", "assistant", "system") else "user"
    kind = "output_text" if role == "assistant" else "input_text"
    return {"type": "message", "role": role, "content": [{"type": kind, "text": item.text}]}


def reseed_events(items: Iterable[Item], prefix: str) -> list[dict[str, Any]]:
    """The ``conversation.item.create`` events that rebuild a conversation's messages (ids kept, in order)
    on a fresh upstream connection: what it held when the snapshot was taken, so what the history policy of
    the last handoff left (nothing after a reset, the summary note after a summary). Function calls and
    their outputs are not replayed (a fresh upstream knows no call ids); their effect is in the context."""
    return [
        {"type": "conversation.item.create", "event_id": f"{prefix}-{n}", "item": {"id": i.id, **_message(i)}}
        for n, i in enumerate((i for i in items if i.type == "message" and i.text), 1)
    ]


def summary_text(output: Any) -> str:
    """The text of an out-of-band response's ``output`` (its message items)."""
    if not isinstance(output, list):
        return ""
    texts = (_text(item.get("content")) for item in output if isinstance(item, dict))
    return " ".join(t for t in texts if t).strip()


def summary_item(text: str, event_id: str) -> dict[str, Any]:
    """The summary as one system message at the start of the conversation."""
    item = {
        "type": "message",
        "role": "system",
        "content": [{"type": "input_text", "text": SUMMARY_PREFIX + text}],
    }
    return {
        "type": "conversation.item.create",
        "event_id": event_id,
        "previous_item_id": "root",
        "item": item,
    }


def leaked(text: str, dropped: Mapping[str, Any]) -> str | None:
    """The first dropped key whose value (4 characters or more) the summary repeats, or ``None``."""
    for key, value in sorted(dropped.items()):
        shown = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(shown) >= 4 and shown in text:
            return key
    return None
