"""The one positioned document loader: TOML or JSON text into a pydantic model, every problem a Diagnostic.

Flows (:mod:`engine.flow.loader`), emulator scripts and supervisor rules all load through here, so a bad
document reads the same whatever it is: ``file:line:col``, a rule code, one message.

- ``SB001`` the file cannot be read (:func:`read_document`),
- ``SB002`` malformed TOML/JSON, ``SB104`` a JSON key given twice (:func:`parse_document`),
- ``SB003`` the data does not fit the model (:func:`validate_document`).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from engine.flow.diagnostics import Diagnostic, DocumentError, Location, Severity
from engine.flow.positions import PathKey, json_duplicate_keys, json_positions, toml_positions

FORMATS = {".toml": "toml", ".json": "json"}
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class SourceMap:
    """Maps a document path (``("agents", "returns", "handoffs", 1)``) to where it stands in the file."""

    file: str
    positions: Mapping[PathKey, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: PathKey = ()) -> Location:
        """The position of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), 0, -1):
            pos = self.positions.get(path[:end])
            if pos is not None:
                return Location(self.file, *pos)
        return Location(self.file, 1, 1)


@dataclass(frozen=True)
class Parsed:
    """A parsed document: its data, where each node stands, and problems that did not stop parsing."""

    data: Any
    source: SourceMap
    problems: tuple[Diagnostic, ...] = ()


def error(code: str, rule: str, message: str, location: Location) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, location, rule=rule)


def read_document(path: Path, what: str) -> str:
    """The text of ``path`` (``what`` names it in the error: ``"flow file"``, ``"script"``)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        location = Location(str(path))
        raise DocumentError(
            [error("SB001", "unreadable", f"cannot read {what}: {reason}", location)]
        ) from None


def parse_document(text: str, file: str, fmt: str = "toml") -> Parsed:
    """Parse ``text`` (``fmt``: ``"toml"`` or ``"json"``); raise :class:`DocumentError` when it is malformed."""
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            where = Location(file, exc.lineno, exc.colno)
            raise DocumentError([error("SB002", "malformed", f"malformed JSON: {exc.msg}", where)]) from None
        dupes = tuple(
            error(
                "SB104",
                "duplicate-name",
                f"duplicate key {'.'.join(map(str, p))!r}: the earlier one is lost",
                Location(file, *pos),
            )
            for p, pos in json_duplicate_keys(text)
        )
        return Parsed(data, SourceMap(file, json_positions(text)), dupes)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, col = _toml_error_position(exc)
        message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
        where = Location(file, line, col)
        raise DocumentError([error("SB002", "malformed", f"malformed TOML: {message}", where)]) from None
    return Parsed(data, SourceMap(file, toml_positions(text)))


def _toml_error_position(exc: tomllib.TOMLDecodeError) -> tuple[int, int]:
    line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    if isinstance(line, int) and isinstance(col, int):
        return line, col
    match = re.search(r"at line (\d+), column (\d+)", str(exc))
    return (int(match.group(1)), int(match.group(2))) if match else (1, 1)


def field_message(err: ErrorDetails) -> str:
    """A pydantic error as ``rule[2].field: message`` (the wording of scripts and rules files)."""
    loc: PathKey = tuple(err["loc"])
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "script"
    message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
    return f"{where}: {message}"


def validate_document(
    model: type[M],
    parsed: Parsed,
    *,
    message: Callable[[ErrorDetails], str] = field_message,
    context: dict[str, Any] | None = None,
    settle: Callable[[list[ErrorDetails]], list[ErrorDetails]] = list,
) -> M:
    """``parsed.data`` as ``model``; raise :class:`DocumentError` with one positioned ``SB003`` per problem
    (after the problems parsing found). ``settle`` may drop the errors another error already explains."""
    try:
        return model.model_validate(parsed.data, context=context)
    except ValidationError as exc:
        problems = [
            error("SB003", "schema", message(err), parsed.source.locate(tuple(err["loc"])))
            for err in settle(exc.errors())
        ]
        raise DocumentError([*parsed.problems, *problems]) from None


def load_document(path: Path, model: type[M], what: str, *, context: dict[str, Any] | None = None) -> M:
    """Read, parse and validate a TOML document (emulator scripts, supervisor rules)."""
    return validate_document(model, parse_document(read_document(path, what), str(path)), context=context)


def regex_field(value: object) -> object:
    """A pydantic ``before`` validator: a string becomes a compiled pattern, or a clear error."""
    if isinstance(value, str):
        try:
            return re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value
