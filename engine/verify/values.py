"""SB110: settings the Realtime API takes from a fixed set: ``[flow] voice``; and a ``[flow] model`` at all.

The known voices are read from ``openai.types.realtime``, the reference schema of the GA protocol: the
``Literal`` members of the annotation of ``session.audio.output.voice`` (the field ``session.update``
sets, see ``engine/compile/plan.py``). That annotation is ``Union[str, Literal[...], VoiceID]``: the
SDK admits any string so that new voices need no new SDK, and a custom voice is an object ``{"id": ...}``
(which a flow's string ``voice`` cannot express). The server rejects a voice name it does not know, so
a name outside the ``Literal`` is an error here; when the SDK learns a voice, so does this check.

``[flow] model`` is only checked for being empty: model names are many, dated and versioned, and an
unlisted one is more likely new than wrong. The flow format has no other enumerated realtime setting
(audio formats, modalities) to check. Cost: O(1) per flow (the voice list is built once).

Importing ``openai.types`` takes ~0.5 s (the package imports every type it has), more than the rest of a
small lint: a voice in :data:`COMMON_VOICES` is accepted without it; any other voice is looked up in the SDK.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from functools import cache
from typing import Any

from pydantic import BaseModel

from engine.flow.diagnostics import Diagnostic
from engine.flow.model import FlowSettings
from engine.flow.suggest import did_you_mean, suggestion_text
from engine.verify.scope import Scope

VOICE_FIELD = ("audio", "output", "voice")
"""Where ``session.update`` puts the voice, under ``session``."""
COMMON_VOICES = frozenset(
    {"alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"}
)
"""Voices accepted without importing the SDK; a test checks that the SDK still lists each of them."""


def literal_members(annotation: Any) -> list[Any]:
    """The members of every ``Literal`` inside ``annotation`` (through ``Union``, ``Optional``, ``Annotated``,
    ``list``, ...), in order, without repeats."""
    if typing.get_origin(annotation) is typing.Literal:
        return list(dict.fromkeys(typing.get_args(annotation)))
    found: dict[Any, None] = {}
    for arg in typing.get_args(annotation):
        found.update(dict.fromkeys(literal_members(arg)))
    return list(found)


def field_annotation(model: type[BaseModel], path: tuple[str, ...]) -> Any:
    """The annotation of the field at ``path`` below ``model``, following the model each field holds."""
    annotation: Any = model
    for name in path:
        holder = _model_in(annotation)
        if holder is None:
            raise LookupError(f"no model with a field {name!r} in {annotation!r}")
        annotation = holder.model_fields[name].annotation
    return annotation


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


@cache
def realtime_voices() -> tuple[str, ...]:
    """The built-in voices of the Realtime GA protocol (``alloy``, ``ash``, ..., ``marin``, ``cedar``)."""
    from openai.types.realtime import RealtimeSessionCreateRequest  # ~0.5 s: only when a voice is uncommon

    members = literal_members(field_annotation(RealtimeSessionCreateRequest, VOICE_FIELD))
    return tuple(m for m in members if isinstance(m, str))


def check(scope: Scope) -> Iterator[Diagnostic]:
    settings = scope.flow.flow
    if settings.voice not in COMMON_VOICES and settings.voice not in (voices := realtime_voices()):
        meant = did_you_mean(settings.voice, voices)
        listed = ", ".join(f"'{v}'" for v in voices)
        yield scope.diagnostic(
            "SB110",
            f"voice '{settings.voice}' is not a voice of the Realtime API{suggestion_text(meant)}",
            ("flow", "voice"),
            extra={"field": "voice", "value": settings.voice, "known": list(voices)},
            help=f"change voice to '{meant}'" if meant else f"use one of {listed}",
        )
    if not settings.model.strip():
        default = FlowSettings.model_fields["model"].default
        yield scope.diagnostic(
            "SB110",
            "model is empty: every session.update names the Realtime model",
            ("flow", "model"),
            extra={"field": "model", "value": settings.model},
            help=f'set model = "{default}" (or another Realtime model), or remove it for the default',
        )
