"""The emulator's "model": a TOML script of rules (what to answer) and user turns (what to say).

```toml
[[rule]]                                   # tried in order; the first match answers
agent = "authentication"                   # instructions carry the marker line `# agent: authentication`
has_tool = "authenticate_user_information" # the session (or response) offers this tool
user = "(?i)return"                        # regex searched in the user message the response follows
after = "authenticate_user_information"    # ... or: the response follows this function's output
output = "(?i)error"                       # regex searched in that function_call_output's output
heard = "1988-10-12"                       # regex searched in the text of every message the response
                                           # reads (only items still in the conversation, or its `input`)
out_of_band = true                         # only out-of-band responses (conversation "none"); false:
                                           # only in-conversation ones; unmatched out-of-band responses
                                           # get a deterministic summary of their input
say = "Thanks! Let me check that."         # assistant text (sent first); `{output.KEY}` reads a key of
                                           # the JSON function output it follows (e.g. `{output.nextResponse}`)
call = "authenticate_user_information"     # one function call ...
arguments = { phone_number = "206 135 1246" }
calls = [{ name = "lookup_orders", arguments = {} }]  # ... and/or several

[[turn]]                                   # user turns for the conversation runner
user = "Hi, I want to return my snowboard"
interrupt = false                          # true: barge in (say it while an escalation is pending)
expect = { agent = "returns" }             # what must have happened in the turn (engine.emulator.expect)
```

A script may also name its flow (``flow = "../retail.toml"``), give trusted initial context
(``context = { caller = "…" }``) and check the end (``[expect]``): see :mod:`engine.emulator.expect` and
docs/testing.md. ``switchboard test`` runs such scripts; ``run`` and ``emulate`` ignore the expectations.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from engine.emulator.expect import EndExpect, TurnExpect
from engine.flow.diagnostics import Diagnostic, DocumentError
from engine.flow.document import (
    FORMATS,
    Parsed,
    SourceMap,
    parse_document,
    read_document,
    regex_field,
    validate_document,
)
from engine.supervisor.scripted import Rule as SupervisorRule

__all__ = ["Call", "MatchState", "Rule", "Script", "ScriptDocument", "ScriptError", "Turn"]


class ScriptError(DocumentError):
    """A script that could not be loaded; each problem names ``file:line:col``, the rule and the field."""

    @staticmethod
    def line(diagnostic: Diagnostic) -> str:
        return f"{diagnostic.location}: {diagnostic.message}"


@dataclass(frozen=True)
class MatchState:
    """What a rule is matched against: the session and the item the response follows."""

    instructions: str = ""
    tools: tuple[str, ...] = ()
    user_text: str | None = None
    """Text of the user message the response follows (``None`` if it follows something else)."""
    function_name: str | None = None
    """Name of the function whose ``function_call_output`` the response follows."""
    function_output: str | None = None
    """That ``function_call_output``'s output (``None`` if the response does not follow one)."""
    heard: str = ""
    """The text of every message the response reads, one per line."""
    out_of_band: bool = False
    """The response is out of band (``conversation = "none"``)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


def _json_object(value: dict[str, Any] | None) -> dict[str, Any] | None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"arguments must be plain JSON values ({exc})") from None
    return value


def _function_name(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
        raise ValueError(f"{value!r} is not a valid function name (1-64 letters, digits, _ and -)")
    return value


class Call(_Strict):
    """One function call the model makes."""

    name: str
    arguments: dict[str, Any] = {}

    _name = field_validator("name")(_function_name)
    _arguments = field_validator("arguments")(_json_object)


_OUTPUT_FIELD = re.compile(r"\{output\.([A-Za-z_]\w*)\}")


class Rule(_Strict):
    """A scripted answer and the conditions under which it is given (all present conditions must hold)."""

    agent: str | None = None
    has_tool: str | None = None
    user: re.Pattern[str] | None = None
    after: str | None = None
    output: re.Pattern[str] | None = None
    heard: re.Pattern[str] | None = None
    out_of_band: bool | None = None
    say: str | None = None
    call: str | None = None
    arguments: dict[str, Any] | None = None
    calls: list[Call] = []
    _index: int = PrivateAttr(default=0)

    @property
    def index(self) -> int:
        """Position in the script (0-based)."""
        return self._index

    _compile = field_validator("user", "output", "heard", mode="before")(regex_field)

    _call_name = field_validator("call")(_function_name)
    _arguments = field_validator("arguments")(_json_object)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.arguments is not None and self.call is None:
            raise ValueError("`arguments` needs `call` (or use `calls = [{name=…, arguments=…}]`)")
        if self.user is not None and (self.after is not None or self.output is not None):
            raise ValueError("`user` cannot be combined with `after`/`output`: a response follows one item")
        if self.say is None and self.call is None and not self.calls:
            raise ValueError("a rule must answer: give `say`, `call` or `calls`")
        return self

    def render_say(self, state: MatchState) -> str:
        """``say`` with each ``{output.KEY}`` replaced by that key of the function output it follows (JSON)."""
        assert self.say is not None
        if "{output." not in self.say:
            return self.say
        try:
            output = json.loads(state.function_output or "")
        except ValueError:
            output = None
        fields = output if isinstance(output, dict) else {}
        return _OUTPUT_FIELD.sub(lambda m: str(fields.get(m.group(1), "")), self.say)

    @property
    def all_calls(self) -> list[Call]:
        """The calls to make, in order: ``call`` first, then ``calls``."""
        first = [Call(name=self.call, arguments=self.arguments or {})] if self.call else []
        return first + list(self.calls)

    def matches(self, state: MatchState) -> bool:
        """Whether every condition of this rule holds for ``state``."""
        if self.out_of_band is not None and self.out_of_band != state.out_of_band:
            return False
        if self.heard is not None and not self.heard.search(state.heard):
            return False
        if self.agent is not None and not _has_agent_marker(state.instructions, self.agent):
            return False
        if self.has_tool is not None and self.has_tool not in state.tools:
            return False
        if self.user is not None and (state.user_text is None or not self.user.search(state.user_text)):
            return False
        if self.after is not None and state.function_name != self.after:
            return False
        if self.after is not None or self.output is not None:
            if state.function_output is None:
                return False
            if self.output is not None and not self.output.search(state.function_output):
                return False
        return True


def _has_agent_marker(instructions: str, agent: str) -> bool:
    """The session core starts every agent's instructions with the line ``# agent: NAME``."""
    return re.search(rf"(?m)^[ \t]*#[ \t]*agent:[ \t]*{re.escape(agent)}[ \t]*$", instructions) is not None


