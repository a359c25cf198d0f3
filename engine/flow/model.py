"""The flow: pydantic models that are the single source of truth for the format.

A flow file (TOML or JSON) has these top-level tables::

    [flow]          FlowSettings: name, entry, recovery, max_handoff_depth, ...
    [agents.NAME]   Agent
    [tools.NAME]    Tool
    [[handoff]]     Handoff: the contract of one edge (optional detail)
    [supervisor]    Supervisor: the chat-supervisor pattern (optional)

Input is strict: no value is coerced (``"8"`` is no integer, ``"yes"`` no boolean), except that numbers
follow JSON's model (a float field takes ``10``, an integer field ``8.0``). Names follow
:mod:`engine.flow.names`. The JSON Schema in ``schemas/flow.schema.json`` is generated from these models
(:mod:`engine.flow.schema`) and accepts the same documents.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from engine.flow.names import AGENT_NAME_MAX, AGENT_NAME_PATTERN, KEY_PATTERN, TOOL_NAME_PATTERN
from engine.flow.names import TRANSFER_PREFIX as TRANSFER_PREFIX

IMPL_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
"""A tool's ``impl``: a dotted module path, a colon, a function name (ASCII: the same in Python, Rust and
JavaScript regexes; also what ``run`` imports by)."""

AgentName = Annotated[
    str,
    Field(
        pattern=AGENT_NAME_PATTERN,
        description=(
            f"An agent name: a letter, then letters, digits, '_' or '-' (at most {AGENT_NAME_MAX}, "
            f"so that `{TRANSFER_PREFIX}<name>` is a Realtime function name)."
        ),
    ),
]
ToolName = Annotated[
    str,
    Field(
        pattern=TOOL_NAME_PATTERN,
        description="A tool name (a Realtime function name): a letter, then letters, digits, '_' or '-' (at most 64).",
    ),
]
FlowName = Annotated[
    str,
    Field(
        pattern=TOOL_NAME_PATTERN,
        description="A flow name: a letter, then letters, digits, '_' or '-' (at most 64).",
    ),
]
ContextKey = Annotated[str, Field(pattern=KEY_PATTERN, description="A context key: an identifier.")]
History = Literal["keep", "reset", "summary"]
"""What the next agent may read of the conversation at a handoff (see the README's runtime semantics)."""


def _whole_number(value: object) -> object:
    """A float with no fractional part (``8.0``) is the integer it equals, as in JSON Schema; nothing else
    becomes an integer (strict mode rejects ``"8"`` and ``true``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WHOLE_NUMBER = BeforeValidator(_whole_number)
Integer = Annotated[int, WHOLE_NUMBER]
"""An integer field: a JSON/TOML integer, or a number equal to one (constraints go before ``WHOLE_NUMBER``
in an ``Annotated`` of their own, or the JSON Schema gets pydantic's ``ge`` instead of ``minimum``)."""

ESCALATION_TOOL = "get_next_response_from_supervisor"


class _Strict(BaseModel):
    """Every table: unknown keys refused, values never coerced, only the format's key (``from``, not
    ``source``) accepted."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class FlowSettings(_Strict):
    """The ``[flow]`` table."""

    name: FlowName
    description: str = ""
    entry: AgentName = Field(description="The agent every conversation starts with.")
    recovery: AgentName = Field(description="The fallback agent every agent must be able to reach.")
    max_handoff_depth: Integer = Field(
        default=6, ge=1, le=1000, description="Handoffs per conversation before forced recovery."
    )
    implicit_fallback: bool = Field(
        default=True,
        description=(
            "Give every agent a route straight to the recovery agent (a `transfer_to_<recovery>` tool), "
            "honoured even at the depth cap. Set false to rely on declared handoffs only."
        ),
    )
    fallback_carry: list[ContextKey] = Field(
        default_factory=list, description="Context keys that travel along the implicit fallback route."
    )
    initial_context: list[ContextKey] = Field(
        default_factory=list, description="Context keys known before the first turn (e.g. caller id)."
    )
    sensitive: list[ContextKey] = Field(
        default_factory=list,
        description=(
            "Sensitive keys: masked in audit records, transcripts and logs (by name, at any depth of tool "
            "arguments and results, and by value wherever it reappears); they travel only on a handoff whose "
            "`carry` names them."
        ),
    )
    voice: str = Field(default="alloy", description="Realtime voice, fixed across handoffs.")
    model: str = Field(default="gpt-realtime", description="Realtime model, fixed across handoffs.")
    tool_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="Seconds a tool call may take (a tool's `timeout_s` overrides).",
    )
    max_tool_calls_per_turn: int = Field(
        default=8, ge=1, le=1000, description="Function calls an agent may make per user turn, then recovery."
    )
    max_refused_calls: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Refused function calls in a row an agent may make, then recovery.",
    )
    history: History = Field(
        default="keep",
        description="Default history policy of a handoff: keep the earlier turns, reset them, or summarise them.",
    )


class Agent(_Strict):
    """One ``[agents.NAME]`` table: a specialist with its tools and outgoing handoffs."""

    description: str = ""
    instructions: str = ""
    instructions_file: str | None = Field(
        default=None,
        description="Path of a prompt file, relative to the flow file (instead of `instructions`).",
    )
    tools: list[ToolName] = Field(
        default_factory=list, description="Names of `[tools.*]` this agent may call."
    )
    handoffs: list[AgentName] = Field(default_factory=list, description="Agents this agent may transfer to.")
    produces: list[ContextKey] = Field(
        default_factory=list, description="Context keys this agent's tools set."
    )
    requires: list[ContextKey] = Field(
        default_factory=list, description="Context keys guaranteed on every path that reaches this agent."
    )
    max_visits: Annotated[int, Field(ge=1), WHOLE_NUMBER] | None = Field(
        default=None, description="Loop budget: visits per conversation."
    )
    terminal: bool = Field(default=False, description="The conversation may end here (no handoff needed).")
    group: str | None = Field(default=None, description="Diagram cluster.")
    max_tool_calls_per_turn: int | None = Field(
        default=None, ge=1, le=1000, description="Overrides `[flow] max_tool_calls_per_turn` for this agent."
    )
    max_refused_calls: int | None = Field(
        default=None, ge=1, le=100, description="Overrides `[flow] max_refused_calls` for this agent."
    )


class Tool(_Strict):
    """One ``[tools.NAME]`` table: a function the model may call."""

    description: str = ""
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON Schema of the arguments.",
    )
    sets: list[ContextKey] = Field(default_factory=list, description="Context keys the tool's result sets.")
    sensitive: list[ContextKey] = Field(
        default_factory=list,
        description="Argument (or result) names of this tool whose values are masked like `[flow] sensitive`.",
    )
    impl: str | None = Field(
        default=None,
        pattern=IMPL_PATTERN,
        description="Python callable implementing the tool, as `module:function`.",
    )
    timeout_s: float | None = Field(
        default=None, gt=0, le=600, description="Seconds a call may take (default: `[flow] tool_timeout_s`)."
    )


class Handoff(_Strict):
    """One ``[[handoff]]`` entry: the contract of the edge ``from -> to``."""

    source: AgentName = Field(alias="from")
    target: AgentName = Field(alias="to")
    when: str = Field(default="", description="The transfer rule shown to the model.")
    carry: list[ContextKey] | None = Field(
        default=None,
        description="Context keys that transfer; everything else stays behind. Omitted: every key transfers.",
    )
    history: History | None = Field(
        default=None,
        description="History policy of this edge (keep, reset, summary); omitted: [flow] history.",
    )


class Supervisor(_Strict):
    """The ``[supervisor]`` table: a stronger text model the front agents escalate hard turns to."""

    backend: Literal["scripted", "openai"] = "scripted"
    model: str = "gpt-4.1"
    instructions: str = ""
    instructions_file: str | None = None
    script: str | None = Field(
        default=None, description="Rules file of the scripted backend, relative to the flow."
    )
    front: list[AgentName] = Field(
        default_factory=list, description="Agents that may escalate (default: the entry agent)."
    )
    tools: list[ToolName] = Field(
        default_factory=list, description="Names of `[tools.*]` the supervisor may call."
    )
    timeout_s: float = Field(default=10.0, gt=0, le=600)
    max_tool_rounds: Integer = Field(default=4, ge=0, le=50)
    max_escalations: Integer = Field(
        default=20, ge=1, le=10_000, description="Escalation budget per conversation."
    )
    on_budget_exhausted: Literal["answer_alone", "recover"] = "answer_alone"
    fallback_answer: str = "I'm sorry, I can't check that right now. Could you ask me again in a moment?"


class Flow(_Strict):
    """A whole flow file."""

    schema_ref: str = Field(
        default="", alias="$schema", exclude=True, description="The JSON Schema the file follows (ignored)."
    )
    flow: FlowSettings
    agents: dict[AgentName, Agent]
    tools: dict[ToolName, Tool] = Field(default_factory=dict)
    handoff: list[Handoff] = Field(default_factory=list, description="Per-edge handoff contracts.")
    supervisor: Supervisor | None = None
    lint: LintSettings = Field(default_factory=lambda: LintSettings(), description="The `[lint]` table.")

    @field_validator("schema_ref")
    @classmethod
    def _ignored(cls, value: str) -> str:
        """``$schema`` is checked to be a string, then dropped: it is the editor's, not the flow's."""
        return ""

    @cached_property
    def contracts(self) -> dict[tuple[str, str], Handoff]:
        """Declared contracts by edge ``(from, to)``; the first wins where an edge has two."""
        found: dict[tuple[str, str], Handoff] = {}
        for h in self.handoff:
            found.setdefault((h.source, h.target), h)
        return found

    @cached_property
    def sensitive(self) -> frozenset[str]:
        """Every sensitive name: the flow's keys and each tool's sensitive arguments."""
        return frozenset(self.flow.sensitive).union(*(t.sensitive for t in self.tools.values()))

    @property
    def front_agents(self) -> list[str]:
        if self.supervisor is None:
            return []
        return list(self.supervisor.front) or [self.flow.entry]


class LintSettings(_Strict):
    """The ``[lint]`` table: findings of ``switchboard lint`` (and ``run``/``serve``) not to report."""

    ignore: list[str] = Field(
        default_factory=list,
        description=(
            "Warning codes not to report for this flow (`SB206`); errors cannot be ignored. "
            "One line: a `# switchboard: ignore[SB206]` comment."
        ),
    )


Flow.model_rebuild()  # `Flow.lint` names LintSettings, defined after it
