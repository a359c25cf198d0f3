"""Names: :func:`identifier` maps every name one-to-one onto a Python identifier."""

from __future__ import annotations

import keyword

from hypothesis import given
from hypothesis import strategies as st

from engine.flow.names import AGENT_NAME_PATTERN, TOOL_NAME_PATTERN, identifier

names = st.from_regex(TOOL_NAME_PATTERN, fullmatch=True) | st.from_regex(AGENT_NAME_PATTERN, fullmatch=True)
hyphen_heavy = st.text(alphabet="a_-", min_size=1, max_size=8).map(lambda s: "a" + s)


@given(names | hyphen_heavy)
def test_every_name_becomes_an_identifier(name: str) -> None:
    assert identifier(name).isidentifier()
    if "-" not in name:
        assert identifier(name) == name, "a name that is an identifier stays itself"
    else:
        assert not keyword.iskeyword(identifier(name)) and identifier(name).startswith("_")


@given(st.lists(names | hyphen_heavy, min_size=2, max_size=6, unique=True))
def test_different_names_get_different_identifiers(found: list[str]) -> None:
    assert len({identifier(n) for n in found}) == len(found)


def test_kebab_case_and_snake_case_twins_stay_apart() -> None:
    twins = ["human-agent", "human_agent", "a-_b", "a_-b", "a--b", "a__b"]
    assert len({identifier(n) for n in twins}) == len(twins)
    assert identifier("human-agent") == "_human_0agent"
