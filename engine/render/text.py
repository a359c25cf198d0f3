"""Text helpers for diagram labels: shorten a description or a `when` rule, wrap it into short lines."""

from __future__ import annotations

import html
import re
import textwrap

ELLIPSIS = "…"
_SPACE = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def one_line(text: str) -> str:
    """Whitespace (newlines included) collapsed to single spaces."""
    return _SPACE.sub(" ", text).strip()


def first_sentence(text: str) -> str:
    """The first sentence of ``text`` (all of it when it has one sentence), on one line."""
    flat = one_line(text)
    return _SENTENCE_END.split(flat, maxsplit=1)[0]


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut at a word boundary to at most ``limit`` characters (ellipsis included)."""
    flat = one_line(text)
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + ELLIPSIS


def wrap(text: str, width: int) -> list[str]:
    """``text`` wrapped into lines of at most ``width`` characters (long words are kept whole)."""
    return textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False) or [""]


def clip(text: str, width: int, lines: int) -> list[str]:
    """``text`` on at most ``lines`` lines of about ``width`` characters, the last one ending in an ellipsis if cut."""
    parts = wrap(one_line(text), width)
    if len(parts) <= lines:
        return parts
    kept = parts[:lines]
    kept[-1] = shorten(kept[-1] + " " + parts[lines], width)
    if not kept[-1].endswith(ELLIPSIS):
        kept[-1] = kept[-1].rstrip(" ,;:.-") + ELLIPSIS
    return kept


def html_text(text: str) -> str:
    """``text`` on one line for a graphviz HTML-like label: markup characters escaped, and ``]`` as ``&#93;``
    (graphviz 2.43 rejects a label that ends in ``]``)."""
    return html.escape(one_line(text)).replace("]", "&#93;")
