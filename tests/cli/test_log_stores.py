"""``switchboard log`` and ``render --audit`` read the SQLite and Redis audit sinks as they read JSON Lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import EXIT_OK, EXIT_USAGE, main
from engine.runtime.audit_file import read_jsonl
from engine.session.audit import AuditRecord, write_to
from engine.store import open_audit
from tests.realtime_schema import run


def copy_into(target: str, records: list[AuditRecord]) -> None:
    async def write() -> None:
        sink = open_audit(target)
        for record in records:
            await write_to(sink, record)
        if hasattr(sink, "aclose"):
            await sink.aclose()

    run(write())


@pytest.fixture(scope="module")
def retail_records(tmp_path_factory: pytest.TempPathFactory) -> list[AuditRecord]:
    audit = tmp_path_factory.mktemp("retail") / "audit.jsonl"
    args = ["run", "flows/retail.toml", "--script", "flows/scripts/retail.toml", "--audit", str(audit)]
    assert main(args) == EXIT_OK
    return [r for _, r in read_jsonl(audit) if isinstance(r, AuditRecord)]


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_log_and_render_read_every_audit_sink(
    kind: str,
    retail_records: list[AuditRecord],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    if kind == "redis":
        target = f"{request.getfixturevalue('redis_url')}?prefix=log-{tmp_path.name}:"
    else:
        target = f"sqlite:{tmp_path / 'audit.db'}"
    copy_into(target, retail_records)
    capsys.readouterr()
    assert main(["log", target]) == EXIT_OK
    out = capsys.readouterr().out
    assert "Handoffs per edge" in out and f"{len(retail_records)} records" in out
    assert main(["render", "flows/retail.toml", "--audit", target, "-o", str(tmp_path / "r.dot")]) == EXIT_OK
    assert "authentication" in (tmp_path / "r.dot").read_text()


def test_an_unreachable_or_missing_store_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["log", "redis://127.0.0.1:1/0"]) == EXIT_USAGE
    assert main(["log", f"sqlite:{tmp_path / 'none.db'}"]) == EXIT_USAGE
    assert "no such database" in capsys.readouterr().err
