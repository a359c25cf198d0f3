"""Masking of sensitive values in what people and files see: audit records and transcript lines.

A flow names its sensitive keys (``[flow] sensitive``, and per tool ``sensitive`` for argument names). The
redactor masks them twice over: by *name* (a dict entry whose key is sensitive, at any depth: tool arguments,
results, audit details) and by *value* (every value once seen under a sensitive name is masked wherever it
reappears as text: a handoff reason, a refusal message, a transcript line). Values are learnt from initial
context, tool arguments, tool results and transfer arguments as they pass the core. A value said by the user
before any of those carried it cannot be recognised yet; lines after that point are masked.

What goes to the model is not masked (the agent that carries a key needs it); which agent sees a key is the
contract's business (sensitive keys travel only on edges whose ``carry`` names them).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from engine.session.actions import Action, Audit, Transcript

MASK = "***"
MIN_VALUE_LENGTH = 2
"""Shorter values are not masked as text (masking every "1" would garble every line)."""


class Redactor:
    """Masks values under sensitive names, and their reappearances in text."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def __bool__(self) -> bool:
        return bool(self.names)

    def learn(self, data: Any) -> None:
        """Remember every value found under a sensitive name in ``data`` (dicts and lists, at any depth)."""
        if not self.names:
            return
        before = len(self._values)
        self._collect(data)
        if len(self._values) != before:
            ordered = sorted(self._values, key=len, reverse=True)  # longest first: no partial masks
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def learnt(self) -> list[str]:
        """The values learnt so far (sorted: a snapshot's)."""
        return sorted(self._values)

    def restore(self, values: Iterable[str]) -> None:
        """Learn ``values`` again (a restored snapshot's)."""
        self._values = {str(v) for v in values}
        ordered = sorted(self._values, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None

    def _collect(self, data: Any) -> None:
        if isinstance(data, dict):
            for key, value in data.items():
                if key in self.names and isinstance(value, str | int | float) and not isinstance(value, bool):
                    if len(text := str(value)) >= MIN_VALUE_LENGTH:
                        self._values.add(text)
                else:
                    self._collect(value)
        elif isinstance(data, list | tuple):
            for item in data:
                self._collect(item)

    def text(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)

    def data(self, data: Any) -> Any:
        """A copy of ``data`` with sensitive entries and known values masked."""
        if isinstance(data, dict):
            return {k: MASK if k in self.names else self.data(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return type(data)(self.data(v) for v in data)
        if isinstance(data, str):
            return self.text(data)
        return data

    def actions(self, actions: list[Action]) -> list[Action]:
        """Audit records and transcript lines masked; everything else (what goes on the wire) untouched."""
        if not self.names:
            return actions
        masked: list[Action] = []
        for action in actions:
            if isinstance(action, Audit):
                r = action.record
                action = Audit(replace(r, reason=self.text(r.reason), detail=self.data(r.detail)))
            elif isinstance(action, Transcript):
                action = replace(action, text=self.text(action.text), detail=self.data(action.detail))
            masked.append(action)
        return masked


class _Redacting(Protocol):
    _redact: Redactor


S = TypeVar("S", bound=_Redacting)
P = ParamSpec("P")


def masked(method: Callable[Concatenate[S, P], list[Action]]) -> Callable[Concatenate[S, P], list[Action]]:
    """Decorate a core entry point: the actions it returns pass through the instance's ``_redact``."""

    @functools.wraps(method)
    def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> list[Action]:
        return self._redact.actions(method(self, *args, **kwargs))

    return run
