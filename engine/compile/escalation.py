"""The chat-supervisor escalation machine: ``chatting`` <-> ``escalated``, compiled from a flow's supervisor.

- ``escalate``  chatting -> escalated, only while the escalation budget lasts (guard ``has_budget``);
- ``resolve``   escalated -> chatting: the supervisor answered on the state it was asked about;
- ``time_out``  escalated -> chatting: no answer within ``timeout_s``, a fallback answer is spoken;
- ``abandon``   escalated -> chatting: the user spoke again, or the state drifted: the answer is stale, unspoken;
- ``fail``      escalated -> chatting: the backend failed; a fallback answer is spoken.
"""

from __future__ import annotations

from typing import Any

from statemachine import State, StateMachine

from engine.flow.model import Supervisor


class EscalationMachine(StateMachine):
    chatting = State(initial=True)
    escalated = State()

    escalate = chatting.to(escalated, cond="has_budget")
    resolve = escalated.to(chatting)
    time_out = escalated.to(chatting)
    abandon = escalated.to(chatting)
    fail = escalated.to(chatting)

    def __init__(self, budget: int, **kwargs: Any) -> None:
        self.budget = budget
        self.used = 0
        super().__init__(**kwargs)

    def has_budget(self) -> bool:
        return self.used < self.budget

    def on_escalate(self) -> None:
        self.used += 1

    @property
    def is_escalated(self) -> bool:
        return bool(self.escalated.is_active)


def escalation_machine(supervisor: Supervisor) -> EscalationMachine:
    """A fresh escalation machine for one conversation, with the supervisor's budget."""
    return EscalationMachine(supervisor.max_escalations)
