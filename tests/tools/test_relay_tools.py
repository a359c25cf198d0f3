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


def test_the_c_load_s_replay_answers_a_real_websocket_client_and_its_loader_counts_turns(
    tmp_path: Path,
) -> None:
    """``tools/loadgen.c``, built with the machine's compiler: its replay upstream completes a handshake a
    ``websockets`` client verifies (its SHA-1 and base64) and answers a turn with the recorded frames, ids
    made unique per turn; its loader, in a window against that replay, counts turns and reports no error."""
    import re
    import signal
    import subprocess
    import time

    import bench_workers

    binary = bench_workers.build_loadgen(tmp_path)
    assert binary is not None, "no C compiler"
    bench_workers.write_recording(asyncio.run(bench_workers.record(bench_workers.FLOW)), tmp_path / "rec")
    replay = subprocess.Popen(
        [str(binary), "replay", str(tmp_path / "rec")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert replay.stdout is not None
        url = replay.stdout.readline().split()[1]

        async def two_turns() -> list[list[str]]:
            async with connect(url, compression=None) as ws:
                assert json.loads(await ws.recv())["type"] == "session.created"
                turns = []
                for _ in range(2):
                    await ws.send(bench_workers.USER_MESSAGE)
                    await ws.send(bench_workers.RESPONSE_CREATE)
                    frames = []
                    while not (frame := str(await ws.recv())).startswith('{"type":"response.done"'):
                        frames.append(frame)
                    turns.append([*frames, frame])
                return turns

        first, second = asyncio.run(two_turns())
        assert [json.loads(f)["type"] for f in first] == [json.loads(f)["type"] for f in second]
        ids = [set(re.findall(r'"resp_[0-9a-f]{20}"', "".join(turn))) for turn in (first, second)]
        assert ids[0] and ids[1] and not ids[0] & ids[1]  # a response id of its own each turn
        host, port, path = re.fullmatch(r"ws://([^:/]+):(\d+)(/.*)", url).groups()  # type: ignore[union-attr]
        start = time.monotonic() + 0.3
        load = subprocess.run(
            [str(binary), "load", host, port, path, repr(start), repr(start + 0.5), "4", "5"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        summary = json.loads(load.stdout)
        assert summary["turns"] > 0 and summary["errors"] == {}, summary
    finally:
        replay.send_signal(signal.SIGTERM)
        said = replay.communicate(timeout=10)[0]
    seen = json.loads(said.strip().splitlines()[-1])["seen"]
    assert seen["response.create"] >= summary["turns"] + 2 and "(decoded in full)" not in seen
