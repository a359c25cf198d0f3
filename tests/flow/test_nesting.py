"""Nesting depth pre-scan and container skipping (engine.flow.nesting), before tomllib/json recurse."""

from __future__ import annotations

import json
import random
import tomllib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.flow.nesting import Format, container_end
from engine.flow.positions import excess_nesting
from tests.flow.test_positions import KEYS, STRINGS, TOML_VALUES, TomlWriter, offset


def depth(value: Any) -> int:
    """Containers around the deepest point of parsed data, the value itself included."""
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def measured(text: str, fmt: Format) -> int:
    """The smallest limit ``excess_nesting`` accepts ``text`` under."""
    limit = 1
    while excess_nesting(text, fmt, limit) is not None:
        limit += 1
    return limit


def test_simple_depths() -> None:
    cases = [
        ("a = 1", 1),
        ("a = [1]", 2),
        ("a = [[1], {b = [{}]}]", 5),
        ("[a.b.c]\n", 4),
        ("a.b.c = 1\n", 3),
        ("[[a]]\n", 3),
        ("[[a]]\n[[a]]\n[a.b]\nc = []\n", 5),  # walks through the array of tables: array and element
        ("[[a]]\n[[ 'a' . \"b\" ]]\n", 5),  # quoted and bare spellings of one key
        ('[x]\ns = "[[[[" # [[[[\nt = """\n[[[[\n"""\nu = \'[[[\'\n', 2),
    ]
    for text, expected in cases:
        assert depth(tomllib.loads(text)) == expected, text
        assert measured(text, "toml") == expected, text
    assert measured('{"a": "[[[[", "b": [[], {"c": 1}]}', "json") == 3


def test_positions_of_the_first_excess() -> None:
    assert excess_nesting("x = [[1]]", "toml", 2) == (1, 6)
    assert excess_nesting("x = [[1]]", "toml", 3) is None
    assert excess_nesting("[a.b.c]\nx = 1", "toml", 3) == (1, 6)  # the part `c`
    assert excess_nesting("[t]\nk.l.m = 1\n", "toml", 3) == (2, 3)  # the part `l`
    assert excess_nesting("y = { a.b = [1] }", "toml", 3) == (1, 13)
    assert excess_nesting('{\n  "a": [\n    [1]]}', "json", 2) == (3, 5)
    assert excess_nesting("", "toml") is None and excess_nesting("", "json") is None


@pytest.mark.parametrize("n", [65, 1_000, 100_000])
def test_deep_documents_are_caught_before_the_parser_recurses(n: int) -> None:
    cases: dict[Format, list[str]] = {
        "toml": [
            "x = " + "[" * n + "]" * n,
            "x = " + "{a=" * n + "1" + "}" * n,
            "[" + ".".join("a" * n) + "]",
        ],
        "json": ["[" * n + "]" * n, '{"a":' * n + "1" + "}" * n],
    }
    for fmt, texts in cases.items():
        for text in texts:
            at = excess_nesting(text, fmt)
            assert at is not None
            line, col = at
            assert line == 1 and col <= 5 * 65  # at the 65th level, however deep the rest goes
    with pytest.raises(RecursionError):
        tomllib.loads("x = " + "[" * 1_000 + "]" * 1_000)  # what the pre-scan saves the loader from


def test_a_bom_is_not_a_column() -> None:
    assert excess_nesting("\ufeffx = [[1]]", "toml", 2) == (1, 6)
    assert excess_nesting("\ufeff[[1]]", "json", 1) == (1, 2)
    assert excess_nesting("\ufeff\n[[1]]", "json", 1) == (2, 2)


def test_long_adversarial_lines_stay_linear() -> None:
    for text in ['"\\"' * 100_000, "'" * 300_000, '"""' + "\\" * 300_000, "a = [" + '"\\' * 100_000]:
        assert excess_nesting(text, "toml") is None and excess_nesting(text, "json") is None


def test_container_end_skips_strings_and_comments() -> None:
    text = 'x = [1, "]", \'[\', """\n]]""", # ]\n {a = "}"}] rest'
    start = text.index("[")
    end = container_end(text, start, "toml")
    assert end is not None and text[end:] == " rest"
    assert tomllib.loads(text[:end])["x"][1:3] == ["]", "["]
    j = '{"a": [1, "]}", {"b": "\\"}"}]} tail'
    assert j[: container_end(j, 0, "json")] == j.removesuffix(" tail")
    assert container_end("[[1]", 0, "json") is None


JSON_DOCS = st.recursive(
    st.one_of(st.none(), st.integers(), STRINGS),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=30,
)


@given(doc=JSON_DOCS, indent=st.sampled_from([None, 1]), limit=st.integers(1, 12))
def test_json_depth_is_exact(doc: Any, indent: int | None, limit: int) -> None:
    text = json.dumps(doc, indent=indent)
    at = excess_nesting(text, "json", limit)
    assert (at is None) == (depth(doc) <= limit)
    if at is not None:
        assert text[offset(text, at)] in "[{"


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.dictionaries(KEYS, TOML_VALUES, max_size=5), rnd=st.randoms(use_true_random=False))
def test_toml_depth_is_exact(doc: dict[str, Any], rnd: random.Random) -> None:
    writer = TomlWriter(rnd)
    writer.table((), [], doc)
    text = writer.text
    assert tomllib.loads(text) == doc
    exact = max(depth(doc), 1)
    assert excess_nesting(text, "toml", exact) is None
    assert exact == 1 or excess_nesting(text, "toml", exact - 1) is not None


@settings(max_examples=300)
@given(text=st.text(), fmt=st.sampled_from(["toml", "json"]), limit=st.integers(1, 4))
def test_never_raises_and_points_inside_the_text(text: str, fmt: Format, limit: int) -> None:
    at = excess_nesting(text, fmt, limit)
    if at is not None:
        offset(text, at)
