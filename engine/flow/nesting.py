"""Nesting depth of TOML/JSON text, found by a linear lexical pass that runs before the parser does.

``tomllib`` and ``json`` recurse once per nested array or table and raise ``RecursionError`` a few hundred
levels down (``tomllib`` near 330); :func:`excess_nesting` finds the first place that nests deeper than a
limit, so the loader can report it with a position instead.  The same lexer skips over a whole array or
table without recursing (:func:`container_end`), for the position scanners.

Depth counts the containers around a point, the document itself included, as the parsed data nests them:
``{"a": [1]}`` and ``a = [1]`` are both 2 deep at the ``1``.  In TOML a header ``[a.b]`` opens one table
per part (``[[a.b]]`` one more: the array and its element), a dotted key ``a.b.c = 1`` one per part but
the last.  A header path that walks through an earlier ``[[array]]`` counts that array once, not twice.
Brackets inside strings and comments do not count.  The text need not be valid: on anything unexpected the
pass skips a token and goes on, and every token is matched once, so the cost is linear in the text.
"""

from __future__ import annotations

import re
import tomllib
from typing import Literal

Format = Literal["toml", "json"]
MAX_NESTING = 64
"""The deepest nesting a document may have (the loader's rule SB006); far above any flow's needs, far below
the parsers' recursion limits."""

# Every alternative ends in a fallback, so a token always matches and never rescans: an unterminated string
# runs to the end of its line (single-line) or of the text (multi-line, JSON).
TOML_TOKEN = re.compile(
    # a whole `key = scalar` line (the common case, one token instead of six; it nests nothing)
    r"""(?P<line>[ \t]*+[A-Za-z0-9_-]++[ \t]*+=[ \t]*+(?:"(?:[^"\\\n]++|\\.)*+"(?!")|'[^'\n]*+'(?!')"""
    r"""|[A-Za-z0-9_.:+-]++)[ \t\r]*+(?:#[^\n]*+)?(?:\n|\Z))"""
    r"""|(?P<s>"{3}(?:[^"\\]++|\\.|"(?!""))*+(?:"{3,5}|\\?\Z)"""
    r"""|'{3}(?:[^']++|'(?!''))*+(?:'{3,5}|\Z)"""
    r"""|"(?:[^"\\\n]++|\\.)*+(?:"|\\?(?=\n|\Z))"""
    r"""|'[^'\n]*+(?:'|(?=\n|\Z)))"""
    r"|(?P<skip>[ \t\r]++|#[^\n]*+)"
    r"|(?P<p>[\[\]{}=,.\n])"
    r"""|(?P<w>[^ \t\r\n\[\]{}=,.#"']++)""",
    re.DOTALL,
)
_JSON_TOKEN = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)|(?P<p>[\[\]{}])|[^"\[\]{}]++', re.DOTALL)


def excess_nesting(text: str, fmt: Format, limit: int = MAX_NESTING) -> tuple[int, int] | None:
    """The 1-based ``(line, col)`` where nesting first goes deeper than ``limit``, or ``None``.

    Columns count characters; a leading BOM is not a column.  Cost: one pass over ``text``, O(1) per token.
    """
    bom = text.startswith("\ufeff")
    start = int(bom)
    at = _toml_excess(text, start, limit) if fmt == "toml" else _json_excess(text, start, limit)
    if at is None:
        return None
    line_start = text.rfind("\n", 0, at) + 1
    line = text.count("\n", 0, at) + 1
    return line, at - max(line_start, start) + 1


def container_end(text: str, i: int, fmt: Format) -> int | None:
    """The offset just past the array or table that opens at ``text[i]``, or ``None`` if it never closes.

    Cost: linear in the container's length; no recursion.
    """
    token = (TOML_TOKEN if fmt == "toml" else _JSON_TOKEN).finditer
    depth = 0
    for m in token(text, i):
        p = m["p"]
        if p is None:
            continue
        if p in "[{":
            depth += 1
        elif p in "]}":
            depth -= 1
            if depth == 0:
                return m.end()
    return None


def _json_excess(text: str, start: int, limit: int) -> int | None:
    depth = 0
    for m in _JSON_TOKEN.finditer(text, start):
        p = m["p"]
        if p is None:
            continue
        if p in "[{":
            depth += 1
            if depth > limit:
                return m.start()
        else:
            depth = max(depth - 1, 0)
    return None


def _toml_excess(text: str, start: int, limit: int) -> int | None:
    """The offset where TOML nesting exceeds ``limit``; a small state machine over :data:`TOML_TOKEN`."""
    frames: list[tuple[str, int]] = []  # open inline arrays / tables: (closer, depth)
    aots: set[tuple[str, ...]] = set()  # paths of the [[array]] headers so far (at most `limit` parts each)
    table = 1  # depth of the table the last [header] opened
    key = True  # reading a key (else a value)
    header: list[str] | None = None  # the parts of the [header] being read
    aot = False
    extra = 0  # arrays of tables the header walks through
    dots = 0  # dots of the dotted key being read
    parent = 1  # depth of the table the value after `=` belongs to
    part_at = start
    for m in TOML_TOKEN.finditer(text, start):
        if m["line"] is not None:  # `key = scalar` then the line's end: as the newline after the value
            p = "\n"
            if header is None and frames:
                key = False
                continue
        elif m["skip"] is not None:
            continue
        else:
            p = m["p"]
        if header is not None:  # inside [a.b] or [[a.b]]
            if p is None:
                if aots and tuple(header) in aots:
                    extra += 1
                header.append(_key_text(m.group()))
                part_at = m.start()
                if 1 + len(header) + extra > limit:
                    return part_at
            elif p == "[" and not header:
                aot = True
            elif p in "]\n":
                table = 1 + len(header) + extra + aot
                if table > limit:
                    return part_at
                if aot:
                    aots.add(tuple(header))
                header = None
            continue
        here = frames[-1][1] if frames else table
        if p == "\n":
            if not frames:
                key, dots = True, 0
        elif key:
            if p is None:
                part_at = m.start()
            elif p == ".":
                dots += 1
                if here + dots > limit:
                    return part_at
            elif p == "=":
                parent, key, dots = here + dots, False, 0
            elif p == "[" and not frames:
                header, aot, extra = [], False, 0
            elif p == "}" and frames:
                frames.pop()
                key = False
        elif p in ("[", "{"):
            depth = (here if frames and frames[-1][0] == "]" else parent) + 1
            if depth > limit:
                return m.start()
            frames.append(("]" if p == "[" else "}", depth))
            if p == "{":
                key, dots = True, 0
        elif p in ("]", "}"):
            if frames:
                frames.pop()
        elif p == "," and frames and frames[-1][0] == "}":
            key, dots = True, 0
    return None


def _key_text(raw: str) -> str:
    """A key as the parser reads it: ``'a'``, ``"a"`` and ``a`` are the same key."""
    if raw[0] == "'" or (raw[0] == '"' and "\\" not in raw):
        return raw[1:-1]
    if raw[0] == '"':
        try:
            return next(iter(tomllib.loads(raw + "=0")))
        except (tomllib.TOMLDecodeError, StopIteration):
            return raw
    return raw
