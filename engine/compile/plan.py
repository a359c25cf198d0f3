"""Per-flow work done once, not per conversation: each agent's tool list, transfer targets and argument validators."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from engine.compile.pipeline import CompiledFlow
from engine.flow.model import TRANSFER_PREFIX, Flow
from engine.session.config import agent_tools, carry_keys, transfer_targets


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
    escalates: bool


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
    escalates = name in flow.front_agents
    tools = agent_tools(flow, name, escalation=escalates)
    targets = transfer_targets(flow, name)
    return AgentPlan(
        name=name,
        tools=tools,
        transfers={TRANSFER_PREFIX + t: t for t in targets},
        carry={t: carry_keys(flow, name, t) for t in targets},
        validators={t["name"]: Draft202012Validator(t["parameters"]) for t in tools},
        escalates=escalates,
    )
