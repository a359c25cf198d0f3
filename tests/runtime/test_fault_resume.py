"""A fleet losing a process (the small version of ``make soak``'s): three ``serve`` processes sharing a real
Redis, concurrent conversations, one relay SIGKILLed mid-call; every client finishes on another relay."""

from __future__ import annotations

from pathlib import Path

from tests.realtime_schema import run
from tools.fault_resume import fault_run, summary


def test_every_conversation_survives_a_relay_killed_mid_call(redis_url: str, tmp_path: Path) -> None:
    report = run(fault_run(redis_url, tmp_path, relays=3, conversations=24), timeout=120)
    assert report.ok, summary(report)
    assert report.finished == 24
    assert report.resumed == 8  # every conversation of the killed relay, once each
    assert report.records >= 24 * 2  # a handoff and an end each, at least
