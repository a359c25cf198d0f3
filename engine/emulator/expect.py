"""Expectations a script can carry: what must have happened after a turn, and at the end of the conversation.

```toml
flow = "../retail.toml"                 # the flow the script tests (relative to the script)
context = { caller = "+12061351246" }   # trusted initial context (the flow's `initial_context`)

[[turn]]
user = "I want to return my snowboard"
expect = { agent = "returns", handoff = "done", tool = "lookup_orders", says = "(?i)order" }
# also: carried = ["user_id"] (exactly the keys the turn's last handoff carried), history = "reset",
#       escalation = "answered" (answered | failed | timed_out | stale | over_budget)

[expect]                                # the end of the conversation
agent = "returns"
depth = 2
escalations = 0
outcomes = { done = 2, refused = 1 }    # handoff records per outcome (omitted outcomes: not checked)
context = { set = ["user_id"], unset = ["card_number"] }
```

The models are data only; :mod:`engine.flowtest.check` checks them against what a run observed.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator

from engine.flow.document import regex_field

__all__ = ["ContextExpect", "EndExpect", "EscalationOutcome", "HandoffOutcome", "TurnExpect"]

History = Literal["keep", "reset", "summary"]
HandoffOutcome = Literal["done", "refused", "capped", "recovered"]
EscalationOutcome = Literal["answered", "failed", "timed_out", "stale", "over_budget"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


def _listed(value: object) -> object:
    """One name or a list of names: always a list."""
    return [value] if isinstance(value, str) else value


def _one_or_many(item: dict[str, Any]) -> Any:
    """Accept one item or a list of them (and say so in the JSON Schema)."""
    return (BeforeValidator(_listed), WithJsonSchema({"anyOf": [item, {"type": "array", "items": item}]}))


def _names(kind: Any) -> dict[str, Any]:
    return {"enum": list(get_args(kind)), "type": "string"}


Handoffs = Annotated[list[HandoffOutcome], *_one_or_many(_names(HandoffOutcome))]
Escalations = Annotated[list[EscalationOutcome], *_one_or_many(_names(EscalationOutcome))]
Histories = Annotated[list[History], *_one_or_many(_names(History))]
Functions = Annotated[list[str], *_one_or_many({"type": "string"})]


class TurnExpect(_Strict):
    """What must have happened in one turn (from the user's message until the next one is said)."""

    agent: str | None = Field(default=None, description="The agent answering when the turn is over.")
    handoff: Handoffs = Field(
        default_factory=list,
        description="Handoff outcomes the turn must have, in order (one name or a list): done, refused, "
        "capped (the depth cap rerouted it), recovered (a budget rerouted it to the recovery agent).",
    )
    tool: Functions = Field(
        default_factory=list,
        description="Tools (flow tools or transfer_to_<agent>) the turn must call, in order.",
    )
    escalation: Escalations = Field(
        default_factory=list, description="Escalation outcomes the turn must have, in order."
    )
    carried: list[str] | None = Field(
        default=None,
        description="The trusted context keys the turn's last handoff carried to the next agent: exactly these.",
    )
    history: Histories = Field(
        default_factory=list,
        description="History policies (keep, reset, summary) of the turn's done handoffs, in order.",
    )
    says: re.Pattern[str] | None = Field(
        default=None, description="A regex searched in what the assistant said in the turn."
    )

    _says = field_validator("says", mode="before")(regex_field)


class ContextExpect(_Strict):
    """Trusted context keys that must be set, or must be absent, when the conversation ends."""

    set: list[str] = Field(default_factory=list)
    unset: list[str] = Field(default_factory=list)


class EndExpect(_Strict):
    """The ``[expect]`` table: how the conversation must end."""

    agent: str | None = Field(default=None, description="The agent the conversation ends with.")
    depth: int | None = Field(default=None, ge=0, description="Handoffs done in the conversation.")
    escalations: int | None = Field(default=None, ge=0, description="Escalation records (any outcome).")
    outcomes: dict[HandoffOutcome, int] = Field(
        default_factory=dict, description="Handoff records per outcome (omitted outcomes are not checked)."
    )
    context: ContextExpect | None = None
