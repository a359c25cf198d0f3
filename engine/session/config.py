"""The realtime ``session.update`` of one agent: its instructions with the context it may see, and its tools
(the per-flow tool lists are built once, in :mod:`engine.compile.plan`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from engine.flow.model import Flow

AGENT_MARKER = "# agent: "
"""First line of every agent's instructions: names the agent (the emulator's scripts match on it)."""


CLAIMS_HEADING = "# Unverified claims (stated in the conversation, not checked by any tool)"


def agent_instructions(
    flow: Flow, agent: str, context: Mapping[str, Any], claims: Mapping[str, str] | None = None
) -> str:
    """The agent's instructions, then the trusted context it may see, then the claims it may see."""
    text = f"{AGENT_MARKER}{agent}\n{flow.agents[agent].instructions.strip()}"
    if context:
        text += "\n\n# Known context\n" + json.dumps(dict(context), sort_keys=True, default=str)
    if claims:
        text += f"\n\n{CLAIMS_HEADING}\n" + json.dumps(dict(claims), sort_keys=True)
    return text


def agent_update(
    flow: Flow,
    agent: str,
    context: Mapping[str, Any],
    tools: list[dict[str, Any]],
    claims: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A handoff's ``session.update``: ``agent``'s instructions, tools and ``tool_choice`` only, so the audio
    formats, turn detection, transcription, voice and modalities the client (or the flow) set stay."""
    return {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "instructions": agent_instructions(flow, agent, context, claims),
            "tools": tools,
            "tool_choice": "auto",
        },
    }


def session_update(
    flow: Flow,
    agent: str,
    context: Mapping[str, Any],
    tools: list[dict[str, Any]],
    modalities: tuple[str, ...],
    claims: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The first, full ``session.update`` of a conversation: ``agent`` with its ``tools`` and the context it
    may see, plus the flow's ``model``, ``voice`` and the output modalities (handoffs send
    :func:`agent_update`, so these stay fixed)."""
    return {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "model": flow.flow.model,
            "output_modalities": list(modalities),
            "instructions": agent_instructions(flow, agent, context, claims),
            "tools": tools,
            "tool_choice": "auto",
            "audio": {"output": {"voice": flow.flow.voice}},
        },
    }
