"""The orchestration core, sans-I/O: realtime server events in, client events (and other actions) out.

One :class:`Session` per conversation. It owns the handoff machine instance, the handoff depth, visits per
agent, the context store, the tool budgets and the response-in-flight flag (never two ``response.create`` at
once). It never touches a socket or a clock it was not given: tools run in the I/O layer (:class:`RunTool`
out, :meth:`Session.tool_result` in), audit records go out as :class:`Audit` actions.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from engine.compile.escalation import escalation_machine
from engine.compile.handoff import RECOVER, transfer_event
from engine.compile.pipeline import CompiledFlow
from engine.compile.plan import FlowPlan
from engine.flow.model import ESCALATION_TOOL, TRANSFER_PREFIX, Flow
from engine.session import events as ev
from engine.session import history as hist
from engine.session import snapshot as snap
from engine.session.actions import (
    Action,
    Audit,
    CancelEscalation,
    Escalate,
    EscalationRequest,
    ProtocolProblem,
    RunTool,
    Send,
    ToolFailure,
    Transcript,
)
from engine.session.audit import AuditRecord, Kind, Outcome, audit_payload, flow_hash
from engine.session.call_view import UNREAD
from engine.session.client_view import DROPPED_SESSION_KEYS
from engine.session.config import agent_update, session_update
from engine.session.context import initial_context as checked_context
from engine.session.redact import Redactor, masked


@dataclass(frozen=True)
class Status:
    """Where a conversation stands: see :meth:`Session.status`."""

    agent: str
    depth: int
    visits: dict[str, int]
    response_in_flight: bool
    response_owed: bool
    """A ``response.create`` is owed once the active response is done and no tool is outstanding."""
    pending_tools: tuple[str, ...]
    """Call ids of the tools running now."""
    escalation: str | None
    """The escalation machine's state (``chatting``/``escalated``); ``None`` without a supervisor."""
    pending_escalation: str | None
    """The id of the escalation the supervisor is working on."""
    escalations_left: int | None
    user_turns: int
    version: int
    """Bumped whenever the context or the current agent changes (supervisor answers are checked against it)."""
    tool_calls_left: int = 0
    """Function calls the current agent may still make in this user turn (``max_tool_calls_per_turn``)."""
    refused_in_a_row: int = 0
    """Refused function calls in a row (past the agent's ``max_refused_calls``: recovery)."""


@dataclass
class _PendingTool:
    name: str
    agent: str
    arguments: Any
    """The validated arguments (a dict); for a call refused before it ran, whatever it sent."""
    started: float


MODEL_ERRORS: dict[ToolFailure, str] = {
    "failed": "the tool failed",
    "timed_out": "the tool timed out",
    "refused": "the tool is not available right now",
}
"""What the model is told when a tool that ran (or was to run) has no result; the detail goes to the audit."""


@dataclass
class _HistoryJob:
    """A handoff waiting for its history policy: the deletions (and, for ``summary``, the note) to land."""

    call: ev.FunctionCallDone
    target: str
    reason: str
    carry: list[str] | None
    supplied: dict[str, Any]
    policy: str
    """``reset`` or ``summary`` (the policy being carried out now)."""
    requested: str
    earlier: list[hist.Item]
    started: float
    deadline: float
    deleting: set[str]
    prefix: str
    """The ``event_id`` prefix of this job's client events (errors echo it)."""
    summary_id: str | None = None
    """The out-of-band summary response, once ``response.created`` named it."""
    summary_owed: bool = False
    """The summary is to be asked for once the active response is done."""
    fallback: str | None = None
    """Why ``summary`` fell back to ``reset``."""
    summary: str = ""
    """The summary's text, once it is in."""
    sent: list[str] = field(default_factory=list)
    """The item ids of the deletions sent, in order (``event_id`` ``PREFIX-del-N`` names the N-th)."""


@dataclass
class _PendingEscalation:
    request: EscalationRequest
    call_id: str
    started: float


def _job_record(job: _HistoryJob) -> dict[str, Any]:
    return {
        "call": snap.call_of(job.call),
        "target": job.target,
        "reason": job.reason,
        "carry": job.carry,
        "supplied": dict(job.supplied),
        "policy": job.policy,
        "requested": job.requested,
        "earlier": snap.items_of(job.earlier),
        "started": job.started,
        "deadline": job.deadline,
        "deleting": sorted(job.deleting),
        "prefix": job.prefix,
        "summary_id": job.summary_id,
        "summary_owed": job.summary_owed,
        "fallback": job.fallback,
        "summary": job.summary,
        "sent": list(job.sent),
    }


def _job_of(r: dict[str, Any]) -> _HistoryJob:
    return _HistoryJob(
        snap.call(r["call"]),
        str(r["target"]),
        str(r["reason"]),
        None if r["carry"] is None else [str(k) for k in r["carry"]],
        dict(r["supplied"]),
        str(r["policy"]),
        str(r["requested"]),
        [snap.item(i) for i in r["earlier"]],
        float(r["started"]),
        float(r["deadline"]),
        set(r["deleting"]),
        str(r["prefix"]),
        r["summary_id"],
        bool(r["summary_owed"]),
        r["fallback"],
        str(r["summary"]),
        [str(i) for i in r["sent"]],
    )


