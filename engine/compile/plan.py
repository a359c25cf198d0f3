"""Per-flow work done once, not per conversation: each agent's tool list (flow tools, one ``transfer_to_<x>``
per route, the escalation tool), transfer targets, carried keys and argument validators."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from engine.compile.pipeline import CompiledFlow
from engine.flow.model import ESCALATION_TOOL, TRANSFER_PREFIX, Flow
from engine.verify.graph import has_fallback


@dataclass(frozen=True)
class AgentPlan:
    name: str
    tools: list[dict[str, Any]]
    """The function tools offered to the model (flow tools, transfers, escalation)."""
    transfers: dict[str, str]
    """``transfer_to_<x>`` tool name -> target agent."""
    carry: dict[str, list[str] | None]
    """Target agent -> the keys that cross the edge (``None``: all)."""
    validators: dict[str, Draft202012Validator]
    """Tool name -> validator of its arguments."""


@dataclass(frozen=True)
class FlowPlan:
    flow: Flow
    agents: dict[str, AgentPlan]

    @classmethod
    def of(cls, compiled: CompiledFlow) -> FlowPlan:
        """The plan of ``compiled``, built once per compiled machine class and dropped with it.

        The plan must not refer to the class (its key), or the weak key would never die.
        """
        plan = _plans.get(compiled.machine)
        if plan is None or plan.flow is not compiled.flow:
            plan = cls(
                compiled.flow, {name: _agent_plan(compiled.flow, name) for name in compiled.flow.agents}
            )
            _plans[compiled.machine] = plan
        return plan


_plans: weakref.WeakKeyDictionary[type, FlowPlan] = weakref.WeakKeyDictionary()


def _agent_plan(flow: Flow, name: str) -> AgentPlan:
    tools = agent_tools(flow, name, escalation=name in flow.front_agents)
    targets = transfer_targets(flow, name)
    return AgentPlan(
        name=name,
        tools=tools,
        transfers={TRANSFER_PREFIX + t: t for t in targets},
        carry={t: carry_keys(flow, name, t) for t in targets},
        validators={t["name"]: Draft202012Validator(t["parameters"]) for t in tools},
    )


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
        properties[key] = {
            "type": "string",
            "description": f"The value of '{key}' as the user stated it (passed on as an unverified claim).",
        }
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
