"""The emulator's session and conversation data: the default GA session, ``session.update`` merging, and
small readers of conversation items (their text, tool names, a stand-in token count)."""

from __future__ import annotations

import copy
import re
import time
from typing import Any

from engine.wire.protocol import Event, new_id

SILENCE = {"audio/pcm": b"\x00" * 480, "audio/pcmu": b"\xff" * 80, "audio/pcma": b"\xd5" * 80}
"""10 ms of silence per output format: the "audio" of a spoken reply."""


def default_session(model: str) -> Event:
    pcm = {"type": "audio/pcm", "rate": 24000}
    vad = {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 200,
        "idle_timeout_ms": None,
        "create_response": True,
        "interrupt_response": True,
    }
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": new_id("sess"),
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "prompt": None,
        "truncation": "auto",
        "include": None,
        "expires_at": int(time.time()) + 3600,
        "audio": {
            "input": {
                "format": dict(pcm),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": vad,
            },
            "output": {"format": dict(pcm), "voice": "marin", "speed": 1.0},
        },
    }


def merge_session(session: Event, update: Event) -> None:
    """Apply ``update`` in place: top-level keys replace; ``audio.input``/``audio.output`` merge by key."""
    for key, value in update.items():
        if key == "audio" and isinstance(value, dict):
            audio = session.setdefault("audio", {})
            for side, conf in value.items():
                if isinstance(conf, dict) and isinstance(audio.get(side), dict):
                    audio[side].update(copy.deepcopy(conf))
                else:
                    audio[side] = copy.deepcopy(conf)
        else:
            session[key] = copy.deepcopy(value)


def dig(data: Event, *keys: str) -> Event:
    """``data[k1][k2]…``, with ``{}`` for anything missing or null."""
    for key in keys:
        value = data.get(key)
        data = value if isinstance(value, dict) else {}
    return data


def text_of(item: Event) -> str:
    parts = (c.get("text") or c.get("transcript") or "" for c in item.get("content") or [])
    return " ".join(p for p in parts if p)


def tool_names(tools: Any) -> tuple[str, ...]:
    return tuple(t["name"] for t in tools or [] if isinstance(t, dict) and isinstance(t.get("name"), str))


def chunks(text: str, parts: int) -> list[str]:
    """Split ``text`` into up to ``parts`` pieces (at spaces when it has them) that join back to it."""
    if not text:
        return [""]
    pieces = re.findall(r"\S+\s*|\s+", text) if " " in text else list(text)
    size = -(-len(pieces) // parts)
    return ["".join(pieces[i : i + size]) for i in range(0, len(pieces), size)]


def position(items: list[Event], item: Event) -> int | None:
    """Index of ``item`` (by identity) in ``items``."""
    return next((n for n, other in enumerate(items) if other is item), None)


def tokens(item: Event) -> int:
    """A stand-in token count: the words of an item's text, output or arguments."""
    return len(f"{text_of(item)} {item.get('output', '')} {item.get('arguments', '')}".split())


def summary_of(items: list[Event]) -> str:
    """The scripted model's summary of an out-of-band response's input: deterministic, and it repeats
    nothing that was said (what a summary written with only the carried keys may contain)."""
    messages = [i for i in items if i.get("type") == "message"]
    said = {role: sum(1 for i in messages if i.get("role") == role) for role in ("user", "assistant")}
    return (
        f"(emulator summary) {len(messages)} earlier messages: {said['user']} from the caller, "
        f"{said['assistant']} from the agent."
    )
