"""Load a flow from TOML or JSON into the pydantic model, keeping the source position of every node.

Every failure becomes a :class:`FlowError` whose diagnostics name the file, line, column and rule:

- ``SB001`` unreadable file or unknown format, ``SB002`` malformed TOML/JSON,
- ``SB003`` schema violation (wrong type, unknown key, missing key, bad name),
- ``SB004`` an ``instructions_file`` that cannot be read,
- ``SB104`` a duplicate name (a JSON object key given twice).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from engine.flow.diagnostics import Diagnostic, FlowError, Location, Severity
from engine.flow.model import Flow
from engine.flow.positions import PathKey, json_duplicate_keys, json_positions, toml_positions
from engine.gcpause import gc_paused

FORMATS = {".toml": "toml", ".json": "json"}


@dataclass(frozen=True)
class SourceMap:
    """Maps a document path (``("agents", "returns", "handoffs", 1)``) to where it stands in the file."""

    file: str
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: PathKey = ()) -> Location:
        """The position of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), 0, -1):
            pos = self.positions.get(path[:end])
            if pos is not None:
                return Location(self.file, *pos)
        return Location(self.file, 1, 1)


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
    name = str(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise FlowError(
            [
                _error(
                    "SB001",
                    "unreadable",
                    f"unknown flow format {path.suffix!r}: use .toml or .json",
                    Location(name),
                )
            ]
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowError(
            [_error("SB001", "unreadable", f"cannot read flow file: {exc}", Location(name))]
        ) from None
    return parse_flow(text, name, fmt, base_dir=path.parent)


def parse_flow(text: str, file: str, fmt: str = "toml", base_dir: Path | None = None) -> FlowDocument:
    """Parse flow ``text`` (``fmt`` is ``"toml"`` or ``"json"``); ``file`` names it in diagnostics."""
    with gc_paused():
        return _parse_flow(text, file, fmt, base_dir)


def _parse_flow(text: str, file: str, fmt: str, base_dir: Path | None) -> FlowDocument:
    data, positions, problems = _parse(text, file, fmt)
    source = SourceMap(file, positions)
    if data is None:
        raise FlowError(problems)
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        raise FlowError(problems + [_schema_diagnostic(err, source) for err in exc.errors()]) from None
    flow, file_problems = _resolve_instruction_files(flow, source, base_dir)
    problems += file_problems
    if problems:
        raise FlowError(problems)
    return FlowDocument(flow, source, base_dir or Path("."))


def _parse(text: str, file: str, fmt: str) -> tuple[Any, dict[PathKey, tuple[int, int]], list[Diagnostic]]:
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return (
                None,
                {},
                [
                    _error(
                        "SB002",
                        "malformed",
                        f"malformed JSON: {exc.msg}",
                        Location(file, exc.lineno, exc.colno),
                    )
                ],
            )
        dupes = [
            _error(
                "SB104",
                "duplicate-name",
                f"duplicate key {'.'.join(map(str, p))!r}: the earlier one is lost",
                Location(file, *pos),
            )
            for p, pos in json_duplicate_keys(text)
        ]
        return data, json_positions(text), dupes
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, col = _toml_error_position(exc)
        message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
        return (
            None,
            {},
            [_error("SB002", "malformed", f"malformed TOML: {message}", Location(file, line, col))],
        )
    return data, toml_positions(text), []


def _toml_error_position(exc: tomllib.TOMLDecodeError) -> tuple[int, int]:
    line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    if isinstance(line, int) and isinstance(col, int):
        return line, col
    match = re.search(r"at line (\d+), column (\d+)", str(exc))
    return (int(match.group(1)), int(match.group(2))) if match else (1, 1)


def _schema_diagnostic(err: Any, source: SourceMap) -> Diagnostic:
    loc: PathKey = tuple(err["loc"])
    where = _describe(loc[:-1]) if loc else "the flow"
    kind = err["type"]
    if kind == "extra_forbidden":
        message = f"unknown key {loc[-1]!r} in {where}"
    elif kind == "missing":
        message = f"missing required key {loc[-1]!r} in {where}"
    else:
        message = f"{_describe(loc)}: {err['msg']}"
        if "input" in err and not isinstance(err["input"], dict | list):
            message += f" (got {err['input']!r})"
    return _error("SB003", "schema", message, source.locate(loc))


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
                _error(
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


def _error(code: str, rule: str, message: str, location: Location) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, location, rule=rule)