class Turn(_Strict):
    """One scripted user turn (used by the conversation runner)."""

    user: str
    interrupt: bool = False
    """Say it as soon as no response is in flight, without waiting for the session to be idle (barge-in)."""
    expect: TurnExpect | None = None
    """What must have happened once the turn is answered (checked by ``switchboard test``)."""


class ScriptDocument(_Strict):
    """A whole script file (the JSON Schema ``switchboard schema --script`` prints is generated from it)."""

    model_config = ConfigDict(title="Switchboard script")

    schema_ref: str = Field(default="", alias="$schema", exclude=True, description="Ignored.")
    flow: str | None = Field(default=None, description="The flow this script tests, relative to the script.")
    description: str = ""
    context: dict[str, str] = Field(
        default_factory=dict, description="Trusted initial context (the flow's `initial_context` keys)."
    )
    rule: list[Rule] = Field(
        default_factory=list, description="The emulator's answers: the first match answers."
    )
    turn: list[Turn] = Field(default_factory=list, description="The user's turns, in order.")
    expect: EndExpect | None = Field(default=None, description="How the conversation must end.")
    supervisor: list[SupervisorRule] = Field(
        default_factory=list,
        description="Scripted supervisor rules tried first in this script's conversation (a test can make the "
        "supervisor hang or fail); with them, a flow's openai supervisor is replaced by a scripted one.",
    )


class Script:
    """A parsed emulator script: ``rules`` (first match answers) and user ``turns``; for ``switchboard test``
    also the flow it names, its initial context, its end expectations and where each node stands."""

    def __init__(
        self,
        rules: Sequence[Rule] = (),
        turns: Sequence[Turn] = (),
        name: str = "<script>",
        *,
        flow: str | None = None,
        context: dict[str, str] | None = None,
        expect: EndExpect | None = None,
        supervisor: Sequence[SupervisorRule] = (),
        source: SourceMap | None = None,
    ) -> None:
        self.rules = [rule.model_copy() for rule in rules]
        for i, rule in enumerate(self.rules):
            rule._index = i
        self.turns = list(turns)
        self.name = name
        self.flow = flow
        self.context = dict(context or {})
        self.expect = expect
        self.supervisor = list(supervisor)
        self.source = source or SourceMap(name)

    @property
    def has_expectations(self) -> bool:
        """Whether the script checks anything (an ``[expect]`` table or a turn's ``expect``)."""
        return self.expect is not None or any(t.expect is not None for t in self.turns)

    @property
    def flow_path(self) -> Path | None:
        """The flow the script names, resolved against the script's folder."""
        return None if self.flow is None else Path(self.name).parent / self.flow

    @classmethod
    def load(cls, path: str | Path) -> Script:
        """Read and parse a script file, TOML or JSON (``ScriptError`` names file:line:col on any problem)."""
        path = Path(path)
        try:
            text = read_document(path, "script")
        except DocumentError as exc:
            raise ScriptError(exc.diagnostics) from None
        return cls.parse(text, str(path), FORMATS.get(path.suffix, "toml"))

    @classmethod
    def parse(cls, text: str, name: str = "<script>", fmt: Literal["toml", "json"] = "toml") -> Script:
        """Parse script text; ``name`` is the file name used in error messages."""
        try:
            parsed = parse_document(text, name, fmt)
            return cls.of(validate_document(ScriptDocument, parsed), parsed, name)
        except DocumentError as exc:
            raise ScriptError(exc.diagnostics) from None

    @classmethod
    def of(cls, doc: ScriptDocument, parsed: Parsed, name: str) -> Script:
        return cls(
            doc.rule,
            doc.turn,
            name,
            flow=doc.flow,
            context=doc.context,
            expect=doc.expect,
            supervisor=doc.supervisor,
            source=parsed.source,
        )

    def match(self, state: MatchState) -> Rule | None:
        """The first rule whose conditions all hold, or ``None``."""
        return next((rule for rule in self.rules if rule.matches(state)), None)
