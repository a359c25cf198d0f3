"""The realtime session config of one agent: instructions with its visible context, its tools, its transfers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from engine.flow.model import ESCALATION_TOOL, TRANSFER_PREFIX, Flow
from engine.verify.graph import has_fallback

AGENT_MARKER = "# agent: "
"""First line of every agent's instructions: names the agent (the emulator's scripts match on it)."""

ESCALATION_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "relevantContextFromLastUserMessage": {
            "type": "string",
            "description": "Key information from the user's most recent message, for the supervisor.",
        }
    },
    "required": ["relevantContextFromLastUserMessage"],
    "additionalProperties": False,
}


def transfer_targets(flow: Flow, agent: str) -> list[str]:
    """Where ``agent`` may transfer: its declared handoffs, then the implicit fallback to recovery."""
    declared = [t for t in dict.fromkeys(flow.agents[agent].handoffs) if t in flow.agents and t != agent]
    return [*declared, flow.flow.recovery] if has_fallback(flow, agent) else declared


def carry_keys(flow: Flow, source: str, target: str) -> list[str] | None:
    """Keys that cross ``source -> target`` (``None``: all of them)."""
    contract = flow.contracts.get((source, target))
    if target not in flow.agents[source].handoffs:
        return list(flow.flow.fallback_carry)
    return None if contract is None or contract.carry is None else list(contract.carry)


def transfer_tool(flow: Flow, source: str, target: str) -> dict[str, Any]:
    """The ``transfer_to_<target>`` function tool offered to ``source`` (described by the edge's ``when``)."""
    contract = flow.contracts.get((source, target))
    declared = target in flow.agents[source].handoffs
    what = flow.agents[target].description or target
    if declared:
        when = contract.when if contract is not None and contract.when else ""
        description = f"Transfer the conversation to '{target}': {what}" + (
            f" Use when: {when}" if when else ""
        )
    else:
        description = f"Fallback: transfer to '{target}' ({what}) when you cannot help the user any further."
    properties: dict[str, Any] = {
        "reason": {"type": "string", "description": "Why you are transferring, in one sentence."}
    }
    for key in carry_keys(flow, source, target) or []:
        properties[key] = {"type": "string", "description": f"The value of '{key}', if you know it."}
    return {
        "type": "function",
        "name": TRANSFER_PREFIX + target,
        "description": description,
        "parameters": {
            "type": "object",
            "properties": properties,
            "required": ["reason"],
            "additionalProperties": False,
        },
    }


def agent_tools(flow: Flow, agent: str, *, escalation: bool) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = [
        {
            "type": "function",
            "name": name,
            "description": flow.tools[name].description,
            "parameters": flow.tools[name].parameters,
        }
        for name in dict.fromkeys(flow.agents[agent].tools)
        if name in flow.tools
    ]
    tools += [transfer_tool(flow, agent, target) for target in transfer_targets(flow, agent)]
    if escalation:
        tools.append(
            {
                "type": "function",
                "name": ESCALATION_TOOL,
                "description": "Ask the supervisor, a stronger model, what to say next for a non-trivial request.",
                "parameters": ESCALATION_PARAMETERS,
            }
        )
    return tools


def agent_instructions(flow: Flow, agent: str, context: Mapping[str, Any]) -> str:
    text = f"{AGENT_MARKER}{agent}\n{flow.agents[agent].instructions.strip()}"
    if context:
        text += "\n\n# Known context\n" + json.dumps(dict(context), sort_keys=True, default=str)
    return text


def session_update(
    flow: Flow,
    agent: str,
    context: Mapping[str, Any],
    tools: list[dict[str, Any]],
    modalities: tuple[str, ...],
) -> dict[str, Any]:
    """A full ``session.update`` for ``agent`` with its ``tools`` (see :func:`agent_tools`) and the context
    it may see; ``voice`` and ``model`` stay fixed across handoffs."""
    return {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "model": flow.flow.model,
            "output_modalities": list(modalities),
            "instructions": agent_instructions(flow, agent, context),
            "tools": tools,
            "tool_choice": "auto",
            "audio": {"output": {"voice": flow.flow.voice}},
        },
    }
