"""The background snapshot writer: in order, the latest text only, never an older state after a newer one."""

from __future__ import annotations

import asyncio

from engine.store.writer import SnapshotWriter


def test_texts_submitted_during_a_write_are_coalesced_to_the_latest() -> None:
    async def main() -> list[str]:
        written: list[str] = []
        started, gate = asyncio.Event(), asyncio.Event()

        async def write(text: str) -> None:
            started.set()
            await gate.wait()
            written.append(text)

        writer = SnapshotWriter(write, lambda exc: None)
        first = writer.submit("t1")
        await started.wait()  # the first write is under way, held at the gate
        writer.submit("t2")
        last = writer.submit("t3")
        gate.set()
        await last
        assert first.done()
        return written

    assert asyncio.run(main()) == ["t1", "t3"]


def test_a_failed_write_is_reported_and_the_next_one_still_written() -> None:
    async def main() -> tuple[list[str], list[str]]:
        written: list[str] = []
        errors: list[str] = []

        async def write(text: str) -> None:
            if text == "bad":
                raise OSError("disk full")
            written.append(text)

        writer = SnapshotWriter(write, lambda exc: errors.append(str(exc)))
        await writer.submit("bad")
        await writer.submit("good")
        await writer.idle()
        return written, errors

    assert asyncio.run(main()) == (["good"], ["disk full"])
