"""One conversation as OpenTelemetry spans, derived from what the core does (its actions and audit records).

::

    switchboard.conversation            gen_ai.conversation.id, switchboard.flow, switchboard.flow_hash
    ├── switchboard.turn                 one per user turn: gen_ai.agent.name (the agent that answered)
    │   ├── switchboard.handoff          from, to, outcome, reason, carried, history
    │   ├── execute_tool NAME            gen_ai.operation.name = execute_tool, gen_ai.tool.name, call id, outcome
    │   └── switchboard.escalation       outcome, latency; the supervisor's call (``chat MODEL``) its child
    └── ...

The conversation span's parent is the client's W3C ``traceparent`` (handshake header) when it sent one; a
resumed conversation continues the trace of the connection it resumes (its ``traceparent`` is kept with the
snapshot), so a call is one trace however many relays it crossed. Times of tool and escalation spans come
from their audit records (``latency_s``). Without OpenTelemetry installed every method does nothing.
"""

from __future__ import annotations

from typing import Any

from engine import tracing
from engine.session.actions import Action, Audit, Transcript
from engine.session.audit import AuditRecord

NS = 1_000_000_000


class ConversationTrace:
    def __init__(
        self, conversation_id: str, flow: str, flow_hash: str, parent: Any = None, *, resumed: bool = False
    ) -> None:
        attributes = {
            "gen_ai.conversation.id": conversation_id,
            "gen_ai.provider.name": "openai",
            "switchboard.flow": flow,
            "switchboard.flow_hash": flow_hash,
            "switchboard.resumed": resumed,
        }
        self.root = tracing.start("switchboard.conversation", attributes, parent=parent, kind="SERVER")
        self.turn: Any = None
        self._escalations: dict[str, Any] = {}

    @property
    def traceparent(self) -> str | None:
        """The conversation span as a ``traceparent`` (what a resume continues)."""
        return tracing.traceparent_of(self.root)

    def observe(self, action: Action | Any) -> None:
        if self.root is None:
            return
        if isinstance(action, Transcript) and action.kind == "user":
            self._end_turn()
            self.turn = tracing.start(
                "switchboard.turn", {"gen_ai.agent.name": action.agent}, parent=self.root
            )
        elif isinstance(action, Transcript) and action.kind == "assistant" and self.turn is not None:
            self.turn.set_attribute("gen_ai.agent.name", action.agent)
        elif isinstance(action, Audit):
            self._record(action.record)

    def escalation(self, escalation_id: str, agent: str) -> Any:
        """Start the escalation's span (a child of the turn); the supervisor's own spans, started while it is
        current (:func:`engine.tracing.current`), are its children. It ends with the escalation's record."""
        span = tracing.start(
            "switchboard.escalation",
            {"switchboard.escalation.id": escalation_id, "gen_ai.agent.name": agent},
            parent=self.turn or self.root,
        )
        self._escalations[escalation_id] = span
        return span

    def close(self) -> None:
        for span in self._escalations.values():
            tracing.end(span, {"switchboard.escalation.outcome": "unfinished"})
        self._escalations.clear()
        self._end_turn()
        tracing.end(self.root)
        self.root = None

    def _end_turn(self) -> None:
        tracing.end(self.turn)
        self.turn = None

    def _record(self, r: AuditRecord) -> None:
        parent = self.turn or self.root
        at = int(r.time * NS)
        latency = r.detail.get("latency_s")
        began = at - int(float(latency) * NS) if isinstance(latency, int | float) else at
        if r.kind == "handoff":
            attributes = {
                "switchboard.handoff.from": r.from_agent,
                "switchboard.handoff.to": r.to_agent or "",
                "switchboard.handoff.outcome": r.outcome,
                "switchboard.handoff.reason": r.reason,
                "switchboard.handoff.carried": list(r.carried),
                "switchboard.handoff.history": str(r.detail.get("history", "keep")),
                "switchboard.depth": r.depth,
            }
            span = tracing.start("switchboard.handoff", attributes, parent=parent, start_time_ns=at)
            tracing.end(span, end_time_ns=at)
        elif r.kind == "tool":
            name = str(r.detail.get("tool", "?"))
            attributes = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": name,
                "gen_ai.tool.call.id": str(r.detail.get("call_id", "")),
                "switchboard.tool.outcome": r.outcome,
                "gen_ai.agent.name": r.from_agent,
            }
            span = tracing.start(f"execute_tool {name}", attributes, parent=parent, start_time_ns=began)
            error = None if r.outcome == "ok" else r.outcome
            tracing.end(span, end_time_ns=at, error=error)
        elif r.kind == "escalation":
            escalation_id = str(r.detail.get("escalation_id", ""))
            span = self._escalations.pop(escalation_id, None)
            attributes = {
                "switchboard.escalation.outcome": r.outcome,
                "switchboard.escalation.reason": r.reason,
            }
            if span is None:  # never started (over budget): a span of its own
                span = tracing.start("switchboard.escalation", attributes, parent=parent, start_time_ns=began)
            tracing.end(
                span, attributes, end_time_ns=at, error=None if r.outcome == "answered" else r.outcome
            )
        elif r.kind == "resume":
            self.root.set_attribute("switchboard.resume.outcome", r.outcome)
