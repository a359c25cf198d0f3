"""`serve --workers 2`: two processes share the port; conversations spread over both, SIGTERM drains both,
the shared audit file has every record, whole, and a conversation resumes on either worker."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from engine.runtime.audit_file import read_jsonl
from engine.session.audit import AuditRecord
from tests.realtime_schema import run
from tests.runtime.relay_helpers import FLOW, RESUME_SCRIPT, SCRIPT, ask, next_event, start_serve, to_billing

ROOT = Path(__file__).resolve().parents[2]
CONVERSATIONS = 24


def test_two_workers_share_the_port_the_load_and_the_audit_file(tmp_path: Path) -> None:
    proc, url, audit = start_serve(tmp_path, FLOW, SCRIPT, "--workers", "2")
    try:
        assert proc.stdout is not None

        async def main() -> list[str]:
            answers = []
            for _ in range(CONVERSATIONS):  # one connection each: the kernel picks the worker
                async with connect(url) as ws:
                    answers.append(await ask(ws, "hi"))
            return answers

        assert run(main()) == ["Hello."] * CONVERSATIONS
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        printed = proc.stdout.read().decode()
    finally:
        proc.kill()
        proc.wait()
    served = [
        int(line.split("after ")[1].split()[0]) for line in printed.splitlines() if "stopped after" in line
    ]
    assert len(served) == 2 and sum(served) == CONVERSATIONS and min(served) > 0, printed
    assert "2 workers stopped" in printed
    rows = list(read_jsonl(audit))
    assert all(isinstance(r, AuditRecord) for _, r in rows)  # no line torn or interleaved
    ends = [r for _, r in rows if isinstance(r, AuditRecord) and r.kind == "end"]
    assert len({r.conversation_id for r in ends}) == CONVERSATIONS


@pytest.mark.parametrize("workers", ["0", "1000"])
def test_a_worker_count_out_of_range_is_a_usage_error(tmp_path: Path, workers: str) -> None:
    (tmp_path / "desk.toml").write_text(FLOW, encoding="utf-8")
    command = [sys.executable, "-m", "engine.cli", "serve", str(tmp_path / "desk.toml"), "--workers", workers]
    done = subprocess.run(
        [*command, "--no-auth"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and f"--workers must be from 1 to 64, not {workers}" in done.stderr


RESUMED = 20


def test_two_workers_resume_each_other_s_conversations_from_their_own_files(tmp_path: Path) -> None:
    """`serve --workers 2 --store sqlite:…`: each worker saves to a file of its own, and a client that drops
    and reconnects, landing on either worker, continues with its agent (the kernel picks the worker: over
    20 reconnects, both sides' files are read)."""
    store = tmp_path / "state" / "c.db"
    proc, url, audit = start_serve(
        tmp_path, FLOW, RESUME_SCRIPT, "--workers", "2", "--store", f"sqlite:{store}"
    )

    async def resume(conversation_id: str) -> str:
        for _ in range(100):  # while its old connection is still being wound up on that worker
            async with connect(f"{url}?conversation_id={conversation_id}") as ws:
                first = json.loads(await ws.recv())
                if first["type"] == "error":
                    assert first["error"]["code"] == "conversation_active", first
                    continue
                updated = await next_event(ws, "session.updated")
                assert updated["session"]["instructions"] == "agent: billing"
                return await ask(ws, "again")  # then a close 1000: the conversation is over
        raise AssertionError(f"{conversation_id} stayed active")

    async def main() -> tuple[dict[str, int], list[str]]:
        dropped = []
        for _ in range(RESUMED):
            ws = await connect(url)
            dropped.append(await to_billing(ws))
            ws.transport.abort()  # the network drops: no close frame, the snapshot is kept
        saved = {p.name: _rows(p) for p in sorted(store.parent.glob("*.db"))}
        return saved, [await resume(c) for c in dropped]

    try:
        saved, answers = run(main())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        proc.wait()
    assert set(saved) == {"c.db", "c.w1.db"} and min(saved.values()) > 0, saved  # both workers wrote
    assert answers == ["Still billing."] * RESUMED
    kinds = [r.kind for _, r in read_jsonl(audit) if isinstance(r, AuditRecord)]
    assert kinds.count("resume") == RESUMED


def _rows(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM conversations").fetchone()[0])
    finally:
        db.close()
