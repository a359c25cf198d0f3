"""Source positions for flow documents that were parsed with ``tomllib`` / ``json``.

Neither parser reports positions, so after a successful parse the raw text is scanned once more and
every key and array element is mapped, by its *path* in the parsed document (the same tuple a pydantic
``ValidationError`` reports as ``loc``), to its 1-based ``(line, col)``; columns count characters.

What a path points at:

* a key (``a = 1``, ``"my key" = 1``, ``a.b = 1``, JSON ``"a": 1``): the start of the key; every path a
  dotted key introduces (``("a",)`` and ``("a", "b")``) points at the start of the whole dotted key;
* an array element: its first character;
* a TOML table header ``[a.b]``: its ``[``, for ``("a", "b")`` and for parents not seen before;
  ``[[a.b]]`` gives ``("a", "b", n)`` for the n-th element (counted per parent element);
* the whole document ``()``: 1:1 for TOML, the first character of the value for JSON.

The first occurrence of a path wins, except that an explicit ``[table]`` header takes over a path that
an earlier ``[table.child]`` header only created implicitly.  The scanners assume valid input but never
raise: on anything unexpected they stop and return what they found so far.  Line breaks are ``\\n`` (a
``\\r`` before it is ignored); a leading BOM is not a column (positions are those of the text without it).

Cost: linear in the text.  Paths longer than :data:`MAX_PATH_LENGTH` get no position (a caller falls back
to the nearest ancestor): deeper arrays and tables are skipped without recursing, and a header or dotted
key of thousands of parts records only its first :data:`MAX_PATH_LENGTH` prefixes, not thousands of ever
longer tuples (which made ``[a.a.a....]`` quadratic in time and memory).
"""

from __future__ import annotations

import json
import re
import tomllib
from bisect import bisect_left
from collections.abc import Iterable
from typing import Self

from engine.flow.nesting import Format, container_end, excess_nesting

__all__ = [
    "MAX_PATH_LENGTH",
    "Path",
    "PathKey",
    "Pos",
    "excess_nesting",
    "json_duplicate_keys",
    "json_positions",
    "toml_positions",
]

PathKey = tuple[str | int, ...]
Path = PathKey
Pos = tuple[int, int]

MAX_PATH_LENGTH = 128
"""The longest path that gets a position: twice the default limit of :func:`excess_nesting`, so every
path of a document within that limit has one; it bounds the scanners' recursion (a few frames per level)
and their work per character."""

# Building blocks; possessive quantifiers keep every match linear.
_TOML_BLANK = r"(?:[ \t\r\n]++|#[^\n]*+)*+"  # whitespace, line breaks, comments
_TOML_EOL = r"[ \t]*+(?:#[^\n]*+|\r)?(?:\n|\Z)"
_TOML_BARE = r"[A-Za-z0-9_-]++"
_TOML_BASIC = r'"(?:[^"\\\n]++|\\.)*+"'
_TOML_LITERAL = r"'[^'\n]*+'"
_TOML_ATOM = (  # any value but an array or an inline table
    r'(?:"""(?:[^"\\]++|\\.|"(?!""))*+"{3,5}'
    r"|'''(?:[^']++|'(?!''))*+'{3,5}"
    rf"|{_TOML_BASIC}|{_TOML_LITERAL}"
    r"|[^ \t\r\n,\]}#=\[{\"']++(?: [0-9][0-9]:[^ \t\r\n,\]}#]*+)?)"  # a space may split date and time
)
_JSON_BLANK = r"[ \t\r\n]*+"
_JSON_STRING = r'"(?:[^"\\]++|\\.)*+"'
_JSON_ATOM = rf"(?:{_JSON_STRING}|[-+.0-9A-Za-z]++)"

_T_BLANK = re.compile(_TOML_BLANK)
_T_WS = re.compile(r"[ \t]*+")
_T_EOL = re.compile(_TOML_EOL)
_T_KEY = re.compile(f"{_TOML_BARE}|{_TOML_BASIC}|{_TOML_LITERAL}")
_T_ATOM = re.compile(_TOML_ATOM, re.DOTALL)
_T_ELEMENT = re.compile(rf"{_TOML_BLANK}(?:(?P<atom>{_TOML_ATOM}){_TOML_BLANK})?", re.DOTALL)
# fast paths for bare keys: blank lines then a whole `key = atom` line, `key = atom?`, `[[a.b]]`
_T_LINE = re.compile(
    rf"{_TOML_BLANK}(?:(?P<key>{_TOML_BARE})[ \t]*+=[ \t]*+{_TOML_ATOM}{_TOML_EOL})?", re.DOTALL
)
_T_KEYVAL = re.compile(rf"(?P<key>{_TOML_BARE})[ \t]*+=[ \t]*+(?P<atom>{_TOML_ATOM})?", re.DOTALL)
_T_HEADER = re.compile(
    rf"\[(?P<aot>\[)?(?P<key>[ \t]*+{_TOML_BARE}(?:[ \t]*+\.[ \t]*+{_TOML_BARE})*+)[ \t]*+\](?(aot)\])"
)

