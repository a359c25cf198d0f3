"""Load a flow from TOML or JSON into the pydantic model, keeping the source position of every node.

Every failure becomes a :class:`FlowError` whose diagnostics name the file, line, column and rule:

- ``SB001`` unreadable file or unknown format, ``SB002`` malformed TOML/JSON,
- ``SB003`` schema violation (wrong type, unknown key, missing key, bad name),
- ``SB004`` an ``instructions_file`` that is missing or cannot be opened,
- ``SB005`` a file the flow names (``instructions_file``, the supervisor's ``script``) that is refused:
  outside the flow's folder, not a regular file, over 1 MiB or not UTF-8 (:mod:`engine.flow.files`),
- ``SB006`` tables and arrays nested deeper than 64 levels,
- ``SB104`` a duplicate name (a JSON object key given twice).

A missing ``script`` is left to start-up (``SB402``): a flow renders without its rules.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from engine.flow.diagnostics import Diagnostic, DocumentError, FlowError, Location, Severity
from engine.flow.document import (
    FORMATS,
    SourceMap,
    error,
    parse_document,
    read_document,
    validate_document,
)
from engine.flow.files import ConfinedFileError, FileProblem, read_confined
from engine.flow.model import Agent, Flow, FlowSettings, Handoff, LintSettings, Supervisor, Tool
from engine.flow.nesting import Format
from engine.flow.positions import PathKey
from engine.flow.suggest import did_you_mean, suggestion_text
from engine.gcpause import gc_paused

__all__ = ["FORMATS", "FlowDocument", "SourceMap", "load_flow", "parse_flow"]


@dataclass(frozen=True)
class FlowDocument:
    """A loaded flow: the model (with ``instructions_file`` contents resolved) and where each node stands."""

    flow: Flow
    source: SourceMap
    base_dir: Path = Path(".")
    """Where the flow's relative references (prompt files, scripts) resolve."""

    @property
    def file(self) -> str:
        return self.source.file


def load_flow(path: str | Path) -> FlowDocument:
    """Load a ``.toml`` or ``.json`` flow file; raise :class:`FlowError` with positioned diagnostics."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        message = f"unknown flow format {path.suffix!r}: use .toml or .json"
        raise FlowError([error("SB001", "unreadable", message, Location(str(path)))])
    try:
        text = read_document(path, "flow file")
    except DocumentError as exc:
        raise FlowError(exc.diagnostics) from None
    return parse_flow(text, str(path), fmt, base_dir=path.parent)


def parse_flow(text: str, file: str, fmt: Format = "toml", base_dir: Path | None = None) -> FlowDocument:
    """Parse flow ``text`` (``fmt`` is ``"toml"`` or ``"json"``); ``file`` names it in diagnostics; the files
    it names are read from ``base_dir`` (default: the working directory) and never from outside it."""
    text = text.removeprefix("\ufeff")
    with gc_paused():
        try:
            parsed = parse_document(text, file, fmt)
            flow = validate_document(Flow, parsed, message=_schema_message, settle=_one_cause)
        except DocumentError as exc:
            raise FlowError(exc.diagnostics) from None
        flow, problems = _read_companions(flow, _Where(text, parsed.source), base_dir or Path("."))
        problems = [*parsed.problems, *problems]
        if problems:
            raise FlowError(problems)
        return FlowDocument(flow, parsed.source, base_dir or Path("."))


def _schema_message(err: ErrorDetails) -> str:
    loc: PathKey = tuple(err["loc"])
    where = _describe(loc[:-1]) if loc else "the flow"
    kind = err["type"]
    if kind == "extra_forbidden":
        message = f"unknown key {loc[-1]!r} in {where}"
        message += suggestion_text(did_you_mean(str(loc[-1]), _keys_at(loc[:-1])))
    elif kind == "missing":
        message = f"missing required key {loc[-1]!r} in {where}"
    else:
        message = f"{_describe(loc)}: {err['msg']}"
        if "input" in err and not isinstance(err["input"], dict | list):
            message += f" (got {err['input']!r})"
    return message


_TABLES: dict[str, type[BaseModel]] = {
    "flow": FlowSettings,
    "agents": Agent,
    "tools": Tool,
    "handoff": Handoff,
    "supervisor": Supervisor,
    "lint": LintSettings,
}


def _one_cause(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drop "missing key 'from'" where the same table has an unknown key that is its typo ('form')."""
    meant = {
        (tuple(e["loc"][:-1]), did_you_mean(str(e["loc"][-1]), _keys_at(tuple(e["loc"][:-1]))))
        for e in errors
        if e["type"] == "extra_forbidden" and e["loc"]
    }
    return [
        e for e in errors if not (e["type"] == "missing" and (tuple(e["loc"][:-1]), e["loc"][-1]) in meant)
    ]


