"""``serve --workers N``: N relay processes listening on one port with ``SO_REUSEPORT`` (Linux).

The kernel spreads new connections over the processes; each runs its own event loop, relay (and embedded
emulator) and shares nothing else: a conversation lives in one process, client secrets verify in any
(stateless HMAC), and an ``--audit`` file is shared (one ``write(2)`` per record on ``O_APPEND``). The
parent reserves the port(s) first, so ``--port 0`` gives every worker the same one, forks the workers,
prints the URL once all of them listen, forwards SIGTERM/SIGINT to them and waits for their drains.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
from collections.abc import Callable
from types import FrameType

from engine.cli.console import EXIT_OK, EXIT_USAGE, err, out


def _reserve(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) to ``host:port`` with ``SO_REUSEPORT``: it holds the port for the
    workers, and receives no connection itself."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def serve_workers(args: argparse.Namespace, start: Callable[[int, int], int]) -> int:
    """Run ``start(worker, ready_fd)`` in ``args.workers`` forked processes; the exit code is the worst."""
    if not hasattr(socket, "SO_REUSEPORT"):
        err.print("switchboard serve: --workers needs SO_REUSEPORT (Linux, BSD, macOS)", markup=False)
        return EXIT_USAGE
    try:
        held = [_reserve(args.host, args.port)]
        args.port = held[0].getsockname()[1]
        if args.admin_port is not None:
            held.append(_reserve(args.host, args.admin_port))
            args.admin_port = held[1].getsockname()[1]
    except OSError as exc:
        err.print(f"switchboard serve: cannot bind {args.host}:{args.port}: {exc}", markup=False)
        return EXIT_USAGE
    read_fd, write_fd = os.pipe()
    pids: list[int] = []
    for worker in range(args.workers):
        pid = os.fork()
        if pid == 0:  # the worker: it never returns into the parent's code
            os.close(read_fd)
            code = 1
            try:
                code = start(worker, write_fd)
            finally:
                os._exit(code)
        pids.append(pid)
    os.close(write_fd)

    def forward(signum: int, _: FrameType | None) -> None:
        for pid in pids:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    ready = 0
    with os.fdopen(read_fd, "rb") as pipe:
        while ready < args.workers and pipe.read(1):  # each worker writes one byte, then closes its end
            ready += 1
    if ready == args.workers:
        host = "127.0.0.1" if args.host == "0.0.0.0" else f"[{args.host}]" if ":" in args.host else args.host
        out.print(
            f"clients connect to ws://{host}:{args.port}/v1/realtime ({args.workers} workers)", markup=False
        )
    else:
        err.print(
            f"switchboard serve: {args.workers - ready} worker(s) failed to start; stopping", markup=False
        )
        forward(signal.SIGTERM, None)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
    for sock in held:
        sock.close()
    worst = max((abs(code) for code in codes), default=EXIT_OK)
    out.print(f"switchboard relay: {args.workers} workers stopped", markup=False)
    return worst if ready == args.workers else max(worst, 1)
