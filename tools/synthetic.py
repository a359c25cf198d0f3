"""Generated flows of any size: the one generator the benchmarks (lint, render) and the tests share.

The shape imitates a real contact-centre flow: teams of specialists (the ``group`` field), most handoffs within
a team, some across, every agent reachable from the entry through a chain, a loop budget on every agent, and a
``generalist`` recovery agent that hands back to the entry.
"""

from __future__ import annotations

import json
import random
from typing import Any

from engine.flow.loader import FlowDocument, SourceMap
from engine.flow.model import Flow

TOPICS = (
    "billing",
    "returns",
    "orders",
    "sales",
    "loyalty",
    "shipping",
    "warranty",
    "accounts",
    "fraud",
    "technical",
    "onboarding",
    "retention",
    "payments",
    "claims",
    "support",
    "booking",
)
RULES = (
    "the caller asks about {t}",
    "the caller wants to change their {t} details",
    "the caller is unhappy with {t} and wants someone to look at it again",
    "the request needs a {t} specialist",
    "the caller has a follow-up on {t}",
)


def synthetic_data(
    agents: int,
    handoffs: int = 5,
    team_size: int = 8,
    seed: int = 0,
    name: str = "synthetic",
    contract_share: float = 1.0,
) -> dict[str, Any]:
    """A valid flow of ``agents`` agents (recovery included) with about ``handoffs`` handoffs each, as the
    data a flow file holds; ``contract_share`` of the handoffs get a ``[[handoff]]`` contract.

    Agents form teams of ``team_size``; the first member of a team is its hub. The entry is the first hub;
    every hub routes to up to four further hubs (a tree, so every team is reachable) and to its next member,
    members pass along their team; the rest of the handoffs are random, mostly within the team, otherwise
    to another team's hub.
    """
    if agents < 2:
        raise ValueError("a flow needs at least an entry and a recovery agent")
    rng = random.Random(seed)
    names = [f"{TOPICS[(i // team_size) % len(TOPICS)]}_{i}" for i in range(agents - 1)]
    teams = [names[i : i + team_size] for i in range(0, len(names), team_size)]
    hubs = [team[0] for team in teams]
    table: dict[str, Any] = {}
    contracts: list[dict[str, Any]] = []
    for t, team in enumerate(teams):
        for j, agent in enumerate(team):
            targets = hubs[4 * t + 1 : 4 * t + 5] if j == 0 else []
            targets += team[j + 1 : j + 2]
            others = [h for h in hubs if h != agent]
            mates = [m for m in team if m != agent]
            budget = max(handoffs, len(targets))
            while len(targets) < min(budget, len(set(others) | set(mates))):
                pick = rng.choice(mates if mates and rng.random() < 0.7 else others or mates)
                if pick not in targets:
                    targets.append(pick)
            topic = agent.rsplit("_", 1)[0]
            table[agent] = {
                "description": f"Handles {topic} requests: looks the caller up, answers and routes onwards.",
                "instructions": f"You are the {topic} specialist.",
                "handoffs": targets,
                "max_visits": 3,
                "group": f"{topic} team {t + 1}",
                "terminal": j % 3 == 2,
            }
            for target in targets:
                rule = rng.choice(RULES).format(t=target.rsplit("_", 1)[0])
                if contract_share >= 1 or rng.random() < contract_share:
                    contracts.append({"from": agent, "to": target, "when": rule, "carry": ["user_id"]})
    table["generalist"] = {
        "description": "Fallback agent: apologises and hands back to the entry agent, or ends the call.",
        "instructions": "Apologise and route back.",
        "handoffs": [names[0]],
        "max_visits": 2,
        "terminal": True,
    }
    data = {
        "flow": {
            "name": name,
            "entry": names[0],
            "recovery": "generalist",
            "max_handoff_depth": 50,
            "initial_context": ["user_id"],
        },
        "agents": table,
        "handoff": contracts,
    }
    return data


def synthetic_flow(
    agents: int, handoffs: int = 5, team_size: int = 8, seed: int = 0, name: str = "synthetic"
) -> Flow:
    """:func:`synthetic_data` as a :class:`Flow`."""
    return Flow.model_validate(synthetic_data(agents, handoffs, team_size, seed, name))


def synthetic_toml(agents: int, handoffs: int = 5, seed: int = 0, contract_share: float = 1.0) -> str:
    """:func:`synthetic_data` as the text of a TOML flow file (what ``switchboard lint`` reads)."""
    data = synthetic_data(
        agents, handoffs, seed=seed, name=f"synthetic_{agents}", contract_share=contract_share
    )
    lines = ["[flow]", *_pairs(data["flow"]), ""]
    for agent, table in data["agents"].items():
        lines += [f"[agents.{agent}]", *_pairs(table), ""]
    for contract in data["handoff"]:
        lines += ["[[handoff]]", *_pairs(contract), ""]
    return "\n".join(lines)


def _pairs(table: dict[str, Any]) -> list[str]:
    return [f"{key} = {_value(value)}" for key, value in table.items()]


def _value(value: Any) -> str:
    """A TOML value of the kinds the generator makes: strings, integers, booleans and lists of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, str) else str(value)


def synthetic_document(agents: int, handoffs: int = 5, team_size: int = 8, seed: int = 0) -> FlowDocument:
    """:func:`synthetic_flow` as a document (what :func:`engine.render.render` takes)."""
    flow = synthetic_flow(agents, handoffs, team_size, seed, name=f"synthetic_{agents}")
    return FlowDocument(flow, SourceMap(f"<synthetic {agents} agents>"))
