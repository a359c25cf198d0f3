"""Layer 1: the declarative flow: models, the positioned loader, diagnostics and the JSON Schema."""

from engine.flow.diagnostics import Diagnostic, FlowError, Location, Severity
from engine.flow.loader import FlowDocument, SourceMap, load_flow, parse_flow
from engine.flow.model import (
    ESCALATION_TOOL,
    TRANSFER_PREFIX,
    Agent,
    Flow,
    FlowSettings,
    Handoff,
    Supervisor,
    Tool,
)
from engine.flow.schema import flow_json_schema

__all__ = [
    "ESCALATION_TOOL",
    "TRANSFER_PREFIX",
    "Agent",
    "Diagnostic",
    "Flow",
    "FlowDocument",
    "FlowError",
    "FlowSettings",
    "Handoff",
    "Location",
    "Severity",
    "SourceMap",
    "Supervisor",
    "Tool",
    "flow_json_schema",
    "load_flow",
    "parse_flow",
]
