"""Generated flows of any size, for the render benchmark and tests (``tools/bench_render.py``).

The shape imitates a real contact-centre flow: teams of specialists (the ``group`` field), most handoffs within
a team, some across, every agent reachable from the entry through a chain, a loop budget on every agent, and a
``generalist`` recovery agent that hands back to the entry.
"""

from __future__ import annotations

import random
from typing import Any

from engine.flow.loader import FlowDocument, SourceMap
from engine.flow.model import Flow

TOPICS = ("billing", "returns", "orders", "sales", "loyalty", "shipping", "warranty", "accounts", "fraud",
          "technical", "onboarding", "retention", "payments", "claims", "support", "booking")
RULES = ("the caller asks about {t}", "the caller wants to change their {t} details",
         "the caller is unhappy with {t} and wants someone to look at it again",
         "the request needs a {t} specialist", "the caller has a follow-up on {t}")


def synthetic_flow(agents: int, handoffs: int = 5, team_size: int = 8, seed: int = 0,
                   name: str = "synthetic") -> Flow:
    """A valid flow of ``agents`` agents (recovery included) with about ``handoffs`` handoffs each."""
    if agents < 2:
        raise ValueError("a flow needs at least an entry and a recovery agent")
    rng = random.Random(seed)
    names = [f"{TOPICS[(i // team_size) % len(TOPICS)]}_{i}" for i in range(agents - 1)]
    group = {n: f"{TOPICS[(i // team_size) % len(TOPICS)]} team {i // team_size + 1}" for i, n in enumerate(names)}
    table: dict[str, Any] = {}
    contracts: list[dict[str, Any]] = []
    for i, agent in enumerate(names):
        targets: list[str] = [names[i + 1]] if i + 1 < len(names) else []
        team = [n for n in names if group[n] == group[agent] and n != agent]
        others = [n for n in names if n != agent]
        while len(targets) < min(handoffs, len(others)):
            pool = team if team and rng.random() < 0.7 else others
            pick = rng.choice(pool)
            if pick not in targets:
                targets.append(pick)
        topic = agent.rsplit("_", 1)[0]
        table[agent] = {
            "description": f"Handles {topic} requests: looks the caller up, answers and routes onwards.",
            "instructions": f"You are the {topic} specialist.",
            "handoffs": targets,
            "max_visits": 3,
            "group": group[agent],
            "terminal": i % 3 == 0,
        }
        for target in targets:
            rule = rng.choice(RULES).format(t=target.rsplit("_", 1)[0])
            contracts.append({"from": agent, "to": target, "when": rule, "carry": ["user_id"]})
    table["generalist"] = {
        "description": "Fallback agent: apologises and hands back to the entry agent, or ends the call.",
        "instructions": "Apologise and route back.",
        "handoffs": [names[0]],
        "max_visits": 2,
        "terminal": True,
    }
    data = {
        "flow": {"name": name, "entry": names[0], "recovery": "generalist", "max_handoff_depth": 1000,
                 "initial_context": ["user_id"]},
        "agents": table,
        "handoff": contracts,
    }
    return Flow.model_validate(data)


def synthetic_document(agents: int, handoffs: int = 5, team_size: int = 8, seed: int = 0) -> FlowDocument:
    """:func:`synthetic_flow` as a document (what :func:`engine.render.render` takes)."""
    flow = synthetic_flow(agents, handoffs, team_size, seed, name=f"synthetic_{agents}")
    return FlowDocument(flow, SourceMap(f"<synthetic {agents} agents>"))
