"""Benchmark `serve --workers N`: throughput of plain text turns through 1 and 2 relay processes sharing a
port (SO_REUSEPORT), in the same run, under the same load.

    python tools/bench_workers.py [--seconds 8] [--connections 24] [--loaders 2] [--write]

The load is `--loaders` separate processes, each holding its share of `--connections` websocket clients
that say one message and wait for the answer, in a loop, until the time is up. Each `serve` runs the
embedded emulator in its own process (so the emulator's work is counted in the relay's CPU). The rows give
turns per second (the 1-worker run is the baseline), and the relay's CPU seconds (from `wait4`: the server
and its workers) per 1,000 turns. On a 2-core machine the loaders compete with the workers for the cores,
so the ratio is a floor of what two workers give on a machine with cores to spare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchlib import machine_line, table, write_section  # noqa: E402

FLOW = ROOT / "flows" / "simple_handoff.toml"
SCRIPT = '[[rule]]\nsay = "Hello."\n'


async def _load(url: str, seconds: float, connections: int) -> int:
    from websockets.asyncio.client import connect

    deadline = time.monotonic() + seconds
    message = json.dumps(
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        }
    )
    create = json.dumps({"type": "response.create"})

    async def client() -> int:
        turns = 0
        async with connect(url, compression=None) as ws:
            while time.monotonic() < deadline:
                await ws.send(message)
                await ws.send(create)
                async for frame in ws:
                    if '"response.done"' in str(frame):
                        break
                turns += 1
        return turns

    return sum(await asyncio.gather(*(client() for _ in range(connections))))  # turns done


def load_main(url: str, seconds: float, connections: int) -> None:
    print(asyncio.run(_load(url, seconds, connections)))


def measure(workers: int, args: argparse.Namespace, script: Path) -> tuple[float, float, float]:
    """``(turns per second, relay CPU seconds per 1,000 turns, the machine's busy share)`` for one
    ``serve --workers`` (busy: the relay's and the loaders' CPU over the cores' time)."""
    command = [sys.executable, "-m", "engine.cli", "serve", str(FLOW), "--port", "0", "--no-auth"]
    command += ["--script", str(script), "--workers", str(workers), "--max-conversations", "4096"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert server.stdout is not None
    url = ""
    for line in server.stdout:
        if line.startswith("clients connect to "):
            url = line.split()[3]
            break
    if not url:
        raise SystemExit(f"serve --workers {workers} did not start")
    share = max(1, args.connections // args.loaders)
    loaders = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--load",
                url,
                "--seconds",
                str(args.seconds),
                "--connections",
                str(share),
            ],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(args.loaders)
    ]
    turns, load_cpu = 0, 0.0
    for p in loaders:
        assert p.stdout is not None
        turns += int(p.stdout.read().strip() or 0)
        _, _, used = os.wait4(p.pid, 0)
        load_cpu += used.ru_utime + used.ru_stime
    server.send_signal(signal.SIGTERM)
    _, _, usage = os.wait4(server.pid, 0)
    cpu = usage.ru_utime + usage.ru_stime
    busy = (cpu + load_cpu) / ((os.cpu_count() or 1) * args.seconds)
    return turns / args.seconds, 1000 * cpu / max(turns, 1), busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=24)
    parser.add_argument("--loaders", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        load_main(args.load, args.seconds, args.connections)
        return
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "hello.toml"
        script.write_text(SCRIPT, encoding="utf-8")
        one_rate, one_cpu, one_busy = measure(1, args, script)
        two_rate, two_cpu, two_busy = measure(2, args, script)
    rows = [
        ["`serve` (1 process, baseline)", f"{one_rate:,.0f}", "1.00x", f"{one_cpu:.2f}", f"{one_busy:.0%}"],
        [
            "`serve --workers 2`",
            f"{two_rate:,.0f}",
            f"{two_rate / one_rate:.2f}x",
            f"{two_cpu:.2f}",
            f"{two_busy:.0%}",
        ],
    ]
    body = "\n".join(
        [
            "## Relay workers (`tools/bench_workers.py`)",
            "",
            f"{machine_line()}. {args.connections} connections from {args.loaders} load processes, "
            f"{args.seconds:g} s each, plain text turns through `serve` to its embedded emulator. "
            "Target: 2 workers >= 1.8x the turns of 1.",
            "",
            table(["relay", "turns/s", "vs 1 process", "relay CPU s per 1,000 turns", "cores busy"], rows),
        ]
    )
    print(body)
    if args.write:
        write_section("workers", body)


if __name__ == "__main__":
    main()
