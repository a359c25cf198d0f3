"""SB110: the voice is one the Realtime GA protocol knows (read from ``openai.types.realtime``); a model is set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Optional, Union

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types.realtime import RealtimeSessionCreateRequest
from openai.types.realtime.realtime_audio_config_output import RealtimeAudioConfigOutput

from engine.flow.diagnostics import Diagnostic, Severity
from engine.flow.loader import parse_flow
from engine.verify import verify
from engine.verify.values import COMMON_VOICES, field_annotation, literal_members, realtime_voices

Where = Callable[..., tuple[int, int]]

BASE = """\
[flow]
name = "t"
entry = "front"
recovery = "helper"
{setting}

[agents.front]
handoffs = ["helper"]

[agents.helper]
terminal = true
"""


def lint(setting: str) -> list[Diagnostic]:
    return verify(parse_flow(BASE.format(setting=setting), "flow.toml"))


def test_the_voices_come_from_the_protocol_schema() -> None:
    voices = realtime_voices()
    assert {"alloy", "sage", "marin", "cedar"} <= set(voices)
    annotation = RealtimeAudioConfigOutput.model_fields["voice"].annotation
    assert list(voices) == [m for m in literal_members(annotation) if isinstance(m, str)]
    assert field_annotation(RealtimeSessionCreateRequest, ("audio", "output", "voice")) == annotation


def test_the_voices_accepted_without_the_sdk_are_all_in_the_sdk() -> None:
    assert COMMON_VOICES <= set(realtime_voices())


def test_literal_members_look_through_unions_and_optionals() -> None:
    nested = Optional[Union[str, Literal["a", "b"], list[Literal["c", "a"]]]]  # noqa: UP007, UP045 (typing's own)
    assert literal_members(nested) == ["a", "b", "c"]
    assert literal_members(Literal["x"] | int | None) == ["x"]
    assert literal_members(int) == []


def test_field_annotation_of_a_missing_field() -> None:
    with pytest.raises(LookupError):
        field_annotation(RealtimeSessionCreateRequest, ("instructions", "voice"))


@pytest.mark.parametrize("voice", realtime_voices())
def test_every_known_voice_is_clean(voice: str) -> None:
    assert lint(f'voice = "{voice}"') == []


def test_the_default_voice_and_model_are_clean() -> None:
    assert lint("") == []


def test_an_unknown_voice_with_a_near_miss(position_of: Where) -> None:
    [d] = lint('voice = "sagee"')
    assert (d.code, d.severity, d.rule) == ("SB110", Severity.ERROR, "unknown-value")
    assert (d.location.line, d.location.col) == position_of(BASE.format(setting='voice = "sagee"'), "voice")
    assert d.message == "voice 'sagee' is not a voice of the Realtime API (did you mean 'sage'?)"
    assert d.help == "change voice to 'sage'"
    assert d.extra["value"] == "sagee" and d.extra["known"] == list(realtime_voices())


def test_voice_names_are_case_sensitive_upstream() -> None:
    [d] = lint('voice = "Marin"')
    assert d.help == "change voice to 'marin'"


def test_an_unknown_voice_without_a_near_miss_lists_the_voices() -> None:
    [d] = lint('voice = "nova-2"')
    assert "did you mean" not in d.message
    assert d.help == "use one of " + ", ".join(f"'{v}'" for v in realtime_voices())


@pytest.mark.parametrize("model", ['""', '"  "'])
def test_an_empty_model(model: str) -> None:
    [d] = lint(f"model = {model}")
    assert d.code == "SB110" and d.message.startswith("model is empty")
    assert 'model = "gpt-realtime"' in d.help


def test_any_model_name_is_accepted() -> None:
    """Model names are not checked against a list: new and dated models appear faster than SDK releases."""
    assert lint('model = "gpt-realtime-2099-01-01"') == []


@given(st.text(alphabet="abcdeilmnorsthv-_", max_size=8))
def test_sb110_iff_the_voice_is_unknown(voice: str) -> None:
    found = [d for d in lint(f'voice = "{voice}"') if d.code == "SB110"]
    assert bool(found) == (voice not in realtime_voices())
    if found and "did you mean" in found[0].message:
        assert found[0].help.removeprefix("change voice to ").strip("'") in realtime_voices()
