"""Layer 4: the orchestration core, sans-I/O (server events in, client events and actions out).

The names below load on first use (PEP 562), so importing a light module of the package
(``engine.session.audit``) does not import the core and everything it compiles with.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.session.actions import Action, Audit, ProtocolProblem, RunTool, Send, Transcript
    from engine.session.audit import AuditRecord, AuditSink, MemorySink
    from engine.session.core import Session

_HOME = {
    "Action": "actions",
    "Audit": "actions",
    "ProtocolProblem": "actions",
    "RunTool": "actions",
    "Send": "actions",
    "Transcript": "actions",
    "AuditRecord": "audit",
    "AuditSink": "audit",
    "MemorySink": "audit",
    "Session": "core",
}
__all__ = [
    "Action",
    "Audit",
    "AuditRecord",
    "AuditSink",
    "MemorySink",
    "ProtocolProblem",
    "RunTool",
    "Send",
    "Session",
    "Transcript",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'engine.session' has no attribute {name!r}")
    return getattr(importlib.import_module(f"engine.session.{_HOME[name]}"), name)
