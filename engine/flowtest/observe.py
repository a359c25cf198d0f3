"""What a run did, turn by turn, as :mod:`engine.flowtest.check` reads it: fed the conversation's actions.

A turn runs from the user's message to the next one (the core emits the user's transcript line before it
sends the message, so every record after it belongs to that turn); records before the first turn (the
start) belong to no turn. The agent "after" a turn is the agent the next user message is said to, or the
session's agent at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.emulator.server import NO_RULE_MATCHED
from engine.flow.model import ESCALATION_TOOL
from engine.flow.names import TRANSFER_PREFIX
from engine.session.actions import Action, Audit, Transcript
from engine.session.audit import AuditRecord
from engine.wire.protocol import ProtocolError

__all__ = ["Observation", "Recorder", "TurnObservation"]

EXCERPT_LINES = 12
"""Transcript lines a failure report shows at most."""


@dataclass
class TurnObservation:
    """One user turn: what was said, the audit records it caused and who answers after it."""

    index: int
    user: str
    agent: str = ""
    records: list[AuditRecord] = field(default_factory=list)
    said: list[str] = field(default_factory=list)
    """What the assistant said in the turn, in order."""
    misses: list[str] = field(default_factory=list)
    """Emulator answers that matched no script rule."""
    lines: list[str] = field(default_factory=list)
    """The turn's transcript, one ``who: text`` line per event."""

    def outcomes(self, kind: str) -> list[str]:
        return [r.outcome for r in self.records if r.kind == kind]

    def handoffs(self) -> list[AuditRecord]:
        return [r for r in self.records if r.kind == "handoff"]

    def carried(self) -> list[str] | None:
        """The trusted keys the turn's last handoff carried (``None``: no handoff in the turn)."""
        moved = [r for r in self.handoffs() if r.outcome != "refused"]
        return list(moved[-1].carried) if moved else None

    def history(self) -> list[str]:
        """The history policy of each done handoff (as its contract asks: a failed summary still counts)."""
        return [
            str(r.detail.get("requested_history", r.detail.get("history", "")))
            for r in self.handoffs()
            if r.outcome == "done"
        ]

    def tools(self) -> list[str]:
        """Functions called in the turn, in order: flow tools, ``transfer_to_<agent>``, the escalation tool."""
        names: list[str] = []
        for r in self.records:
            if r.kind == "tool":
                names.append(str(r.detail.get("tool", "")))
            elif r.kind == "handoff":
                names.append(TRANSFER_PREFIX + str(r.detail.get("requested", r.to_agent)))
            elif r.kind == "escalation":
                names.append(ESCALATION_TOOL)
        return names


@dataclass
class Observation:
    """A whole run: its turns, every record, and the end state."""

    turns: list[TurnObservation] = field(default_factory=list)
    records: list[AuditRecord] = field(default_factory=list)
    agent: str = ""
    depth: int = 0
    context: dict[str, Any] = field(default_factory=dict)
    """Every trusted key the conversation learnt (values as the core holds them)."""
    error: str | None = None
    """Why the run stopped before its end (an upstream drop, a timeout, a tool that cannot be bound)."""
    finished: bool = False

    def excerpt(self, turn: int | None, limit: int = EXCERPT_LINES) -> list[str]:
        """The transcript around ``turn`` (its lines, else the last ones of the run)."""
        if turn is not None and turn < len(self.turns):
            return self.turns[turn].lines[:limit]
        lines = [line for t in self.turns for line in t.lines]
        return lines[-limit:]


class Recorder:
    """An ``on_action`` callback that builds an :class:`Observation`; :meth:`finish` closes it."""

    def __init__(self) -> None:
        self.observation = Observation()
        self._current: TurnObservation | None = None

    def __call__(self, action: Action | ProtocolError) -> None:
        obs = self.observation
        if isinstance(action, Audit):
            obs.records.append(action.record)
            if self._current is not None:
                self._current.records.append(action.record)
            return
        if not isinstance(action, Transcript):
            return
        if action.kind == "user":
            if self._current is not None:
                self._current.agent = action.agent
            self._current = TurnObservation(len(obs.turns), action.text)
            obs.turns.append(self._current)
        turn = self._current
        if turn is None:
            return
        who = "user" if action.kind == "user" else action.agent if action.kind == "assistant" else action.kind
        turn.lines.append(f"{who}: {action.text}")
        if action.kind == "assistant":
            turn.said.append(action.text)
            if action.text.startswith(NO_RULE_MATCHED):
                turn.misses.append(action.text.removeprefix(NO_RULE_MATCHED).lstrip(": "))

    def finish(
        self, agent: str, depth: int, context: dict[str, Any], error: str | None = None
    ) -> Observation:
        obs = self.observation
        if self._current is not None:
            self._current.agent = agent
        obs.agent, obs.depth, obs.context, obs.error = agent, depth, context, error
        obs.finished = error is None
        return obs
