"""The relay benchmark's floor (a raw forwarder) and the soak, run small over real loopback sockets."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))  # the scripts import benchlib so

import bench_relay
import soak_relay

from engine.emulator.script import Script
from engine.emulator.server import Emulator


async def _events(url: str) -> list[str]:
    async with connect(url, compression=None) as ws:
        await ws.send(bench_relay.SAY)
        await ws.send(bench_relay.CREATE)
        kinds = []
        while (kind := json.loads(await ws.recv())["type"]) != "response.done":
            kinds.append(kind)
        return kinds


def test_the_forwarder_passes_the_same_events_as_the_direct_path() -> None:
    async def main() -> tuple[list[str], list[str]]:
        async with Emulator(Script.parse(bench_relay.SCRIPT, "t")) as emulator:
            async with bench_relay.Forwarder(emulator.url) as forwarder:
                return await _events(emulator.url), await _events(forwarder.url)

    direct, forwarded = asyncio.run(main())
    assert forwarded == direct and "response.created" in direct


def test_a_small_soak_passes_and_counts_every_conversation() -> None:
    result = asyncio.run(soak_relay.soak(15, 1 / 3, 1, 60.0))
    assert soak_relay.check(result) == []
    assert result["outcomes"]["honest"] == {"completed": 10}
    assert {name: sum(c.values()) for name, c in result["outcomes"].items() if name != "honest"} == {
        "surrogate": 1,
        "null_content": 1,
        "big_frame": 1,
        "never_reads": 1,
        "bare_tcp": 1,
    }
    assert result["handled"] == result["ends"] == 14  # the bare TCP connect never got a session


def test_the_soak_check_reports_a_lost_end_record_and_a_leak() -> None:
    result = asyncio.run(soak_relay.soak(5, 0.0, 1, 60.0))
    assert soak_relay.check(result) == []
    lost = {**result, "ends": result["ends"] - 1, "without_end": 1, "fds": (10, 50, 12)}
    problems = soak_relay.check(lost)
    assert len(problems) == 2 and "audit" in problems[0] and "leaked: 10 -> 12" in problems[1]
