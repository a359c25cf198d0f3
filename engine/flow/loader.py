"""Load a flow from TOML or JSON into the pydantic model, keeping the source position of every node.

Every failure becomes a :class:`FlowError` whose diagnostics name the file, line, column and rule:

- ``SB001`` unreadable file or unknown format, ``SB002`` malformed TOML/JSON,
- ``SB003`` schema violation (wrong type, unknown key, missing key, bad name),
- ``SB004`` an ``instructions_file`` that cannot be read,
- ``SB104`` a duplicate name (a JSON object key given twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from engine.flow.diagnostics import Diagnostic, DocumentError, FlowError, Location
from engine.flow.document import (
    FORMATS,
    SourceMap,
    error,
    parse_document,
    read_document,
    validate_document,
)
from engine.flow.model import Agent, Flow, FlowSettings, Handoff, LintSettings, Supervisor, Tool
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


def parse_flow(text: str, file: str, fmt: str = "toml", base_dir: Path | None = None) -> FlowDocument:
    """Parse flow ``text`` (``fmt`` is ``"toml"`` or ``"json"``); ``file`` names it in diagnostics."""
    with gc_paused():
        try:
            parsed = parse_document(text, file, fmt)
            flow = validate_document(Flow, parsed, message=_schema_message, settle=_one_cause)
        except DocumentError as exc:
            raise FlowError(exc.diagnostics) from None
        flow, problems = _resolve_instruction_files(flow, parsed.source, base_dir)
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


def _resolve_instruction_files(
    flow: Flow, source: SourceMap, base_dir: Path | None
) -> tuple[Flow, list[Diagnostic]]:
    """Read every ``instructions_file`` (relative to the flow file) into ``instructions``."""
    problems: list[Diagnostic] = []
    base = base_dir or Path(".")

    def read(ref: str, loc: PathKey) -> str | None:
        try:
            return (base / ref).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            problems.append(
                error(
                    "SB004",
                    "instructions-file",
                    f"cannot read instructions_file {ref!r}: {reason}",
                    source.locate(loc),
                )
            )
            return None

    agents = dict(flow.agents)
    for name, agent in flow.agents.items():
        if agent.instructions_file:
            text = read(agent.instructions_file, ("agents", name, "instructions_file"))
            if text is not None:
                agents[name] = agent.model_copy(update={"instructions": text})
    supervisor = flow.supervisor
    if supervisor is not None and supervisor.instructions_file:
        text = read(supervisor.instructions_file, ("supervisor", "instructions_file"))
        if text is not None:
            supervisor = supervisor.model_copy(update={"instructions": text})
    return flow.model_copy(update={"agents": agents, "supervisor": supervisor}), problems