_J_BLANK = re.compile(_JSON_BLANK)
_J_ATOM = re.compile(_JSON_ATOM)
_J_ELEMENT = re.compile(rf"{_JSON_BLANK}(?:(?P<atom>{_JSON_ATOM}){_JSON_BLANK})?")
_J_MEMBER = re.compile(
    rf"{_JSON_BLANK}(?P<key>{_JSON_STRING}){_JSON_BLANK}:{_JSON_BLANK}(?:(?P<atom>{_JSON_ATOM}){_JSON_BLANK})?"
)


class _Stop(Exception):
    """Unexpected text: abandon the scan, keep what was found."""


class _Scanner:
    """A cursor ``i`` over ``text``; subclasses record ``path -> offset`` in ``found``."""

    blank: re.Pattern[str]
    element: re.Pattern[str]  # blank, then maybe an atom and the blank after it
    atom: re.Pattern[str]
    fmt: Format

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 1 if text.startswith("\ufeff") else 0
        self.found: dict[PathKey, int] = {}

    def run(self) -> None:
        raise NotImplementedError

    def value(self, path: PathKey) -> None:
        raise NotImplementedError

    def scan(self) -> Self:
        """Run to the end, or up to the first surprise."""
        try:
            self.run()
        except (_Stop, ValueError, RecursionError):
            pass
        return self

    def need(self, rx: re.Pattern[str]) -> re.Match[str]:
        m = rx.match(self.text, self.i)
        if m is None:
            raise _Stop
        self.i = m.end()
        return m

    def at(self, token: str) -> bool:
        return self.text.startswith(token, self.i)

    def expect(self, token: str) -> None:
        if not self.at(token):
            raise _Stop
        self.i += len(token)

    def skip_value(self) -> None:
        """Step over a value without recording anything in it (linear, no recursion)."""
        if self.at("[") or self.at("{"):
            end = container_end(self.text, self.i, self.fmt)
            if end is None:
                raise _Stop
            self.i = end
        else:
            self.need(self.atom)

    def array(self, path: PathKey) -> None:
        """The elements of the array whose ``[`` was just consumed."""
        n = 0
        while True:
            m = self.need(self.element)
            if m["atom"] is not None:
                self.found.setdefault((*path, n), m.start("atom"))
            elif self.at("]"):
                break
            else:
                self.value((*path, n))
                self.need(self.blank)
            n += 1
            if not self.at(","):
                break
            self.i += 1
        self.expect("]")