class Session:
    """The state of one conversation over a compiled flow."""

    def __init__(
        self,
        compiled: CompiledFlow,
        conversation_id: str,
        *,
        clock: Callable[[], float],
        modalities: tuple[str, ...] = ("text",),
        initial_context: dict[str, Any] | None = None,
        history_timeout_s: float = 5.0,
        _start: str | None = None,
    ) -> None:
        """``_start`` is :meth:`restore`'s: the agent the machine starts in (no entry actions run)."""
        self._plan = FlowPlan.of(compiled)
        self._flow: Flow = compiled.flow
        self._conversation_id = conversation_id
        self._clock = clock
        self._modalities = modalities
        self._machine = compiled.machine() if _start is None else compiled.machine(start_value=_start)
        self._agent = self._machine.agent
        """The machine's current agent, kept in step with it (read for every event a relay forwards)."""
        self._depth = 0
        self._visits: Counter[str] = Counter({self._flow.flow.entry: 1})
        self._context: dict[str, Any] = checked_context(compiled.flow, initial_context or {}, complete=False)
        """Trusted values: set by a tool's result or supplied by the embedding application (initial context)."""
        self._claims: dict[str, str] = {}
        """Claimed values: what the model passed as a transfer argument. They travel, marked as unverified,
        but never satisfy ``requires``; a tool setting the key replaces the claim."""
        self._visible: set[str] = set(self._context)
        self._redact = Redactor(self._flow.sensitive)
        self._redact.learn(self._context)
        self._response_in_flight = False
        self._want_response = False
        self._pending_tools: dict[str, _PendingTool] = {}
        self._history: list[tuple[str, str]] = []
        """``(role, text)`` of the conversation so far: ``user`` / ``assistant`` (only appended to, or
        replaced by a new list: :attr:`_history_json` relies on it)."""
        self._history_json = snap.AppendedJSON()
        self._user_turns = 0
        self._version = 0
        """Bumped whenever the context or the current agent changes: supervisor answers are checked against it."""
        supervisor = self._flow.supervisor
        self._escalation = escalation_machine(supervisor) if supervisor is not None else None
        self._pending_escalation: _PendingEscalation | None = None
        self._seq = 0
        self._escalations = 0
        self._turn_calls: Counter[str] = Counter()
        """Function calls per agent since the last user turn."""
        self._refused_streak = 0
        """Refused function calls in a row (reset by an accepted call and by a user turn)."""
        self._refused_now = False
        """Set while handling a call that is refused (so it does not end the run of refusals)."""
        self._items = hist.Items()
        """The conversation's items as the server reported them (``reset``/``summary`` delete them)."""
        self._history_timeout_s = history_timeout_s
        self._job: _HistoryJob | None = None
        self._jobs = 0
        self._hash: str | None = None
        """The flow's content hash, computed at the first snapshot."""
        self._summaries: set[str] = set()
        """Ids of the out-of-band summary responses under way (a late one is ignored, never taken for ours)."""

    # -- durable state ----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything this session owns as a versioned, JSON-able record (:mod:`engine.session.snapshot`)."""
        return {
            **self._snapshot_head(),
            "history": [list(pair) for pair in self._history],
            "items": snap.items_of(self._items.values()),
        }

    def snapshot_json(self) -> str:
        """:meth:`snapshot` as compact JSON, at a fraction of ``json.dumps``'s cost in a long call: the
        history and the items (what grows with the call) are encoded once each (cached), the rest each time."""
        head = hist.compact_json(self._snapshot_head())
        history = self._history_json.encode(self._history)
        return f'{head[:-1]},"history":{history},"items":{self._items.encoded()}}}'

    def _snapshot_head(self) -> dict[str, Any]:
        """The snapshot but its history and items."""
        job = self._job
        escalation = self._escalation
        pending = self._pending_escalation
        return {
            "version": snap.SNAPSHOT_VERSION,
            "flow_hash": self._flow_hash(),
            "conversation_id": self._conversation_id,
            "modalities": list(self._modalities),
            "history_timeout_s": self._history_timeout_s,
            "agent": self._agent,
            "depth": self._depth,
            "visits": dict(self._visits),
            "context": dict(self._context),
            "claims": dict(self._claims),
            "visible": sorted(self._visible),
            "learnt": self._redact.learnt(),
            "response_in_flight": self._response_in_flight,
            "want_response": self._want_response,
            "pending_tools": {
                call_id: {"name": t.name, "agent": t.agent, "arguments": t.arguments, "started": t.started}
                for call_id, t in self._pending_tools.items()
            },
            "user_turns": self._user_turns,
            "state_version": self._version,
            "escalation": None
            if escalation is None
            else {"escalated": escalation.is_escalated, "used": escalation.used},
            "pending_escalation": None
            if pending is None
            else {
                "request": snap.request_of(pending.request),
                "call_id": pending.call_id,
                "started": pending.started,
            },
            "seq": self._seq,
            "escalations": self._escalations,
            "turn_calls": dict(self._turn_calls),
            "refused_streak": self._refused_streak,
            "job": None if job is None else _job_record(job),
            "jobs": self._jobs,
            "summaries": sorted(self._summaries),
        }

    def _flow_hash(self) -> str:
        if self._hash is None:
            self._hash = flow_hash(self._flow)
        return self._hash

    @classmethod
    def restore(
        cls, compiled: CompiledFlow, record: dict[str, Any], *, clock: Callable[[], float]
    ) -> Session:
        """The session ``record`` (from :meth:`snapshot`) describes, on the same flow; it then behaves as the
        original would. Raises :class:`~engine.session.snapshot.SnapshotError` for another version or flow,
        or a malformed record."""
        snap.check_version(record)
        if record.get("flow_hash") != flow_hash(compiled.flow):
            raise snap.SnapshotError("the snapshot was taken on another flow (its content hash differs)")
        try:
            return cls._restored(compiled, record, clock)
        except snap.MALFORMED as exc:
            raise snap.SnapshotError(f"malformed snapshot: {type(exc).__name__}: {exc}") from None

    @classmethod
    def resume(
        cls, compiled: CompiledFlow, record: dict[str, Any], *, clock: Callable[[], float], seen_seq: int = 0
    ) -> tuple[Session, list[Action]]:
        """Continue the conversation ``record`` (a :meth:`snapshot`) on a fresh upstream connection; returns
        the session and its first actions (instead of :meth:`start`'s): the agent's ``session.update``, the
        conversation's messages re-created (:func:`~engine.session.history.reseed_events`) and a ``resume``
        audit record.

        What was in flight when the snapshot was taken (a response, tool calls, an escalation, a history
        job) is not replayed: the fresh upstream knows none of it; the next user turn starts afresh. A
        snapshot of another flow (its content hash differs) continues at the same agent if the flow still
        has it and its ``requires`` are all trusted, else at the recovery agent (``recovered``); visits and
        tool budgets of agents the flow no longer has are dropped. Audit records number on from the
        snapshot's sequence or ``seen_seq`` (the highest the audit sink holds), whichever is higher."""
        snap.check_version(record)
        flow = compiled.flow
        was, now = record.get("flow_hash"), flow_hash(flow)
        r = {
            **record,
            "flow_hash": now,
            "response_in_flight": False,
            "want_response": False,
            "pending_tools": {},
            "pending_escalation": None,
            "job": None,
            "summaries": [],
            "turn_calls": {},
            "refused_streak": 0,
        }
        outcome: Outcome = "resumed"
        rule = "the same flow"
        try:
            if was != now:
                agent = str(record["agent"])
                kept = agent in flow.agents and all(
                    k in record["context"] for k in flow.agents[agent].requires
                )
                if not kept:
                    r["agent"], outcome = flow.flow.recovery, "recovered"
                rule = (
                    "another flow: the agent and its requires still hold"
                    if kept
                    else f"another flow: '{agent}' or its requires are gone, so the recovery agent"
                )
                r["visits"] = {a: n for a, n in record["visits"].items() if a in flow.agents}
                if not flow.supervisor:
                    r["escalation"] = None
            session = cls._restored(compiled, r, clock)
            session._seq = max(session._seq, seen_seq)
            seeded = list(session._items.values())
            session._items = hist.Items()
            prefix = f"sb-{session._conversation_id}-r"
            actions: list[Action] = [
                Send(session._session_update()),
                *(Send(event) for event in hist.reseed_events(seeded, prefix)),
                session._audit(
                    "resume",
                    outcome,
                    str(record["agent"]),
                    session._agent,
                    rule,
                    detail={"flow_hash_was": was, "messages": len(seeded), "user_turns": session._user_turns},
                ),
            ]
            return session, session._redact.actions(actions)
        except snap.MALFORMED as exc:  # a store is outside
            raise snap.SnapshotError(f"malformed snapshot: {type(exc).__name__}: {exc}") from None

    @classmethod
    def _restored(cls, compiled: CompiledFlow, r: dict[str, Any], clock: Callable[[], float]) -> Session:
        agent = str(r["agent"])
        if agent not in compiled.flow.agents:
            raise ValueError(f"no agent {agent!r} in the flow")
        session = cls(
            compiled,
            str(r["conversation_id"]),
            clock=clock,
            modalities=tuple(r["modalities"]),
            history_timeout_s=float(r["history_timeout_s"]),
            _start=agent,
        )
        session._depth = int(r["depth"])
        session._visits = Counter({str(k): int(v) for k, v in r["visits"].items()})
        session._context = dict(r["context"])
        session._claims = {str(k): str(v) for k, v in r["claims"].items()}
        session._visible = set(_strings(r["visible"]))
        session._redact.restore(r["learnt"])
        session._response_in_flight = bool(r["response_in_flight"])
        session._want_response = bool(r["want_response"])
        session._pending_tools = {
            str(call_id): _PendingTool(t["name"], t["agent"], t["arguments"], float(t["started"]))
            for call_id, t in r["pending_tools"].items()
        }
        session._history = [(str(role), str(text)) for role, text in r["history"]]
        session._user_turns = int(r["user_turns"])
        session._version = int(r["state_version"])
        escalation = r["escalation"]
        if session._escalation is not None and escalation is not None:
            if escalation["escalated"]:
                session._escalation = type(session._escalation)(
                    session._escalation.budget, start_value="escalated"
                )
            session._escalation.used = int(escalation["used"])
        pending = r["pending_escalation"]
        if pending is not None:
            request = snap.escalation_request(pending["request"])
            session._pending_escalation = _PendingEscalation(
                request, str(pending["call_id"]), float(pending["started"])
            )
        session._seq = int(r["seq"])
        session._escalations = int(r["escalations"])
        session._turn_calls = Counter({str(k): int(v) for k, v in r["turn_calls"].items()})
        session._refused_streak = int(r["refused_streak"])
        for data in r["items"]:
            session._items.put(snap.item(data))
        session._job = None if r["job"] is None else _job_of(r["job"])
        session._jobs = int(r["jobs"])
        session._summaries = set(r["summaries"])
        return session

    # -- queries ------------------------------------------------------------------------------------------

    @property
    def conversation_id(self) -> str:
        return self._conversation_id

    @property
    def agent(self) -> str:
        """The agent the conversation is with now."""
        return self._agent

    @property
    def depth(self) -> int:
        """Handoffs so far (the depth cap counts these)."""
        return self._depth

    @property
    def modalities(self) -> tuple[str, ...]:
        return self._modalities

    @property
    def idle(self) -> bool:
        """Nothing in flight, nothing owed: the next user turn may come."""
        return self.can_interrupt and self._pending_escalation is None

    @property
    def can_interrupt(self) -> bool:
        """No response in flight or owed and no tool outstanding: a user may barge in (even on an escalation)."""
        return not (
            self._response_in_flight or self._want_response or self._pending_tools or self._job is not None
        )

    @property
    def deadline(self) -> float | None:
        """When (on the session's clock) :meth:`tick` must be called: a handoff's history wait ends."""
        return None if self._job is None else self._job.deadline

    def time_left(self) -> float | None:
        """Seconds (of the session's clock) until :attr:`deadline`; ``None`` when nothing waits."""
        return None if self._job is None else max(0.0, self._job.deadline - self._clock())

    def reads_nothing_of(self, kind: str) -> bool:
        """Whether a server event of type ``kind`` can go past the core unread, straight to a relay's client:
        a streaming delta (:data:`UNREAD`), while no history job is in flight (its summary response's deltas
        are the core's own, see :meth:`is_internal`)."""
        return kind in UNREAD and self._job is None and not self._summaries

    def is_internal(self, event: Any) -> bool:
        """Whether a server event belongs to the core's own history work (the out-of-band summary response,
        an error answering one of its events): a relay keeps it from the client. Ask before :meth:`receive`."""
        if not isinstance(event, dict) or (self._job is None and not self._summaries):
            return False
        if event.get("type") == "error":
            error = event.get("error")
            prefix = f"sb-{self._conversation_id}-h"
            return isinstance(error, dict) and str(error.get("event_id") or "").startswith(prefix)
        response = event.get("response")
        if isinstance(response, dict):
            metadata = response.get("metadata")
            if isinstance(metadata, dict) and metadata.get("switchboard") == hist.SUMMARY_PURPOSE:
                return True
            return _is_str_in(response.get("id"), self._summaries)
        return _is_str_in(event.get("response_id"), self._summaries)

    def item_ids(self) -> list[str]:
        """The ids of the conversation's items, as the server reported them (oldest first)."""
        return self._items.ids()

    def status(self) -> Status:
        """A snapshot of where the conversation stands (for drivers, error messages and tests)."""
        escalation = self._escalation
        return Status(
            agent=self.agent,
            depth=self._depth,
            visits=dict(self._visits),
            response_in_flight=self._response_in_flight,
            response_owed=self._want_response,
            pending_tools=tuple(sorted(self._pending_tools)),
            escalation=None
            if escalation is None
            else ("escalated" if escalation.is_escalated else "chatting"),
            pending_escalation=(
                None if self._pending_escalation is None else self._pending_escalation.request.escalation_id
            ),
            escalations_left=None if escalation is None else escalation.budget - escalation.used,
            user_turns=self._user_turns,
            version=self._version,
            tool_calls_left=max(0, self._budgets(self.agent)[0] - self._turn_calls[self.agent]),
            refused_in_a_row=self._refused_streak,
        )

    def visible_context(self) -> dict[str, Any]:
        """The trusted context the current agent may see (what its contract carried, plus what its tools set)."""
        return {k: self._context[k] for k in sorted(self._visible) if k in self._context}

    def visible_claims(self) -> dict[str, str]:
        """The claimed (model-supplied, unverified) values the current agent may see."""
        return {k: self._claims[k] for k in sorted(self._visible) if k in self._claims}

    def context_view(self) -> dict[str, Any]:
        """What a person watching the conversation may see of it now (the playground): the agent, the depth,
        and the trusted and claimed values the agent sees, sensitive ones masked."""
        return {
            "agent": self._agent,
            "depth": self._depth,
            "trusted": self._redact.data(self.visible_context()),
            "claimed": self._redact.data(self.visible_claims()),
        }

    def known_context(self) -> dict[str, Any]:
        """Every trusted value the conversation has learnt, visible to the current agent or not (a copy)."""
        return dict(self._context)

    def history(self) -> list[tuple[str, str]]:
        """``(role, text)`` of the conversation so far, ``user`` / ``assistant`` (a copy)."""
        return list(self._history)

    # -- inputs ---------------------------------------------------------------------------------------------

    @masked
    def start(self) -> list[Action]:
        """The first actions of a conversation: configure the entry agent."""
        return [Send(self._session_update())]

    @masked
    def user_text(self, text: str) -> list[Action]:
        """A typed user turn: add it to the conversation and ask for a response."""
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        send = Send({"type": "conversation.item.create", "item": item})
        return [*self._user_said(text), send, *self._request_response()]

    @masked
    def client_event(self, event: dict[str, Any]) -> list[Action]:
        """An event from a downstream Realtime client (relay mode), on its way upstream.

        The flow owns each agent's instructions and tools, so a client's ``session.update`` loses
        ``instructions``, ``tools``, ``tool_choice`` and ``model`` (a ``notice`` names the dropped keys; the
        rest, e.g. audio settings, goes on); the relay refuses the other overrides before they get here
        (:mod:`engine.session.client_view`). A user message counts as a user turn (and barges in on a
        pending escalation); a client's ``response.create`` marks a response in flight, so the core never
        starts a second one. Function calls are the flow's (:mod:`engine.session.call_view`): a client's
        ``function_call_output`` is dropped, never forwarded, and noted in the transcript.
        """
        kind = event.get("type")
        actions: list[Action] = []
        if kind == "session.update" and isinstance(event.get("session"), dict):
            dropped = sorted(DROPPED_SESSION_KEYS & set(event["session"]))
            if dropped:
                actions.append(
                    Transcript("notice", self.agent, f"client session.update: dropped {', '.join(dropped)}")
                )
            session = {k: v for k, v in event["session"].items() if k not in DROPPED_SESSION_KEYS}
            if isinstance(session.get("output_modalities"), list):
                self._modalities = tuple(session["output_modalities"])
            if set(session) <= {"type"}:
                return actions
            event = {**event, "session": session}
        elif kind == "conversation.item.create" and isinstance(event.get("item"), dict):
            item = event["item"]
            if item.get("type") == "function_call_output":
                call_id = item.get("call_id")
                why = "function calls are the flow's; the relay answers them"
                return [
                    Transcript(
                        "notice", self.agent, f"client function_call_output for {call_id!r} dropped: {why}"
                    )
                ]
            if item.get("type") == "message" and item.get("role") == "user":
                content = item.get("content")
                parts = content if isinstance(content, list) else []
                text = " ".join(str(p.get("text", "")) for p in parts if isinstance(p, dict)).strip()
                actions += self._user_said(text)
        elif kind == "response.create":
            self._response_in_flight = True
        return [*actions, Send(event)]

    @masked
    def finish(self) -> list[Action]:
        """The conversation is over: a ``failed`` record for each tool still running (its result will not
        be used), then the closing record (user turns, final agent, escalations used)."""
        used = self._escalation.used if self._escalation is not None else 0
        abandoned = [
            self._tool_record(
                "failed", call_id, pending, why="the conversation ended before the tool answered"
            )
            for call_id, pending in sorted(self._pending_tools.items())
        ]
        self._pending_tools.clear()
        return [
            *abandoned,
            self._audit(
                "end", "ended", self.agent, detail={"user_turns": self._user_turns, "escalations": used}
            ),
        ]

    @masked
    def receive(self, event: Any) -> list[Action]:
        """Consume one server event (a decoded JSON object); return what to do."""
        parsed = ev.parse_server_event(event)
        if isinstance(parsed, ev.FunctionCallDone) and self._redact:
            self._redact.learn(_arguments(parsed.arguments))
        if parsed is None:
            return []
        if isinstance(parsed, ProtocolProblem):
            return [parsed]
        return self._dispatch(parsed)

    @masked
    def tool_result(
        self, call_id: str, output: Any = None, *, error: str | None = None, outcome: ToolFailure = "failed"
    ) -> list[Action]:
        """The result of a :class:`RunTool`: ``output`` (JSON-able), or an ``error`` with its ``outcome``:
        ``failed`` (the tool raised: ``error`` is the exception), ``timed_out`` (no result within the
        call's ``timeout_s``) or ``refused`` (the runtime would not start it). The error goes to the audit
        record only; the model is told ``the tool failed`` (``timed out``, ``is not available right now``)."""
        self._redact.learn(output)
        pending = self._pending_tools.pop(call_id, None)
        if pending is None:
            return [Transcript("notice", self.agent, f"result for unknown tool call {call_id!r} ignored")]
        if error is not None:
            return self._conclude(
                call_id,
                {"error": MODEL_ERRORS[outcome]},
                self._tool_record(outcome, call_id, pending, why=error),
                Transcript("tool", pending.agent, f"{pending.name} {outcome.replace('_', ' ')}: {error}"),
            )
        tool = self._flow.tools[pending.name]
        if isinstance(output, dict) and any(key in output for key in tool.sets):
            self._version += 1
            for key in tool.sets:
                if key in output:
                    self._context[key] = output[key]
                    self._claims.pop(key, None)
                    self._visible.add(key)
        actions: list[Action] = [
            self._tool_record("ok", call_id, pending, result=output),
            Transcript("tool", pending.agent, f"{pending.name} -> {_short(output)}"),
        ]
        if tool.sets and self.agent == pending.agent:
            actions.append(Send(self._agent_update()))
        return self._conclude(call_id, output, *actions)

    # -- server events ------------------------------------------------------------------------------------------

    def _dispatch(self, event: BaseModel) -> list[Action]:
        job = self._job
        if isinstance(event, ev.ItemAdded):
            self._items.upsert(event.item.model_dump())
            return []
        if isinstance(event, ev.ItemDeleted):
            self._items.remove(event.item_id)
            return self._deleted(event.item_id) if job is not None else []
        if isinstance(event, ev.ResponseCreated):
            if (event.response.metadata or {}).get("switchboard") == hist.SUMMARY_PURPOSE:
                self._summaries.add(event.response.id)
                if job is not None and job.policy == "summary":
                    job.summary_id = event.response.id
                return []
            self._response_in_flight = True
            return []
        if isinstance(event, ev.ResponseDone):
            if event.response.id in self._summaries:
                self._summaries.discard(event.response.id)
                if job is not None and event.response.id == job.summary_id:
                    return self._summarised(job, event.response)
                return []  # a summary that came too late: the job fell back to reset already
            self._response_in_flight = False
            if job is not None and job.summary_owed:
                return self._ask_summary(job)
            return self._flush_response()
        if self._summaries and getattr(event, "response_id", None) in self._summaries:
            return []  # the out-of-band summary's own output: not part of the conversation
        if isinstance(event, ev.FunctionCallDone):
            return self._function_call(event)
        if isinstance(event, ev.TextDone | ev.AudioTranscriptDone):
            text = event.text if isinstance(event, ev.TextDone) else event.transcript
            self._history.append(("assistant", text))
            return [Transcript("assistant", self.agent, text)]
        if isinstance(event, ev.InputTranscription):
            self._items.transcribed(event.item_id, event.transcript)
            return self._user_said(event.transcript, barge_in=False)
        if isinstance(event, ev.SpeechStarted):
            self._new_turn()
            return self._barge_in("the user started speaking")
        if isinstance(event, ev.ErrorEvent):
            if job is not None and (event.error.event_id or "").startswith(job.prefix):
                return self._history_error(job, event.error)
            if event.error.code == "conversation_already_has_active_response":
                self._want_response = True  # ours was refused: ask again once the active one is done
            return [
                Transcript(
                    "notice",
                    self.agent,
                    f"upstream error: {event.error.message}",
                    {"code": event.error.code, "type": event.error.type},
                )
            ]
        return []

    def _function_call(self, call: ev.FunctionCallDone) -> list[Action]:
        """A completed function call, within the agent's budgets: past ``max_tool_calls_per_turn`` calls in
        this user turn it is not run and the conversation goes to the recovery agent (``recovered``)."""
        agent = self.agent
        per_turn, _ = self._budgets(agent)
        if self._turn_calls[agent] >= per_turn:
            why = f"the tool-call budget ({per_turn} calls per user turn) is used up"
            called = _PendingTool(call.name, agent, _arguments(call.arguments), self._clock())
            return self._over_budget(
                call,
                "max_tool_calls_per_turn",
                why,
                self._tool_record("refused", call.call_id, called, why=why),
                Transcript("tool", agent, f"{call.name} refused: {why}"),
            )
        self._turn_calls[agent] += 1
        self._refused_now = False
        actions = self._route_call(call)
        if not self._refused_now:
            self._refused_streak = 0  # an accepted call ends a run of refusals
        return actions

    def _route_call(self, call: ev.FunctionCallDone) -> list[Action]:
        """Validate a call, then hand off, escalate or run the tool (or refuse it)."""
        agent = self._plan.agents[self.agent]
        try:
            arguments = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as exc:
            return self._refuse_call(call, f"arguments are not valid JSON: {exc.msg}")
        if not isinstance(arguments, dict):
            return self._refuse_call(call, "arguments must be a JSON object")
        validator = agent.validators.get(call.name)
        if validator is None:
            if call.name.startswith(TRANSFER_PREFIX):
                target = call.name.removeprefix(TRANSFER_PREFIX)
                return self._refuse_handoff(
                    call, target, arguments, f"'{self.agent}' cannot transfer to '{target}'"
                )
            return self._refuse_call(call, f"unknown tool '{call.name}' for agent '{self.agent}'")
        problems = sorted(validator.iter_errors(arguments), key=lambda e: list(e.path))
        if problems:
            first = problems[0]
            where = ".".join(str(p) for p in first.path) or "arguments"
            if call.name in agent.transfers:
                return self._refuse_handoff(
                    call, agent.transfers[call.name], arguments, f"bad arguments ({where}): {first.message}"
                )
            return self._refuse_call(call, f"bad arguments for '{call.name}' ({where}): {first.message}")
        if call.name in agent.transfers:
            return self._handoff(call, agent.transfers[call.name], arguments)
        if call.name == ESCALATION_TOOL:
            return self._escalate(call, arguments)
        self._pending_tools[call.call_id] = _PendingTool(call.name, self.agent, arguments, self._clock())
        timeout = self._flow.tools[call.name].timeout_s
        if timeout is None:
            timeout = self._flow.flow.tool_timeout_s
        return [RunTool(call.call_id, call.name, arguments, self.agent, timeout)]

    # -- handoffs ------------------------------------------------------------------------------------------

    def _handoff(self, call: ev.FunctionCallDone, target: str, arguments: dict[str, Any]) -> list[Action]:
        source, reason = self.agent, str(arguments.get("reason", ""))
        recovery = self._flow.flow.recovery
        carry = self._plan.agents[source].carry[target]
        claimed = {  # carried keys the model states as arguments: claims, never facts; a trusted value wins
            k: arguments[k]
            for k in carry or []
            if isinstance(arguments.get(k), str) and k not in self._context
        }
        guard: tuple[Outcome, str, str] | None = None
        limit = self._flow.agents[target].max_visits
        if self._depth >= self._flow.flow.max_handoff_depth:
            cap = self._flow.flow.max_handoff_depth
            guard = ("capped", "max_handoff_depth", f"the handoff depth cap ({cap}) is reached")
        elif limit is not None and self._visits[target] >= limit:
            guard = ("recovered", "max_visits", f"'{target}' reached its visit budget ({limit})")
        if guard is not None:
            outcome, budget, why = guard
            if source == recovery:
                return self._refuse_handoff(
                    call, target, arguments, f"{why}; staying with '{recovery}'", guard=budget
                )
            return self._reroute(call.call_id, target, outcome, why, reason, guard=budget)
        trusted = self._visible.intersection(self._context)
        missing = [
            k
            for k in self._flow.agents[target].requires
            if k not in trusted or (carry is not None and k not in carry)
        ]
        if missing:
            unverified = [k for k in missing if k in claimed or k in self._claims]
            why = f"'{target}' requires {', '.join(missing)}, which is not known yet"
            if unverified:
                why += (
                    f" (a value stated in the conversation for {', '.join(unverified)} is a claim, "
                    "not a fact: a tool must set it)"
                )
            return self._refuse_handoff(call, target, arguments, why, claimed=claimed, missing=missing)
        if self._job is not None:  # e.g. a second transfer call in the same response
            return self._refuse_handoff(call, target, arguments, "another handoff is still under way")
        policy = hist.policy(self._flow, source, target)
        earlier = self._items.before(call.item_id, call.call_id)
        if policy == "keep" or not earlier:
            return self._transfer(call, target, reason, carry, claimed, {"history": policy})
        self._jobs += 1
        now = self._clock()
        job = _HistoryJob(
            call,
            target,
            reason,
            carry,
            claimed,
            policy,
            policy,
            earlier,
            now,
            now + self._history_timeout_s,
            set(),
            f"sb-{self._conversation_id}-h{self._jobs}",
        )
        self._job = job
        note = Transcript(
            "notice", source, f"history {policy}: {len(earlier)} earlier items before {source} -> {target}"
        )
        if policy == "reset":
            return [note, *self._delete(job)]
        if self._response_in_flight:
            job.summary_owed = True
            return [note]
        return [note, *self._ask_summary(job)]

    def _transfer(
        self,
        call: ev.FunctionCallDone,
        target: str,
        reason: str,
        carry: list[str] | None,
        supplied: dict[str, Any],
        detail: dict[str, Any],
    ) -> list[Action]:
        """The handoff itself: the contract, the transition, its audit record and the next agent's config."""
        source = self.agent
        self._claims.update(supplied)  # claims: they travel, marked unverified, and never satisfy requires
        self._visible |= supplied.keys()
        kept = self._apply_carry(carry)
        self._machine.send(transfer_event(target))
        self._agent = self._machine.agent
        self._version += 1
        self._depth += 1
        self._visits[target] += 1
        return self._conclude(
            call.call_id,
            {"status": "transferred", "to": target},
            self._audit(
                "handoff",
                "done",
                source,
                target,
                reason,
                carried=kept,
                detail={**detail, "claimed": self.visible_claims()} if self.visible_claims() else detail,
            ),
            Transcript("handoff", source, f"{source} -> {target}: {reason}", {"to": target, "carried": kept}),
            Send(self._agent_update()),
        )

    # -- history policy at a handoff (reset / summary) -------------------------------------------------

    def _delete(self, job: _HistoryJob) -> list[Action]:
        """Delete the earlier items (``reset``, or after the summary is in): wait for each confirmation."""
        ids = [item.id for item in job.earlier if item.id in self._items.ids()]
        job.policy, job.summary_owed = "reset", False
        job.deleting, job.sent = set(ids), ids
        job.deadline = self._clock() + self._history_timeout_s
        if not ids:
            return self._history_done(job)
        return [Send(e) for e in hist.delete_events(ids, f"{job.prefix}-del")]

    def _deleted(self, item_id: str) -> list[Action]:
        job = self._job
        if job is None or job.policy != "reset" or item_id not in job.deleting:
            return []
        job.deleting.discard(item_id)
        return [] if job.deleting else self._history_done(job)

    def _history_done(self, job: _HistoryJob) -> list[Action]:
        self._job = None
        self._history = [("system", hist.SUMMARY_PREFIX + job.summary)] if job.summary else []
        detail: dict[str, Any] = {
            "history": job.requested,
            "removed": len(job.earlier),
            "history_s": round(self._clock() - job.started, 6),
        }
        if job.fallback is not None:
            detail.update(history="reset", requested_history=job.requested, fallback=job.fallback)
        return self._transfer(job.call, job.target, job.reason, job.carry, job.supplied, detail)

    def _ask_summary(self, job: _HistoryJob) -> list[Action]:
        job.summary_owed = False
        carried = self._carried_values(job.carry)
        request = hist.summary_request(job.earlier, carried, self.agent, job.target, f"{job.prefix}-sum")
        return [Send(request)]

    def _summarised(self, job: _HistoryJob, response: ev.ResponseRef) -> list[Action]:
        """The summary is in: add it as one item and delete the originals (or fall back to ``reset``)."""
        job.summary_id = None
        text = hist.summary_text(response.output)
        dropped = {k: v for k, v in self._context.items() if k not in self._carried_values(job.carry)}
        key = hist.leaked(text, dropped)
        if response.status != "completed" or not text:
            return self._fall_back(job, f"the summary response ended {response.status} with no text")
        if key is not None:
            return self._fall_back(job, f"the summary repeated the value of '{key}', which is not carried")
        job.summary = text
        create = Send(hist.summary_item(text, f"{job.prefix}-item"))
        return [create, *self._delete(job)]

    def _fall_back(self, job: _HistoryJob, why: str) -> list[Action]:
        job.fallback = why
        note = Transcript("notice", self.agent, f"history summary failed ({why}): reset instead")
        return [note, *self._delete(job)]

    def _history_error(self, job: _HistoryJob, error: ev.ErrorDetail) -> list[Action]:
        """An ``error`` answering one of the job's events: a missing item is as good as deleted; a failed
        summary falls back to ``reset``; any other failed deletion fails the handoff."""
        event_id = error.event_id or ""
        if job.policy == "summary":
            return self._fall_back(job, f"upstream error: {error.message}")
        if error.code == "item_not_found" and event_id.startswith(f"{job.prefix}-del-"):
            number = int(event_id.rsplit("-", 1)[1])
            if 0 < number <= len(job.sent):
                gone = job.sent[number - 1]
                self._items.remove(gone)
                return self._deleted(gone)
        return self._history_failed(job, f"upstream error: {error.message}")

    def tick(self) -> list[Action]:
        """Call at :attr:`deadline`: a summary not in by then falls back to ``reset``; deletions not
        confirmed by then fail the handoff (the conversation goes to the recovery agent)."""
        job = self._job
        if job is None or self._clock() < job.deadline:
            return []
        if job.policy == "summary":
            job.summary_id = None
            return self._fall_back(job, f"no summary within {self._history_timeout_s:g}s")
        return self._history_failed(
            job, f"{len(job.deleting)} item deletions not confirmed within {self._history_timeout_s:g}s"
        )

    def _history_failed(self, job: _HistoryJob, why: str) -> list[Action]:
        """The earlier turns could not be removed: the target must not read them, so the conversation goes to
        the recovery agent instead (``recovered``), or stays with it if it is the source."""
        self._job = None
        why = f"history {job.requested} of {self.agent} -> {job.target} failed: {why}"
        if self.agent == self._flow.flow.recovery:
            arguments = json.loads(job.call.arguments or "{}")
            return self._refuse_handoff(job.call, job.target, arguments, why)
        return self._reroute(job.call.call_id, job.target, "recovered", why, job.reason, guard="history")

    def _carried_values(self, carry: list[str] | None) -> dict[str, Any]:
        visible = self._visible if carry is None else self._visible & set(carry)
        return {k: self._context[k] for k in sorted(visible) if k in self._context}

    def _reroute(
        self, call_id: str, requested: str, outcome: Outcome, why: str, reason: str, *, guard: str
    ) -> list[Action]:
        """A guardrail overrides a transfer: go to the recovery agent instead, and tell the model why.

        ``guard`` names the guardrail in the audit record (``max_handoff_depth``, ``max_visits``, a tool or
        escalation budget, ``history``)."""
        source, recovery = self.agent, self._flow.flow.recovery
        kept = self._apply_carry(self._flow.flow.fallback_carry)
        self._machine.send(RECOVER)
        self._agent = self._machine.agent
        self._version += 1
        self._visits[recovery] += 1
        message = (
            f"Transfer to '{requested}' not possible: {why}."
            if requested != recovery
            else f"{why[:1].upper()}{why[1:]}."
        ) + f" You are now talking to '{recovery}'."
        return self._conclude(
            call_id,
            {"status": outcome, "to": recovery, "why": why, "message": message},
            self._audit(
                "handoff",
                outcome,
                source,
                recovery,
                reason,
                carried=kept,
                detail={"requested": requested, "why": why, "guard": guard},
            ),
            Transcript(
                "handoff",
                source,
                f"{source} -> {recovery} ({outcome}: {why})",
                {"to": recovery, "requested": requested, "outcome": outcome},
            ),
            Send(self._agent_update()),
        )

    def _apply_carry(self, carry: list[str] | None) -> tuple[str, ...]:
        """Apply a contract: only ``carry`` keys stay visible (``None``: all but the flow's sensitive keys, which
        travel only where a contract names them); the values stay in the store.

        Returns the trusted keys that stay visible (claims are audited on their own)."""
        if carry is not None:
            self._visible &= set(carry)
        else:
            self._visible -= self._flow.sensitive
        return tuple(sorted(k for k in self._visible if k in self._context))

    def _refuse_handoff(
        self,
        call: ev.FunctionCallDone,
        target: str,
        arguments: dict[str, Any],
        why: str,
        *,
        claimed: dict[str, str] | None = None,
        missing: list[str] | None = None,
        guard: str | None = None,
    ) -> list[Action]:
        detail: dict[str, Any] = {"why": why}
        if claimed:
            detail["claimed"] = claimed
        if missing:
            detail["missing"] = missing
        if guard:
            detail["guard"] = guard
        return self._refuse(
            call,
            {"error": f"transfer refused: {why}"},
            self._audit(
                "handoff",
                "refused",
                self.agent,
                target,
                str(arguments.get("reason", "")),
                detail=detail,
            ),
            Transcript(
                "handoff",
                self.agent,
                f"{self.agent} -x-> {target} refused: {why}",
                {"to": target, "outcome": "refused"},
            ),
        )

    def _refuse_call(self, call: ev.FunctionCallDone, why: str) -> list[Action]:
        """Refuse a tool call before it runs (unknown tool, bad arguments): the model is told ``why``."""
        called = _PendingTool(call.name, self.agent, _arguments(call.arguments), self._clock())
        return self._refuse(
            call,
            {"error": why},
            self._tool_record("refused", call.call_id, called, why=why),
            Transcript("tool", self.agent, f"{call.name} refused: {why}"),
        )

    # -- tool budgets -------------------------------------------------------------------------------------

    def _budgets(self, agent: str) -> tuple[int, int]:
        """``agent``'s ``max_tool_calls_per_turn`` and ``max_refused_calls`` (its own, or the flow's)."""
        own, flow = self._flow.agents[agent], self._flow.flow
        per_turn = own.max_tool_calls_per_turn
        refused = own.max_refused_calls
        return (
            flow.max_tool_calls_per_turn if per_turn is None else per_turn,
            flow.max_refused_calls if refused is None else refused,
        )

    def _new_turn(self) -> None:
        """The user spoke: every agent's per-turn budget starts again."""
        self._turn_calls.clear()
        self._refused_streak = 0

    def _refuse(self, call: ev.FunctionCallDone, output: Any, *notes: Action) -> list[Action]:
        """Conclude a refused call (a tool's or a transfer's) with ``output`` after ``notes`` (its audit record
        and transcript line). One refusal past the agent's ``max_refused_calls`` in a row also sends the
        conversation to the recovery agent."""
        self._refused_now = True
        self._refused_streak += 1
        limit = self._budgets(self.agent)[1]
        if self._refused_streak <= limit:
            return self._conclude(call.call_id, output, *notes)
        why = f"{self._refused_streak} refused calls in a row (the budget is {limit})"
        return self._over_budget(call, "max_refused_calls", why, *notes)

    def _over_budget(self, call: ev.FunctionCallDone, budget: str, why: str, *notes: Action) -> list[Action]:
        """An agent used up a tool budget: after ``notes``, go to the recovery agent (``recovered``, with the
        ``budget``'s name as the reason). The recovery agent itself has nowhere to go: its call is answered
        without asking for another response, so the loop stops until the user speaks."""
        self._refused_streak = 0
        recovery = self._flow.flow.recovery
        if self.agent != recovery:
            return [*notes, *self._reroute(call.call_id, recovery, "recovered", why, budget, guard=budget)]
        return self._conclude(
            call.call_id,
            {"error": f"not done: {why}. Wait for the user."},
            *notes,
            Transcript("notice", recovery, f"{budget}: {why}; waiting for the user"),
            respond=False,
        )

    def _tool_record(
        self, outcome: Outcome, call_id: str, call: _PendingTool, *, why: str = "", result: Any = None
    ) -> Audit:
        """The audit record of one tool call, the one place a tool's arguments and result reach the audit
        (through :func:`~engine.session.audit.audit_payload`); ``why`` is the refusal or the full error."""
        detail: dict[str, Any] = {
            "tool": call.name,
            "call_id": call_id,
            "arguments": audit_payload(call.arguments),
            "latency_s": round(self._clock() - call.started, 6),
        }
        if outcome == "ok":
            detail["result"] = audit_payload(result)
        return self._audit("tool", outcome, call.agent, reason=why, detail=detail)

    # -- escalations (chat-supervisor) ----------------------------------------------------------------------

    def _escalate(self, call: ev.FunctionCallDone, arguments: dict[str, Any]) -> list[Action]:
        machine, supervisor = self._escalation, self._flow.supervisor
        assert machine is not None and supervisor is not None  # the tool is only offered to front agents
        relevant = str(arguments.get("relevantContextFromLastUserMessage", ""))
        if self._pending_escalation is not None:
            return self._refuse_call(call, "an escalation is already pending; wait for its answer")
        if not machine.has_budget():
            why = f"the escalation budget ({supervisor.max_escalations}) is used up"
            actions: list[Action] = [
                self._audit(
                    "escalation",
                    "over_budget",
                    self.agent,
                    reason=relevant,
                    detail={"user_turns": self._user_turns, "why": why},
                ),
                Transcript("escalation", self.agent, f"not escalated: {why}", {"outcome": "over_budget"}),
            ]
            if supervisor.on_budget_exhausted == "recover" and self.agent != self._flow.flow.recovery:
                return actions + self._reroute(
                    call.call_id,
                    self._flow.flow.recovery,
                    "recovered",
                    why,
                    relevant,
                    guard="max_escalations",
                )
            message = "The supervisor is not available for the rest of this conversation: answer on your own."
            return self._conclude(call.call_id, {"status": "over_budget", "message": message}, *actions)
        machine.send("escalate")
        self._escalations += 1
        request = EscalationRequest(
            escalation_id=f"{self._conversation_id}-esc{self._escalations}",
            agent=self.agent,
            relevant_context=relevant,
            transcript=tuple(self._history),
            context=self.visible_context(),
            version=self._version,
        )
        self._pending_escalation = _PendingEscalation(request, call.call_id, self._clock())
        return [
            Transcript(
                "escalation",
                self.agent,
                f"escalating to the supervisor: {relevant}",
                {"escalation_id": request.escalation_id},
            ),
            Escalate(request, supervisor.timeout_s, supervisor.max_tool_rounds),
        ]

    @masked
    def supervisor_result(
        self,
        escalation_id: str,
        answer: str | None = None,
        *,
        tool_rounds: int = 0,
        tool_errors: tuple[str, ...] = (),
        error: str | None = None,
        timed_out: bool = False,
    ) -> list[Action]:
        """The supervisor's answer to an :class:`Escalate` (or ``error``, or ``timed_out``); ``tool_errors``
        (the exceptions of its tool calls) go to the audit record."""
        pending = self._pending_escalation
        if pending is None or pending.request.escalation_id != escalation_id:
            return [
                Transcript(
                    "notice", self.agent, f"late supervisor answer for {escalation_id} discarded (stale)"
                )
            ]
        assert self._escalation is not None and self._flow.supervisor is not None
        request = pending.request
        detail: dict[str, Any] = {
            "escalation_id": escalation_id,
            "latency_s": round(self._clock() - pending.started, 6),
            "tool_rounds": tool_rounds,
            "user_turns": self._user_turns,
        }
        if tool_errors:
            detail["tool_errors"] = list(tool_errors)
        self._pending_escalation = None
        if self._version != request.version or self.agent != request.agent:
            self._escalation.send("abandon")
            why = "the conversation changed while the supervisor was working"
            return self._end_escalation(
                pending,
                "stale",
                {"status": "stale", "message": f"{why}; ask again."},
                f"supervisor answer discarded: {why}",
                {**detail, "why": why},
            )
        fallback = self._flow.supervisor.fallback_answer
        if timed_out or error is not None:
            outcome: Outcome = "timed_out" if timed_out else "failed"
            event = "time_out" if timed_out else "fail"
            self._escalation.send(event)
            why = f"no answer within {self._flow.supervisor.timeout_s:g}s" if timed_out else f"{error}"
            return self._end_escalation(
                pending,
                outcome,
                {"status": outcome, "nextResponse": fallback},
                f"supervisor {outcome.replace('_', ' ')}: {why}",
                {**detail, "why": why},
            )
        self._escalation.send("resolve")
        return self._end_escalation(
            pending,
            "answered",
            {"status": "answered", "nextResponse": answer or ""},
            f"supervisor: {answer}",
            detail,
        )

    def _end_escalation(
        self,
        pending: _PendingEscalation,
        outcome: Outcome,
        output: dict[str, Any],
        line: str,
        detail: dict[str, Any],
        *before: Action,
        respond: bool = True,
    ) -> list[Action]:
        """Conclude the escalation tool call of ``pending`` with ``output``: ``before``, then its audit record
        (``outcome``, ``detail``) and its transcript ``line``, then the output (and the response it owes)."""
        request = pending.request
        return self._conclude(
            pending.call_id,
            output,
            *before,
            self._audit("escalation", outcome, request.agent, reason=request.relevant_context, detail=detail),
            Transcript("escalation", request.agent, line, {"outcome": outcome}),
            respond=respond,
        )

    def _user_said(self, text: str, *, barge_in: bool = True) -> list[Action]:
        """A user turn: it barges in on a pending escalation, joins the history and counts as a turn."""
        actions = self._barge_in("the user spoke again") if barge_in else []
        self._new_turn()
        self._history.append(("user", text))
        self._user_turns += 1
        return [*actions, Transcript("user", self.agent, text)]

    def _barge_in(self, why: str) -> list[Action]:
        """The user spoke while escalated: abandon the pending escalation (its answer would be stale)."""
        pending = self._pending_escalation
        if pending is None:
            return []
        assert self._escalation is not None
        self._pending_escalation = None
        self._escalation.send("abandon")
        escalation_id = pending.request.escalation_id
        return self._end_escalation(
            pending,
            "stale",
            {"status": "cancelled", "message": f"{why} before the supervisor answered: reply to them."},
            f"escalation abandoned: {why}",
            {
                "escalation_id": escalation_id,
                "why": why,
                "latency_s": round(self._clock() - pending.started, 6),
                "user_turns": self._user_turns,
            },
            CancelEscalation(escalation_id),
            respond=False,  # the user's turn brings the next response
        )

    # -- responses --------------------------------------------------------------------------------------------

    def _conclude(self, call_id: str, output: Any, *notes: Action, respond: bool = True) -> list[Action]:
        """What concluding a function call sends, in order: ``notes`` (its audit record, its transcript line,
        the next agent's config), then its ``function_call_output`` (and the response it owes)."""
        return [*notes, *self._function_output(call_id, output, respond=respond)]

    def _function_output(self, call_id: str, output: Any, *, respond: bool = True) -> list[Action]:
        item = {"type": "function_call_output", "call_id": call_id, "output": json.dumps(output, default=str)}
        send: list[Action] = [Send({"type": "conversation.item.create", "item": item})]
        return send + self._request_response() if respond else send

    def _request_response(self) -> list[Action]:
        self._want_response = True
        return self._flush_response()

    def _flush_response(self) -> list[Action]:
        """Send the owed ``response.create`` once nothing is in flight and no tool result is outstanding."""
        if not self._want_response or self._response_in_flight or self._pending_tools:
            return []
        self._want_response = False
        self._response_in_flight = True
        return [Send({"type": "response.create"})]

    def _session_update(self) -> dict[str, Any]:
        agent = self._plan.agents[self.agent]
        return session_update(
            self._flow,
            agent.name,
            self.visible_context(),
            agent.tools,
            self._modalities,
            self.visible_claims(),
        )

    def _agent_update(self) -> dict[str, Any]:
        """A handoff's ``session.update``: instructions, tools and ``tool_choice`` only."""
        agent = self._plan.agents[self.agent]
        return agent_update(
            self._flow, agent.name, self.visible_context(), agent.tools, self.visible_claims()
        )

    def _audit(
        self,
        kind: Kind,
        outcome: Outcome,
        source: str,
        target: str | None = None,
        reason: str = "",
        *,
        carried: tuple[str, ...] = (),
        detail: dict[str, Any] | None = None,
    ) -> Audit:
        self._seq += 1
        record = AuditRecord(
            self._conversation_id,
            self._seq,
            self._clock(),
            kind,
            outcome,
            source,
            target,
            reason,
            carried,
            self._depth,
            detail or {},
        )
        return Audit(record)


def _strings(values: Any) -> list[str]:
    """``values`` if it is a list of strings (a snapshot's key lists), else :class:`TypeError`."""
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise TypeError(f"expected a list of strings, got {values!r:.60}")
    return values


def _arguments(raw: str) -> Any:
    """A call's arguments for its audit record: the JSON they hold, or the raw text when it is not JSON."""
    try:
        return json.loads(raw or "{}")
    except json.JSONDecodeError:
        return raw


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_str_in(value: Any, ids: Container[str]) -> bool:
    """``value in ids`` for a server's claimed id, which may be anything (a list would not hash)."""
    return isinstance(value, str) and value in ids
