"""A session's state as a versioned, JSON-able record, and back (:meth:`Session.snapshot` / ``restore``).

The record holds everything the core owns: the agent (the handoff machine is rebuilt in that state, without
running entry actions), depth, visits, trusted and claimed context and what the current agent sees of it,
the values the redactor has learnt, the history and the items the server reported, a history-policy job
under way, the escalation machine's state and budget used, tools and an escalation in flight, the tool
budgets of the turn, the audit sequence, and the flow's content hash (a snapshot restores only onto the
flow it was taken on). Context values are whatever JSON the tools returned.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from engine.errors import SwitchboardError
from engine.session import events as ev
from engine.session import history as hist
from engine.session.actions import EscalationRequest

__all__ = [
    "MALFORMED",
    "SNAPSHOT_VERSION",
    "AppendedJSON",
    "SnapshotError",
    "call",
    "call_of",
    "check_version",
    "escalation_request",
    "item",
    "items_of",
    "request_of",
]

SNAPSHOT_VERSION = 1


class SnapshotError(SwitchboardError):
    """A snapshot that cannot be restored: another version or flow, or a malformed record."""


MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)
"""What reading a malformed record raises (a store is outside the process: any field may hold anything)."""


def check_version(record: dict[str, Any]) -> None:
    if record.get("version") != SNAPSHOT_VERSION:
        raise SnapshotError(f"snapshot version {record.get('version')!r} is not {SNAPSHOT_VERSION}")


def items_of(items: list[hist.Item]) -> list[dict[str, Any]]:
    """The items as plain dicts (by hand: ``dataclasses.asdict`` deep-copies, ~10x slower, and a long call
    holds hundreds of items, in every snapshot)."""
    return [hist.item_record(i) for i in items]


class AppendedJSON:
    """The JSON array of a list that is only appended to: each call encodes only the entries appended
    since the last one (all of them for another list object). Holding the list keeps its identity valid."""

    def __init__(self) -> None:
        self._of: list[Any] | None = None
        self._parts: list[str] = []

    def encode(self, entries: list[Any]) -> str:
        if entries is not self._of or len(entries) < len(self._parts):
            self._of, self._parts = entries, []
        parts = self._parts
        parts.extend(hist.compact_json(list(e)) for e in entries[len(parts) :])
        return "[" + ",".join(parts) + "]"


def item(data: dict[str, Any]) -> hist.Item:
    return hist.Item(data["id"], data["type"], data["role"], data["call_id"], data["text"])


def request_of(request: EscalationRequest) -> dict[str, Any]:
    data = asdict(request)
    data["transcript"] = [list(pair) for pair in request.transcript]
    return data


def escalation_request(data: dict[str, Any]) -> EscalationRequest:
    return EscalationRequest(
        data["escalation_id"],
        data["agent"],
        data["relevant_context"],
        tuple((str(role), str(text)) for role, text in data["transcript"]),
        dict(data["context"]),
        int(data["version"]),
    )


def call_of(call: ev.FunctionCallDone) -> dict[str, Any]:
    return call.model_dump(mode="json", by_alias=True)


def call(data: dict[str, Any]) -> ev.FunctionCallDone:
    return ev.FunctionCallDone.model_validate(data)
