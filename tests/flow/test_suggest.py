"""Did you mean: which known name a misspelled one is taken for, and when there is none."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.flow.suggest import did_you_mean, suggestion_text

NAMES = st.text(alphabet="abcdeRST_", min_size=0, max_size=8)


@pytest.mark.parametrize(
    ("name", "candidates", "meant"),
    [
        ("retuns", ["sales", "returns", "generalist"], "returns"),
        ("strnig", ["array", "boolean", "integer", "null", "number", "object", "string"], "string"),
        ("sagee", ["alloy", "ash", "sage", "shimmer"], "sage"),
        ("Returns", ["returns", "Returnz"], "returns"),  # a case-only difference wins over a closer spelling
        ("billing", ["sales", "returns"], None),
        ("a1", ["a2"], None),  # two different short names are not a typo of each other
        ("", ["a", "b"], None),
        ("x", [], None),
    ],
)
def test_did_you_mean(name: str, candidates: list[str], meant: str | None) -> None:
    assert did_you_mean(name, candidates) == meant


def test_did_you_mean_takes_any_iterable_once() -> None:
    assert did_you_mean("helpr", (name for name in ["front", "helper"])) == "helper"


def test_suggestion_text() -> None:
    assert suggestion_text("returns") == " (did you mean 'returns'?)"
    assert suggestion_text(None) == ""


@given(NAMES, st.lists(NAMES, max_size=8))
def test_the_suggestion_is_a_candidate_other_than_the_name(name: str, candidates: list[str]) -> None:
    meant = did_you_mean(name, candidates)
    assert meant is None or (meant in candidates and meant != name)


@given(st.lists(NAMES, min_size=1, max_size=8, unique=True), st.data())
def test_a_known_name_is_never_suggested_for_itself(candidates: list[str], data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(candidates))
    assert did_you_mean(name, candidates) != name
    assert did_you_mean(name, [name]) is None


@given(NAMES, st.lists(NAMES, max_size=8))
def test_a_case_variant_is_preferred(name: str, candidates: list[str]) -> None:
    variant = name.swapcase()
    if variant != name:
        assert did_you_mean(name, [*candidates, variant]) in {variant} | {
            c for c in candidates if c.casefold() == name.casefold() and c != name
        }


LOWER = st.text(alphabet="abcde_", max_size=8)


@given(LOWER, st.lists(LOWER, max_size=8))
def test_candidate_order_does_not_matter(name: str, candidates: list[str]) -> None:
    """Among names without case variants, the closest one wins wherever it stands (ties by difflib's order)."""
    assert did_you_mean(name, candidates) == did_you_mean(name, list(reversed(candidates)))
