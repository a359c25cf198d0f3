"""Layer 4: the orchestration core, sans-I/O (server events in, client events and actions out)."""

from engine.compile.plan import FlowPlan
from engine.session.actions import Action, Audit, ProtocolProblem, RunTool, Send, Transcript
from engine.session.audit import AuditRecord, AuditSink, MemorySink
from engine.session.core import Session

__all__ = [
    "Action",
    "Audit",
    "AuditRecord",
    "AuditSink",
    "FlowPlan",
    "MemorySink",
    "ProtocolProblem",
    "RunTool",
    "Send",
    "Session",
    "Transcript",
]
