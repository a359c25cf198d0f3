"""Layer 2: the flow as a graph, and the static checks (``verify``) with their rule catalogue (``RULES``)."""

from engine.verify.checks import CHECKS, verify
from engine.verify.rules import RULES, Rule

__all__ = ["CHECKS", "RULES", "Rule", "verify"]