def _keys_at(loc: PathKey) -> list[str]:
    """The keys the table at ``loc`` may hold (for a did-you-mean on an unknown key)."""
    model: type[BaseModel] | None = Flow if not loc else _TABLES.get(str(loc[0]))
    if model is None or (loc and loc[0] in ("agents", "tools", "handoff") and len(loc) != 2):
        return []
    if loc and loc[0] in ("flow", "supervisor", "lint") and len(loc) != 1:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _describe(loc: PathKey) -> str:
    """``("agents", "returns", "tools", 0)`` -> ``[agents.returns] tools[0]``."""
    if not loc:
        return "the flow"
    if loc[0] == "handoff" and len(loc) >= 2:
        head, rest = f"[[handoff]] #{int(loc[1]) + 1}", loc[2:]
    elif loc[0] in ("agents", "tools") and len(loc) >= 2:
        head, rest = f"[{loc[0]}.{loc[1]}]", loc[2:]
    else:
        head, rest = f"[{loc[0]}]", loc[1:]
    tail = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest).lstrip(".")
    return f"{head} {tail}" if tail else head


class _Where:
    """Where the value of a key stands (``"x"`` in ``instructions_file = "x"``), found only when asked."""

    _TO_VALUE = re.compile(r"""(?:"(?:[^"\\\n]|\\.)*+"|'[^'\n]*+'|[^=:"'\n])*+[=:][ \t]*+""")

    def __init__(self, text: str, source: SourceMap) -> None:
        self.text, self.source = text, source
        self._starts: list[int] | None = None

    def value(self, loc: PathKey) -> Location:
        key = self.source.positions.get(loc)
        if key is None:
            return self.source.locate(loc)
        if self._starts is None:  # built once, on the first problem: linear
            self._starts = [0, *(m.end() for m in re.finditer("\n", self.text))]
        line, col = key
        if not 1 <= line <= len(self._starts):
            return self.source.locate(loc)
        m = self._TO_VALUE.match(self.text, self._starts[line - 1] + col - 1)
        if m is None or m.end() >= len(self.text) or self.text[m.end()] == "\n":
            return self.source.locate(loc)
        at = m.end()
        row = bisect_right(self._starts, at)
        return Location(self.source.file, row, at - self._starts[row - 1] + 1)


_HELP = {
    FileProblem.OUTSIDE: "a flow reads only files inside its own folder ({base}): move the file there, "
    "and name it relative to the flow",
    FileProblem.SPECIAL: "name a regular file: directories, FIFOs, devices and sockets are never read",
    FileProblem.SIZE: "keep the file at most 1 MiB",
    FileProblem.ENCODING: "save the file as UTF-8",
    FileProblem.MISSING: "create it, or fix the path: it is relative to the flow's folder ({base})",
    FileProblem.UNREADABLE: "make the file readable",
}


def file_problem(what: str, ref: str, exc: ConfinedFileError, where: Location, base: Path) -> Diagnostic:
    """``SB005`` for a refused file a flow names (``exc.kind.refused``), else ``SB004``."""
    code, rule = ("SB005", "file-confinement") if exc.kind.refused else ("SB004", "instructions-file")
    return Diagnostic(
        code,
        Severity.ERROR,
        f"cannot read {what} {ref!r}: {exc.reason}",
        where,
        rule=rule,
        help=_HELP[exc.kind].format(base=base),
    )


def _read_companions(flow: Flow, where: _Where, base: Path) -> tuple[Flow, list[Diagnostic]]:
    """Read every ``instructions_file`` (relative to the flow's folder, confined to it) into
    ``instructions``, and check the supervisor's ``script`` the same way (see the module doc)."""
    problems: list[Diagnostic] = []

    def read(what: str, ref: str, loc: PathKey, *, missing_ok: bool = False) -> str | None:
        try:
            return read_confined(ref, base)
        except ConfinedFileError as exc:
            if not (missing_ok and not exc.kind.refused):
                problems.append(file_problem(what, ref, exc, where.value(loc), base))
            return None

    agents = dict(flow.agents)
    for name, agent in flow.agents.items():
        if agent.instructions_file:
            text = read("instructions_file", agent.instructions_file, ("agents", name, "instructions_file"))
            if text is not None:
                agents[name] = agent.model_copy(update={"instructions": text})
    supervisor = flow.supervisor
    if supervisor is not None and supervisor.instructions_file:
        text = read("instructions_file", supervisor.instructions_file, ("supervisor", "instructions_file"))
        if text is not None:
            supervisor = supervisor.model_copy(update={"instructions": text})
    if supervisor is not None and supervisor.script:
        read("the supervisor's script", supervisor.script, ("supervisor", "script"), missing_ok=True)
    return flow.model_copy(update={"agents": agents, "supervisor": supervisor}), problems
