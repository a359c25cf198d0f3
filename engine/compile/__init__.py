"""Layer 3: a verified flow becomes python-statemachine machines (handoff machine, escalation machine)."""

from engine.compile.handoff import (
    RECOVER,
    HandoffMachine,
    clear_cache,
    compile_handoff_machine,
    flow_fingerprint,
    transfer_event,
)

__all__ = [
    "RECOVER",
    "HandoffMachine",
    "clear_cache",
    "compile_handoff_machine",
    "flow_fingerprint",
    "transfer_event",
]