class _TomlScanner(_Scanner):
    blank = _T_BLANK
    element = _T_ELEMENT
    atom = _T_ATOM
    fmt = "toml"

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.found[()] = self.i
        self.aot_count: dict[PathKey, int] = {}  # resolved array-of-tables path -> elements so far

    def run(self) -> None:
        text, found, simple_line = self.text, self.found, _T_LINE.match
        table: PathKey | None = ()  # None: a table whose keys' paths are too long to record
        while m := simple_line(text, self.i):
            self.i = m.end()
            if (key := m["key"]) is not None:
                if table is not None and len(table) < MAX_PATH_LENGTH:
                    found.setdefault((*table, key), m.start("key"))
                continue
            if self.i == len(text):
                return
            if self.at("["):
                table = self.header()
            else:
                self.keyval(table)
            self.need(_T_EOL)

    def key(self) -> list[str]:
        parts = []
        while True:
            self.need(_T_WS)
            raw = self.need(_T_KEY).group()
            if raw[0] == '"' and "\\" in raw:
                parts.append(next(iter(tomllib.loads(raw + "=0"))))
            else:
                parts.append(raw[1:-1] if raw[0] in "'\"" else raw)
            self.need(_T_WS)
            if not self.at("."):
                return parts
            self.i += 1

    def header(self) -> PathKey | None:
        """The table a ``[header]`` or ``[[header]]`` opens; ``None`` if its path is too long to record."""
        at = self.i
        if m := _T_HEADER.match(self.text, at):
            self.i = m.end()
            array = m["aot"] is not None
            parts = [part.strip(" \t") for part in m["key"].split(".")]
        else:
            array = self.at("[[")
            self.i += 2 if array else 1
            parts = self.key()
            self.expect("]]" if array else "]")
        found, counts = self.found, self.aot_count
        path: PathKey = ()
        for n, part in enumerate(parts, 1):
            if len(path) == MAX_PATH_LENGTH:
                return None
            path = (*path, part)
            found.setdefault(path, at)
            count = counts.get(path)
            if array and n == len(parts):
                count = counts[path] = (count or 0) + 1
            if count:
                if len(path) == MAX_PATH_LENGTH:
                    return None
                path = (*path, count - 1)
        found[path] = at
        return path

    def keyval(self, table: PathKey | None) -> None:
        at = self.i
        m = _T_KEYVAL.match(self.text, self.i)
        if m is not None:
            self.i = m.end()
            if table is None or len(table) == MAX_PATH_LENGTH:
                if m["atom"] is None:
                    self.skip_value()
                return
            path: PathKey = (*table, m["key"])
            self.found.setdefault(path, at)
            if m["atom"] is None:
                self.value(path)
            return
        parts = self.key()
        self.expect("=")
        self.need(_T_WS)
        if table is None:
            self.skip_value()
            return
        room = MAX_PATH_LENGTH - len(table)
        path = table + tuple(parts[:room])
        for end in range(len(table) + 1, len(path) + 1):
            self.found.setdefault(path[:end], at)
        if len(parts) > room:
            self.skip_value()
        else:
            self.value(path)

    def value(self, path: PathKey) -> None:
        self.found.setdefault(path, self.i)
        if len(path) == MAX_PATH_LENGTH:
            self.skip_value()
        elif self.at("["):
            self.i += 1
            self.array(path)
        elif self.at("{"):
            self.i += 1
            self.inline_table(path)
        else:
            self.need(_T_ATOM)

    def inline_table(self, table: PathKey) -> None:
        """The keys of the inline table whose ``{`` was just consumed (TOML 1.1 newlines allowed)."""
        while True:
            self.need(_T_BLANK)
            if self.at("}"):
                break
            self.keyval(table)
            self.need(_T_BLANK)
            if not self.at(","):
                break
            self.i += 1
        self.expect("}")


class _JsonScanner(_Scanner):
    blank = _J_BLANK
    element = _J_ELEMENT
    atom = _J_ATOM
    fmt = "json"

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.duplicates: list[tuple[PathKey, int]] = []

    def run(self) -> None:
        self.need(_J_BLANK)
        self.value(())

    def value(self, path: PathKey) -> None:
        self.found.setdefault(path, self.i)
        if len(path) == MAX_PATH_LENGTH:
            self.skip_value()
        elif self.at("["):
            self.i += 1
            self.array(path)
        elif self.at("{"):
            self.i += 1
            self.object(path)
        else:
            self.need(_J_ATOM)

    def object(self, obj: PathKey) -> None:
        """The members of the object whose ``{`` was just consumed."""
        seen: set[str] = set()
        while (m := _J_MEMBER.match(self.text, self.i)) is not None:
            self.i = m.end()
            raw = m["key"]
            key: str = json.loads(raw) if "\\" in raw else raw[1:-1]
            path = (*obj, key)
            if key in seen:
                self.duplicates.append((path, m.start("key")))
            seen.add(key)
            self.found.setdefault(path, m.start("key"))
            if m["atom"] is None:
                self.value(path)
                self.need(_J_BLANK)
            if not self.at(","):
                break
            self.i += 1
        self.need(_J_BLANK)
        self.expect("}")


def _located(text: str, offsets: Iterable[tuple[PathKey, int]]) -> list[tuple[PathKey, Pos]]:
    """Turn character offsets into 1-based ``(line, col)``; a leading BOM is not a column."""
    bom = text.startswith("\ufeff")
    breaks = [int(bom) - 1, *(m.start() for m in re.finditer("\n", text))]
    return [(path, (line := bisect_left(breaks, i), i - breaks[line - 1])) for path, i in offsets]


def toml_positions(text: str) -> dict[PathKey, Pos]:
    """The ``(line, col)`` of every table, key and array element of a TOML document, by path."""
    return dict(_located(text, _TomlScanner(text).scan().found.items()))


def json_positions(text: str) -> dict[PathKey, Pos]:
    """The ``(line, col)`` of every member and array element of a JSON document, by path."""
    return dict(_located(text, _JsonScanner(text).scan().found.items()))


def json_duplicate_keys(text: str) -> list[tuple[PathKey, Pos]]:
    """Path and position of every repeated key in a JSON object, after its first occurrence.

    ``json.loads`` silently keeps the last value; :func:`json_positions` points at the first key.
    """
    return _located(text, _JsonScanner(text).scan().duplicates)
