"""Layer 4: the orchestration core, sans-I/O (server events in, client events and actions out)."""

from engine.session.actions import Action, Audit, ProtocolProblem, RunTool, Send, Transcript
from engine.session.audit import AuditRecord, AuditSink, JsonlSink, MemorySink
from engine.session.core import Session
from engine.session.plan import FlowPlan

__all__ = [
    "Action",
    "Audit",
    "AuditRecord",
    "AuditSink",
    "FlowPlan",
    "JsonlSink",
    "MemorySink",
    "ProtocolProblem",
    "RunTool",
    "Send",
    "Session",
    "Transcript",
]
