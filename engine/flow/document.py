"""The one positioned document loader: TOML or JSON text into a pydantic model, every problem a Diagnostic.

Flows (:mod:`engine.flow.loader`), emulator scripts and supervisor rules all load through here, so a bad
document reads the same whatever it is: ``file:line:col``, a rule code, one message.

- ``SB001`` the file cannot be read (:func:`read_document`), ``SB005`` a file a flow names is refused,
- ``SB002`` malformed TOML/JSON, ``SB006`` nested deeper than :data:`MAX_NESTING`, ``SB104`` a JSON key
  given twice (:func:`parse_document`; a leading BOM is accepted),
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
from engine.flow.files import MIB, ConfinedFileError, read_confined
from engine.flow.nesting import MAX_NESTING, Format, excess_nesting
from engine.flow.positions import PathKey, json_duplicate_keys, json_positions, toml_positions

FORMATS: dict[str, Format] = {".toml": "toml", ".json": "json"}
DOCUMENT_MAX_BYTES = 64 * MIB
"""The cap on a document named on the command line (a flow of 10,000 agents is about 4.5 MB); a file a flow
names (a prompt, the supervisor's rules) is capped at 1 MiB."""
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


def read_document(path: Path, what: str, *, root: Path | None = None) -> str:
    """The text of ``path`` (``what`` names it in the error: ``"flow file"``, ``"script"``).

    Without ``root``, ``path`` is a file the user named (at most :data:`DOCUMENT_MAX_BYTES`); with one, a
    file a flow names, relative to and confined to ``root`` (at most 1 MiB).  Reads through
    :func:`~engine.flow.files.read_confined`; raises :class:`DocumentError` (``SB001``, or ``SB005`` for a
    file a flow names that is refused).
    """
    cap = DOCUMENT_MAX_BYTES if root is None else MIB
    try:
        return read_confined(path, root, max_bytes=cap)
    except ConfinedFileError as exc:
        refused = root is not None and exc.kind.refused
        code, rule = ("SB005", "file-confinement") if refused else ("SB001", "unreadable")
        where = Location(str(path if root is None else root / path))
        raise DocumentError([error(code, rule, f"cannot read {what}: {exc.reason}", where)]) from None


def nesting_problem(file: str, at: tuple[int, int]) -> Diagnostic:
    """``SB006``: the document nests deeper than :data:`MAX_NESTING` at ``at`` (line, col)."""
    return Diagnostic(
        "SB006",
        Severity.ERROR,
        f"nested deeper than {MAX_NESTING} levels of tables and arrays",
        Location(file, *at),
        rule="nesting-depth",
        help=f"flatten the data here: documents may nest at most {MAX_NESTING} levels deep",
    )


def parse_document(text: str, file: str, fmt: Format = "toml") -> Parsed:
    """Parse ``text`` (``fmt``: ``"toml"`` or ``"json"``); raise :class:`DocumentError` when it is malformed
    or nests deeper than :data:`MAX_NESTING` (checked first, in one linear pass: the parsers recurse, and
    ``tomllib`` is quadratic in the length of a dotted header). A leading BOM is dropped."""
    text = text.removeprefix("\ufeff")
    deep = excess_nesting(text, fmt, MAX_NESTING)
    if deep is not None:
        raise DocumentError([nesting_problem(file, deep)])
    try:
        return _parse(text, file, fmt)
    except RecursionError:  # a backstop: the pre-scan bounds nesting far below the parsers' limits
        raise DocumentError([nesting_problem(file, (1, 1))]) from None


def _parse(text: str, file: str, fmt: Format) -> Parsed:
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


def regex_field(value: object) -> object:
    """A pydantic ``before`` validator: a string becomes a compiled pattern, or a clear error."""
    if isinstance(value, str):
        try:
            return re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value
