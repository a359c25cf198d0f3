"""SB501: an agent's instructions tell it to transfer somewhere the flow does not let it.

The model works from its instructions and its tools. When the instructions say "call transfer_to_billing"
or "hand off to the 'haiku' agent" and the agent has no such transfer (``billing`` is not among its
handoffs nor the implicit fallback to recovery, the targets ``engine/compile/plan.py`` builds tools
for), the model calls a tool that does not exist, or improvises. Two kinds of mention count:

- a transfer tool name ``transfer_to_X``, anywhere in the text (even negated: the name is wrong either way);
- a transfer phrase: a verb (transfer, hand off, hand over, hand back, route, escalate), maybe an object
  (the user, the caller, them, ...), ``to``, maybe ``the``, then a name, maybe quoted, maybe followed by
  ``agent``. The name counts when it is an agent of the flow (matched ignoring case, camelCase or
  snake_case), or when it is quoted or followed by ``agent`` (a name the flow lacks).

The heuristic is kept conservative, since a prompt is prose: words that describe rather than name
(``another agent``, ``the right agent``, ``a human agent``: :data:`GENERIC`) are not names, a phrase in a
negated clause ("do not transfer to billing", "never route them to sales") is no instruction to transfer,
and a phrase naming the agent itself is skipped. A transfer the misspelled handoff would have allowed is
no finding (the SB101 for the handoff is the cause: see ``fixes.py``).

One finding per agent and name, at the agent's ``instructions_file`` (or ``instructions``) key, quoting
the first mention and its line in the prompt. Cost: linear in the length of the instructions (two
regular-expression scans), plus one "did you mean" over the agents per unknown name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from engine.flow.diagnostics import Diagnostic
from engine.flow.model import TRANSFER_PREFIX
from engine.flow.positions import PathKey
from engine.flow.suggest import did_you_mean, suggestion_text
from engine.verify.scope import Scope

_WORD = r"[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*"
"""A name as prose carries it: word characters, kebab-case joined (``human-agent``; not a trailing ``-``)."""
TRANSFER_TOOL = re.compile(rf"\b{TRANSFER_PREFIX}({_WORD})")

_OBJECT = r"(?:(?:the\s+)?(?:user|caller|customer|conversation|call|chat|them|him|her|it)\s+)?"
_NAME = r"""(?P<q>['"`]?)(?P<name>[A-Za-z][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*)(?P=q)(?P<agent>\s+agent\b)?"""
TRANSFER_PHRASE = re.compile(
    r"\b(?:"
    r"(?:transfer(?:s|red|ring)?|hand(?:s|ed|ing)?[ -]?off|rout(?:e|es|ed|ing)|escalat(?:e|es|ed|ing))"
    rf"\s+{_OBJECT}(?:back\s+)?"
    rf"|hand(?:s|ed|ing)?\s+{_OBJECT}(?:back|over|off)\s+"
    rf")to\s+(?:the\s+)?{_NAME}",
    re.IGNORECASE,
)
"""``transfer (the caller) to (the) 'NAME' (agent)``, ``hand off to``, ``hand them back to``, ``route to``..."""

GENERIC = frozenset(
    """a an the another other any some each every one this that which their your our its his her my
    correct right appropriate relevant proper suitable best matching corresponding responsible designated
    next previous same new different original main first second last final target destination specific
    specialist specialized specialised expert senior dedicated downstream upstream human live real support
    service customer fallback recovery""".split()
)
"""Words before ``agent`` that describe an agent rather than name one."""

NEGATION = re.compile(
    r"\b(?:not|never|no|don't|doesn't|didn't|cannot|can't|won't|shouldn't|mustn't|without|avoid|unless"
    r"|instead\s+of|rather\s+than)\b",
    re.IGNORECASE,
)
CLAUSE = re.compile(r"[.!?;:\n(]|\s[-*]\s|,\s*(?:but|and|or)\b")
"""Where a clause starts: a negation before it does not govern the phrase after it."""


@dataclass(frozen=True)
class Mention:
    """A transfer the instructions ask for: the name as written, what it resolves to, where."""

    name: str
    agent: str | None
    """The agent of the flow it names, or ``None`` for a name the flow does not define."""
    text: str
    start: int
    tool: bool
    """Named as the tool ``transfer_to_X`` (else in a phrase)."""


def check(scope: Scope) -> Iterator[Diagnostic]:
    flow = scope.flow
    prompted = [(name, agent.instructions) for name, agent in flow.agents.items() if agent.instructions]
    if not prompted:
        return
    canonical = {_canonical(name): name for name in reversed(list(flow.agents))}
    fixed = scope.fixes.flow
    routes = scope.adjacency
    routes_fixed = routes if fixed is flow else Scope(replace(scope.doc, flow=fixed)).adjacency
    for name, text in prompted:
        targets = list(routes.get(name, {}))
        allowed = set(targets) | set(routes_fixed.get(name, {}))
        seen: set[str] = set()
        for mention in sorted(mentions(text, name, canonical), key=lambda m: m.start):
            key = mention.agent or _canonical(mention.name)
            if key in seen or mention.agent in allowed:
                continue
            seen.add(key)
            yield _finding(scope, name, targets, mention, text)


def mentions(text: str, speaker: str, canonical: dict[str, str]) -> Iterator[Mention]:
    """Every transfer ``text`` asks for: tool names, and transfer phrases that name an agent (see above).

    ``canonical`` maps :func:`_canonical` names to the flow's agents; ``speaker`` is whose instructions
    these are (a phrase naming it is skipped).
    """
    for m in TRANSFER_TOOL.finditer(text):
        name = m.group(1)
        known = canonical.get(_canonical(name)) == name
        yield Mention(name, name if known else None, m.group(0), m.start(), True)
    for m in TRANSFER_PHRASE.finditer(text):
        name = m["name"]
        if name.lower().startswith(TRANSFER_PREFIX) or _negated(text, m.start()):
            continue
        agent = canonical.get(_canonical(name))
        if agent is None and (name.lower() in GENERIC or not (m["q"] or m["agent"])):
            continue
        if agent != speaker:
            yield Mention(name, agent, " ".join(m.group(0).split()), m.start(), False)


def _negated(text: str, start: int) -> bool:
    clause = text[max(0, start - 80) : start]
    breaks = list(CLAUSE.finditer(clause))
    if breaks:
        clause = clause[breaks[-1].end() :]
    return NEGATION.search(clause) is not None


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _canonical(name: str) -> str:
    """``haikuWriter``, ``Haiku_Writer``, ``haiku-writer`` -> ``haiku_writer``."""
    if not name.islower():
        name = _CAMEL.sub("_", name)
    return name.replace("-", "_").lower()


def _meant(name: str, targets: list[str], agents: list[str]) -> str | None:
    """The agent an unknown name stands for: a near miss among the targets, a target it is a word of
    (``haiku`` for ``haiku_writer``), else a near miss among all agents."""
    near = did_you_mean(name, targets)
    if near is not None:
        return near
    word = _canonical(name)
    containing = [t for t in targets if word in _canonical(t).split("_")]
    if len(containing) == 1:
        return containing[0]
    return did_you_mean(name, agents)


def _finding(scope: Scope, speaker: str, targets: list[str], mention: Mention, text: str) -> Diagnostic:
    agent = scope.flow.agents[speaker]
    source = agent.instructions_file
    line = text.count("\n", 0, mention.start) + 1
    where = f"line {line} of {source}" if source else f"line {line}"
    said = f"name `{mention.text}`" if mention.tool else f'say "{mention.text}"'
    tools = ", ".join(f"`{TRANSFER_PREFIX}{t}`" for t in targets) or "none"
    if mention.agent is not None:
        target = mention.agent
        why = f"'{speaker}' cannot transfer to '{target}'"
        fix = f"add '{target}' to the handoffs of '{speaker}', or change the prompt (its transfer tools: {tools})"
        meant = None
    else:
        target = mention.name
        meant = _meant(target, targets, list(scope.flow.agents))
        why = f"the flow has no agent '{target}'{suggestion_text(meant)}"
        if meant is not None and meant in targets:
            fix = f"name '{meant}' instead (its tool is `{TRANSFER_PREFIX}{meant}`)"
        else:
            fix = f"change the prompt (the transfer tools of '{speaker}': {tools})"
    path: PathKey = ("agents", speaker, "instructions_file" if source else "instructions")
    return scope.diagnostic(
        "SB501",
        f"the instructions of '{speaker}' {said} ({where}), but {why}",
        path,
        (speaker, target) if mention.agent is not None else (speaker,),
        {"mention": mention.text, "line": line, "target": target, **({"meant": meant} if meant else {})},
        help=fix,
        related=[(("agents", speaker, "handoffs"), f"the handoffs of '{speaker}'")],
    )
