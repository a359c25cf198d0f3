"""Benchmark `serve --workers N`: turns/s of 1 relay process and of 2 sharing a port, under one cheap load.

Does a second relay process on the same port (SO_REUSEPORT) nearly double the throughput of plain text
turns? 1 worker (the baseline) and 2, in the same run, under the same load.

    python tools/bench_workers.py [--seconds 6] [--connections 256] [--loaders 1] [--turns 20] [--rounds 4]
                                  [--engine c|python] [--store URL] [--no-old-load] [--write]

What is measured is the relay as users run it: `serve FLOW --workers N --no-auth` with its default SQLite
store (under a temporary ``$XDG_STATE_HOME``; a file per worker) and audit. On a 2-core machine everything
else must cost next to nothing, or it takes the second core from the second worker: the old load (two
`websockets` client processes parsing every frame, the emulator inside each worker) cost about as much CPU
as the relay, and the ratio measured the machine, not the relay. So, as with `wrk`, the load is built cheap:

* the upstream is a **replay** server, a process of its own: at its start it records one
  conversation from the real emulator (``session.created``; the ``session.updated`` answering the flow's
  own first ``session.update``; the echo of a user message; one response up to ``response.done``) as
  websocket frames, then answers every relay connection from those bytes, the replies to one read in one
  ``transport.write``, the item and response ids patched unique per turn (same width). Client frames are
  read by their headers, and only a payload's first bytes unmasked, to read its ``"type"``;
* the **loaders** (``--loaders`` processes sharing ``--connections`` clients) speak websocket by hand: a
  fixed handshake, two pre-masked frames a turn (``conversation.item.create``, ``response.create``), then
  frame headers read until the frame whose payload starts as ``response.done`` does. Each client holds
  conversations of ``--turns`` turns, then closes (1000) and opens the next: a turn costs the same in
  both rows however many each does (a conversation's history and snapshot grow with its turns), and
  conversations start and end as in real use.

Both parts are written twice: in C (``tools/loadgen.c``, compiled with the machine's ``gcc`` at the start;
the default, ``--engine c``) and in Python (asyncio, below; ``--engine python``, and the fallback without a
C compiler). The Python load costs ~16% of the relay's CPU, which caps what 2 workers can show on 2 cores
at ~1.73x; the C one ~8%. Both sides read into a buffer of their own (in Python ``BufferedProtocol``: a
plain ``Protocol`` gets a fresh bytes object per read, which CPython allocates at 256 KiB, with ``mmap`` and
page faults) and set ``SO_RCVLOWAT`` to the bytes a reply brings (learnt from a first conversation, before the window): the relay writes each
frame on its own, and read frame by frame a turn would cost a dozen wake-ups (on this VM, a wake-up costs
more than the frames it brings).

Turns are counted in a window of ``--seconds`` that begins once every client is connected; ``--rounds``
rounds of 1 worker then 2 run, and the best row of each counts (the least disturbed: the machine is shared).
CPU is counted over the window only: ``/proc`` at both ends for the relay (the serve process and its
workers: what its ``wait4`` counts) and the upstream, ``os.wait4`` less ``/proc`` at the start for each
loader; start-up (imports, the recording) and exit are left out. The rows give turns/s, the ratio to 1
worker, CPU seconds per 1,000 turns of the relay, the loaders and the upstream, the cores the relay kept
busy (1 worker must be ~1.0: CPU-bound, else the ratio means nothing; with 128 connections 1 worker
sat idle ~5% of the time and each of 2 ~10%, so the default is 256: ~128 conversations in flight keep a worker
busy) and the machine's (``/proc/stat``).
A last row runs the old load (``--script``, ``websockets`` loaders) on 2 workers, for comparison. The
report also gives the most 2 workers could do here even if they scaled perfectly (the cores, over the cores
the relay and the load keep busy with 1 worker): the load's own cost caps what a 2-core machine can show.
Target: 2 workers >= 1.8x the turns of 1 (exit 1 when not). Each row's figures, the spread of
conversations over the workers and anything odd (serve's log, a stalled read, others using the machine)
go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    CLK_TCK,
    Target,
    failed,
    machine_line,
    proc_ticks,
    table,
    targets_table,
    write_section,
)

FLOW = ROOT / "flows" / "simple_handoff.toml"
LOADGEN = Path(__file__).with_name("loadgen.c")
"""The same replay upstream and loader in C (``--engine c``, the default): a fraction of the Python ones' CPU."""
SCRIPT = '[[rule]]\nsay = "Hello."\n'
RATIO = 1.8
LEAD_S = 1.5
"""How long before the window the loaders are started (to start Python and connect every client)."""

USER_MESSAGE = json.dumps(
    {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
    },
    separators=(",", ":"),
)
RESPONSE_CREATE = '{"type":"response.create"}'
DONE_PREFIX = b'{"type":"response.done"'
ERROR_PREFIX = b'{"type":"error"'

# -- websocket framing (RFC 6455), by hand ---------------------------------------------------------------

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 1, 8, 9, 10
MASK = b"\x37\xfa\x21\x3d"
"""The loaders' masking key: fixed (the relay unmasks whatever key a frame carries)."""
TYPE_FIRST = re.compile(rb'\{"type":"([a-z_.]{1,64})"')
BUFFER = 16 * 1024
"""A connection's read buffer (it grows if a frame needs more)."""
PEEK = 48
"""Bytes of a client payload unmasked to read its type (``{"type":"conversation.item.create"`` is 34)."""
Frame = tuple[int, int, int, int, int]
"""A complete frame in a buffer: ``(opcode, its first byte, its mask key or -1, payload start, payload end)``
(offsets)."""


def accept_key(key: bytes) -> bytes:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def unmask(data: bytes, key: bytes) -> bytes:
    """``data`` XOR the repeated 4-byte ``key`` (masking and unmasking are the same)."""
    n = len(data)
    keys = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(keys, "little")).to_bytes(n, "little")


def frame(payload: bytes, opcode: int = OP_TEXT, mask: bytes | None = None) -> bytes:
    """One final frame: unmasked (a server's) or masked with ``mask`` (a client's)."""
    n, bit = len(payload), 0x80 if mask is not None else 0
    if n < 126:
        head = bytes([0x80 | opcode, bit | n])
    elif n < 1 << 16:
        head = bytes([0x80 | opcode, bit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, bit | 127]) + n.to_bytes(8, "big")
    return head + payload if mask is None else head + mask + unmask(payload, mask)


def split_frames(buf: bytearray, at: int, size: int) -> tuple[list[Frame], int]:
    """The complete frames in ``buf[at:size]`` and where they end (the rest is a partial frame)."""
    frames: list[Frame] = []
    while size - at >= 2:
        second, n, head = buf[at + 1], buf[at + 1] & 0x7F, at + 2
        if n == 126:
            if size - at < 4:
                break
            n, head = int.from_bytes(buf[at + 2 : at + 4], "big"), at + 4
        elif n == 127:
            if size - at < 10:
                break
            n, head = int.from_bytes(buf[at + 2 : at + 10], "big"), at + 10
        mask_at = head if second & 0x80 else -1
        start = head + 4 if second & 0x80 else head
        if start + n > size:
            break
        frames.append((buf[at] & 0x0F, at, mask_at, start, start + n))
        at = start + n
    return frames, at


def payload_of(buf: bytearray, f: Frame, limit: int | None = None) -> bytes:
    """A frame's payload (its first ``limit`` bytes), unmasked."""
    _, _, mask_at, start, end = f
    data = bytes(buf[start : end if limit is None else min(end, start + limit)])
    return data if mask_at < 0 else unmask(data, bytes(buf[mask_at : mask_at + 4]))


class Connection(asyncio.BufferedProtocol):
    """A connection read into one buffer of its own (``recv_into``: a plain ``Protocol`` gets a new bytes
    object per read, which CPython allocates at 256 KiB, with ``mmap`` and page faults, then shrinks).

    It wakes once a phase (a reply of known size), not once a frame: its socket's ``SO_RCVLOWAT`` is the
    bytes still to come, so ``epoll`` reports it readable only once they are in (the relay writes each
    frame on its own: read frame by frame, a turn would cost the load a dozen wake-ups). A phase that
    brings fewer bytes than expected is caught by :func:`watch`. Subclasses handle ``buf[:size]`` in
    :meth:`received`."""

    def __init__(self) -> None:
        self.buf, self.size = bytearray(BUFFER), 0
        self.transport: asyncio.Transport | None = None
        self.lowat, self.since, self.batching = 1, 0.0, True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        if len(self.buf) - self.size < BUFFER // 4:
            self.buf = self.buf + bytes(len(self.buf))  # a new object: the old one may still be exported
        return memoryview(self.buf)[self.size :]

    def buffer_updated(self, nbytes: int) -> None:
        self.size += nbytes
        used = self.received(nbytes)
        left = self.size - used
        if used and left:
            self.buf[:left] = self.buf[used : self.size]  # same length: no resize of an exported buffer
        self.size = left

    def received(self, nbytes: int) -> int:
        """Handle what is in ``buf[:size]`` (``nbytes`` of it new); return how many bytes were used up."""
        raise NotImplementedError

    def expect(self, size: int) -> None:
        """Wake once ``size`` more bytes are in (``1``: at every segment)."""
        assert self.transport is not None
        size = max(1, size) if self.batching else 1
        self.since = time.monotonic()
        if size != self.lowat:
            self.lowat = size
            self.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, size)

    def queued(self) -> int:
        """Bytes in the socket's receive queue, not read yet."""
        assert self.transport is not None
        fd = self.transport.get_extra_info("socket").fileno()
        return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])


STALL_S = 0.5


async def watch(connections: set[Connection], stalls: Counter[str] | None) -> None:
    """Every ``STALL_S / 2``: a connection that has waited longer than ``STALL_S`` with fewer bytes in than
    it expects goes back to waking at every segment, for good (counted in ``stalls``)."""
    while True:
        await asyncio.sleep(STALL_S / 2)
        now = time.monotonic()
        for stuck in [c for c in connections if c.lowat > 1 and now - c.since > STALL_S and c.queued()]:
            if stalls is not None:
                stalls[f"a reply shorter than learnt (stalled {STALL_S:g} s)"] += 1
            stuck.batching = False
            stuck.expect(1)


# -- the replay upstream -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recording:
    """One conversation with the emulator, as server frames ready to write."""

    created: bytes
    updated: bytes
    echo: bytes
    """``conversation.item.added``/``done`` of the user message."""
    turn: bytes
    """``response.created`` ... ``response.done``."""
    ids: tuple[bytes, ...]
    """The item and response ids in ``echo`` and ``turn`` (quoted), patched per turn."""


async def record(flow: Path) -> Recording:
    """Talk to the real emulator once as the relay would (its ``session.update`` is the flow's own)."""
    from websockets.asyncio.client import connect

    from engine.compile.pipeline import compile_flow
    from engine.emulator.script import Script
    from engine.emulator.server import Emulator
    from engine.session.actions import Send
    from engine.session.core import Session
    from engine.wire.protocol import encode

    opening = Session(compile_flow(flow), "conv_" + "0" * 32, clock=time.time).start()
    update = next(action.event for action in opening if isinstance(action, Send))
    async with Emulator(Script.parse(SCRIPT, "bench")) as emulator:
        async with connect(emulator.url, compression=None) as ws:

            async def until(kind: str) -> list[str]:
                got: list[str] = []
                while not got or not got[-1].startswith(f'{{"type":"{kind}"'):
                    got.append(str(await ws.recv()))
                return got

            created = await until("session.created")
            await ws.send(encode(update))
            updated = await until("session.updated")
            await ws.send(USER_MESSAGE)
            echo = await until("conversation.item.done")
            await ws.send(RESPONSE_CREATE)
            turn = await until("response.done")
    if len(created) != 1 or len(updated) != 1:
        raise SystemExit(f"the emulator answered unexpectedly: {created + updated}")

    def framed(texts: list[str]) -> bytes:
        return b"".join(frame(text.encode()) for text in texts)

    ids = re.findall(rb'"(?:item|resp|call)_[0-9a-f]{20}"', framed(echo + turn))
    return Recording(framed(created), framed(updated), framed(echo), framed(turn), tuple(dict.fromkeys(ids)))


@dataclass
class Replay:
    """The recording, the turn counter that makes ids unique, what was received, the live connections."""

    recording: Recording
    turns: int = 0
    turn_size: int = 0
    """The bytes of a turn's client frames (``conversation.item.create``, ``response.create``), learnt."""
    seen: Counter[str] = field(default_factory=Counter)
    live: set[Connection] = field(default_factory=set)

    def patched(self, blob: bytes) -> bytes:
        for k, old in enumerate(self.recording.ids):
            blob = blob.replace(old, old[:-21] + b"%016x%04x" % (self.turns, k) + b'"')
        return blob

    def answer(self, kind: str) -> bytes | None:
        self.seen[kind] += 1
        if kind == "conversation.item.create":
            self.turns += 1
            return self.patched(self.recording.echo)
        if kind == "response.create":
            return self.patched(self.recording.turn)
        if kind == "session.update":
            return self.recording.updated
        return None


class ReplayConnection(Connection):
    """One relay connection to the replay upstream: each client frame answered from the recording, the
    replies to one read written at once. Once a turn is answered it waits for the next turn's two frames
    (a close frame, shorter, waits for :func:`watch`)."""

    def __init__(self, replay: Replay) -> None:
        super().__init__()
        self.replay, self.open, self.turn_bytes = replay, False, 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.replay.seen["(connections)"] += 1
        self.replay.live.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.replay.live.discard(self)

    def received(self, nbytes: int) -> int:
        assert self.transport is not None
        self.replay.seen["(reads)"] += 1
        at = 0
        if not self.open:
            at = self._handshake()
            if at < 0:
                return 0
        frames, used = split_frames(self.buf, at, self.size)
        replies = [self._reply(f) for f in frames]
        if not self.transport.is_closing():
            self.transport.write(b"".join(r for r in replies if r))
        return used

    def _handshake(self) -> int:
        """Answer the upgrade request (with ``session.created``): its length, or -1 until it is all in."""
        assert self.transport is not None
        end = self.buf.find(b"\r\n\r\n", 0, self.size)
        if end < 0:
            return -1
        key = re.search(rb"(?im)^sec-websocket-key:\s*(\S+)", self.buf[:end])
        if key is None:
            self.transport.close()
            return -1
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key.group(1)) + b"\r\n\r\n" + self.replay.recording.created
        )
        self.open = True
        return end + 4

    def _reply(self, f: Frame) -> bytes | None:
        assert self.transport is not None
        opcode, first, _, _, end = f
        if opcode == OP_CLOSE:
            self.transport.write(frame(payload_of(self.buf, f)[:2], OP_CLOSE))
            self.transport.close()
        elif opcode == OP_PING:
            return frame(payload_of(self.buf, f), OP_PONG)
        elif opcode == OP_TEXT:
            kind = self._kind(f)
            if kind in ("conversation.item.create", "response.create"):
                self.turn_bytes += end - first
            if kind == "response.create":
                replay = self.replay
                replay.turn_size = replay.turn_size or self.turn_bytes
                self.turn_bytes = 0
                self.expect(replay.turn_size - (self.size - end))
            return self.replay.answer(kind)
        return None

    def _kind(self, f: Frame) -> str:
        match = TYPE_FIRST.match(payload_of(self.buf, f, PEEK))
        if match is not None:
            return match.group(1).decode()
        self.replay.seen["(decoded in full)"] += 1  # not "type" first: counted, the relay puts it first
        return str(json.loads(payload_of(self.buf, f)).get("type"))


def write_recording(recording: Recording, path: Path) -> None:
    """The recording as ``loadgen replay`` reads it: each blob as its length line and its bytes; for the
    echo and the turn, the count of their ids and, per id, where its 20 hex digits start and its index."""
    with open(path, "wb") as out:
        for blob, patched in (
            (recording.created, False),
            (recording.updated, False),
            (recording.echo, True),
            (recording.turn, True),
        ):
            out.write(b"%d\n" % len(blob) + blob)
            if patched:
                found = [
                    (at + len(old) - 21, k)
                    for k, old in enumerate(recording.ids)
                    for at in (m.start() for m in re.finditer(re.escape(old), blob))
                ]
                out.write(b"%d\n" % len(found) + b"".join(b"%d %d\n" % spot for spot in found))


def build_loadgen(tmp: Path) -> Path | None:
    """``tools/loadgen.c`` compiled into ``tmp`` (``None``: no C compiler here)."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        return None
    binary = tmp / "loadgen"
    subprocess.run([compiler, "-O2", "-o", str(binary), str(LOADGEN)], check=True)
    return binary


async def replay_main(flow: Path) -> None:
    """Record, listen, print ``ready URL``; on SIGTERM print what was received (JSON) and return."""
    replay = Replay(await record(flow))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: ReplayConnection(replay), "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    watching = loop.create_task(watch(replay.live, None))
    print(f"ready ws://127.0.0.1:{port}/v1/realtime", flush=True)
    await stop.wait()
    watching.cancel()
    server.close()
    print(json.dumps({"turns": replay.turns, "seen": dict(replay.seen)}), flush=True)


# -- the loaders ---------------------------------------------------------------------------------------------

TURN = frame(USER_MESSAGE.encode(), mask=MASK) + frame(RESPONSE_CREATE.encode(), mask=MASK)
CLOSE = frame((1000).to_bytes(2, "big"), OP_CLOSE, MASK)


HANDSHAKE, OPENING, REPLY = 0, 1, 2
"""A conversation's phases, as the relay's bytes come: the ``101``; ``session.created``, ``session.updated``
and the first turn's reply; each later turn's reply."""


@dataclass
class Load:
    """One loader's clients: where they connect, the window, what they learnt and counted."""

    host: str
    port: int
    request: bytes
    start: float
    end: float
    per_conversation: int
    sizes: dict[int, int] = field(default_factory=dict)
    """The bytes of each phase, learnt from the first conversation that went through it."""
    done_size: int = 0
    """The bytes of a ``response.done`` payload, learnt."""
    turns: int = 0
    reads: int = 0
    live: set[Connection] = field(default_factory=set)
    errors: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, url: str, start: float, seconds: float, per_conversation: int) -> Load:
        match = re.fullmatch(r"ws://([^:/]+):(\d+)(/.*)", url)
        if match is None:
            raise SystemExit(f"not a ws:// URL: {url}")
        host, port, path = match.groups()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        return cls(host, int(port), request, start, start + seconds, per_conversation)

    def size(self, phase: int) -> int:
        """The bytes ``phase`` brings (``1`` until learnt)."""
        return self.sizes.get(phase, 1)


class LoadClient(Connection):
    """One conversation of one client: the handshake, then turns until ``turns`` (``per_conversation``) or
    the end of the window, then a close (1000). Frames are read by their headers; only ``response.done`` (and
    ``error``) are looked at, by the first bytes of their payload."""

    def __init__(self, load: Load, turns: int | None = None) -> None:
        super().__init__()
        self.load, self.turns, self.got = load, 0, 0
        self.limit = load.per_conversation if turns is None else turns
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[bool] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.load.live.add(self)
        self.expect(self.load.size(HANDSHAKE))
        cast(asyncio.Transport, transport).write(self.load.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.load.live.discard(self)
        if not self.opened.done():
            self.opened.set_result(False)
        self.closed.set_result(None)

    def received(self, nbytes: int) -> int:
        assert self.transport is not None
        self.load.reads += 1
        self.got += nbytes
        at = 0
        if not self.opened.done():
            at = self._handshake()
            if at < 0:
                return 0
        if self._whole_reply():
            self._answered(0)
            return self.size
        frames, used = split_frames(self.buf, at, self.size)
        for f in frames:
            opcode, _, _, start, end = f
            if opcode == OP_TEXT and self.buf.startswith(DONE_PREFIX, start):
                self.load.done_size = self.load.done_size or end - start
                self._answered(self.size - end)
            elif opcode == OP_TEXT and self.buf.startswith(ERROR_PREFIX, start):
                self.load.errors[payload_of(self.buf, f, 200).decode(errors="replace")] += 1
            elif opcode == OP_CLOSE:
                self.transport.close()
            elif opcode == OP_PING:
                self.transport.write(frame(payload_of(self.buf, f), OP_PONG, MASK))
        return used

    def _whole_reply(self) -> bool:
        """Whether ``buf`` is exactly a whole reply, as learnt, ending with ``response.done`` (then its other
        frames need no look: the same bytes as ever, give or take the ids)."""
        expected = self.load.sizes.get(OPENING if self.turns == 0 else REPLY)
        done = self.load.done_size
        return self.got == expected and bool(done) and self.buf.startswith(DONE_PREFIX, self.size - done)

    def _handshake(self) -> int:
        """The length of the ``101`` response, or -1 (until it is all in, or when it is not a ``101``)."""
        assert self.transport is not None
        end = self.buf.find(b"\r\n\r\n", 0, self.size)
        if end < 0:
            return -1
        ok = self.buf.startswith(b"HTTP/1.1 101 ")
        self.opened.set_result(ok)
        if not ok:
            self.load.errors[bytes(self.buf[: self.buf.find(b"\r\n")]).decode(errors="replace")] += 1
            self.transport.close()
            return -1
        self._phase_done(HANDSHAKE, self.size - end - 4)
        return end + 4

    def _phase_done(self, phase: int, leftover: int) -> None:
        """``phase``'s bytes are in (``leftover``: those past it, the next phase's): learn its size."""
        self.load.sizes.setdefault(phase, self.got - leftover)
        self.got = leftover

    def begin(self) -> None:
        """The first turn (or, past the window, the close)."""
        assert self.transport is not None
        if time.monotonic() >= self.load.end:
            self.expect(1)
            self.transport.write(CLOSE)
            return
        self.expect(self.load.size(OPENING) - self.got)
        self.transport.write(TURN)

    def _answered(self, leftover: int) -> None:
        assert self.transport is not None
        now, load = time.monotonic(), self.load
        self.turns += 1
        load.turns += load.start <= now <= load.end
        self._phase_done(OPENING if self.turns == 1 else REPLY, leftover)
        if now >= load.end or self.turns >= self.limit:
            self.expect(1)  # the close frame is shorter than a reply
            self.transport.write(CLOSE)
            return
        self.expect(load.size(REPLY) - self.got)
        self.transport.write(TURN)


async def client(load: Load) -> None:
    """Conversations one after the other until the window ends (the first opened before it begins)."""
    loop, first = asyncio.get_running_loop(), True
    while time.monotonic() < load.end:
        try:
            _, conversation = await loop.create_connection(lambda: LoadClient(load), load.host, load.port)
        except OSError as exc:
            load.errors[f"connect: {exc}"] += 1
            await asyncio.sleep(0.05)
            continue
        if not await conversation.opened:
            await asyncio.sleep(0.05)
            continue
        if first:
            first = False
            await asyncio.sleep(load.start - time.monotonic())
        conversation.begin()
        await conversation.closed


async def probe(load: Load) -> None:
    """One conversation of two turns before the window begins: every phase's size is learnt by then, so
    no conversation in the window reads frame by frame."""
    loop = asyncio.get_running_loop()
    _, conversation = await loop.create_connection(lambda: LoadClient(load, 2), load.host, load.port)
    if await conversation.opened:
        conversation.begin()
        await conversation.closed


async def load_main(url: str, start: float, seconds: float, connections: int, per_conversation: int) -> None:
    """Run ``connections`` clients; print what they counted (JSON)."""
    load = Load.of(url, start, seconds, per_conversation)
    await probe(load)
    watching = asyncio.get_running_loop().create_task(watch(load.live, load.errors))
    await asyncio.gather(*(client(load) for _ in range(connections)))
    watching.cancel()
    summary = {"turns": load.turns, "reads": load.reads, "errors": dict(load.errors)}
    print(json.dumps(summary), flush=True)


async def old_load_main(url: str, start: float, seconds: float, connections: int) -> None:
    """The old load, for comparison: ``websockets`` clients that parse every frame."""
    from websockets.asyncio.client import connect

    end = start + seconds

    async def one() -> int:
        turns = 0
        async with connect(url, compression=None) as ws:
            await asyncio.sleep(start - time.monotonic())
            while time.monotonic() < end:
                await ws.send(USER_MESSAGE)
                await ws.send(RESPONSE_CREATE)
                async for message in ws:
                    if '"response.done"' in str(message):
                        break
                turns += time.monotonic() <= end
        return turns

    turns = sum(await asyncio.gather(*(one() for _ in range(connections))))
    print(json.dumps({"turns": turns, "reads": 0, "errors": {}}), flush=True)


# -- running and measuring -------------------------------------------------------------------------------------

QUIET = 0.15
"""Cores busy outside the benchmark below which the machine counts as quiet."""


def tree(pid: int) -> list[int]:
    """``pid`` and its live descendants."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo += parents.get(found[-1], [])
    return found


def cpu_split(pid: int) -> tuple[float, float]:
    """CPU seconds used so far by ``pid``'s process tree: its processes' main threads (the relay's event
    loops; reaped children counted here too, as ``wait4`` would), and their other threads (an OTLP
    exporter, say: the SQLite store has none)."""
    loops = threads = 0
    for p in tree(pid):
        try:
            process = proc_ticks(f"/proc/{p}/stat", 14, 15)  # utime, stime: every thread's
            main = proc_ticks(f"/proc/{p}/task/{p}/stat", 14, 15)
            loops += main + proc_ticks(f"/proc/{p}/stat", 16, 17)  # cutime, cstime
            threads += process - main
        except OSError:  # it exited meanwhile
            pass
    return loops / CLK_TCK, threads / CLK_TCK


def machine_ticks() -> dict[str, int]:
    """The machine's CPU time so far (``/proc/stat``, in ticks): busy (user, system, irq, softirq), steal."""
    user, nice, system, _, _, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return {"busy": user + nice + system + irq + softirq, "steal": steal}


def wait_for_quiet(limit_s: float) -> None:
    """Wait (at most ``limit_s``) for a second in which the machine keeps under ``QUIET`` cores busy."""
    deadline = time.monotonic() + limit_s
    while True:
        before = machine_ticks()["busy"]
        time.sleep(1.0)
        busy = (machine_ticks()["busy"] - before) / CLK_TCK
        if busy < QUIET or time.monotonic() >= deadline:
            return
        print(f"waiting for a quiet machine ({busy:.2f} cores busy)", file=sys.stderr, flush=True)


def reap(process: subprocess.Popen[str]) -> float:
    """Wait for ``process`` (its output read first): its CPU seconds, children included (``wait4``)."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def first_line(process: subprocess.Popen[str], prefix: str, what: str) -> str:
    """The first line ``process`` prints that starts with ``prefix``."""
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(prefix):
            return line
    raise SystemExit(f"{what} did not start")


def spread(log: str) -> list[int]:
    """Conversations per relay process, from serve's ``... stopped after N conversation(s)`` lines."""
    found = re.findall(r"switchboard relay(?: worker (\d+))? stopped after (\d+) conversation", log)
    return [int(n) for _, n in sorted(found, key=lambda m: int(m[0] or 0))]


@dataclass
class Run:
    """One measured row: turns in the window and the CPU each part used in it."""

    label: str
    turns: int
    seconds: float
    elapsed: float
    """From the window's start until the last loader exited (the CPU figures cover this)."""
    relay: tuple[float, float]
    """The relay's CPU seconds: event loops (its workers', or its own), other threads (see :func:`cpu_split`)."""
    loaders: float
    upstream: float | None
    """``None``: the emulator ran inside the relay (the old load)."""
    machine: dict[str, float]
    """Cores busy over the window by ``/proc/stat`` (every process on the machine): busy, steal."""
    spread: list[int]
    """Conversations per relay process (from serve's log)."""
    reads: int
    """The loaders' reads (a turn's reply should take one)."""
    problems: list[str]
    upstream_reads: int = 0

    @property
    def rate(self) -> float:
        return self.turns / self.seconds

    @property
    def relay_cpu(self) -> float:
        return sum(self.relay)

    @property
    def load_cpu(self) -> float:
        return self.loaders + (self.upstream or 0.0)

    def per_kturn(self, cpu: float | None) -> str:
        return "in relay" if cpu is None else f"{1000 * cpu / max(self.turns, 1):.2f}"

    def cores(self, cpu: float) -> float:
        return cpu / self.elapsed

    @property
    def others(self) -> float:
        """Cores that processes outside the benchmark kept busy in the window (a shared machine)."""
        return max(0.0, self.machine["busy"] - self.cores(self.relay_cpu + self.load_cpu))


EXPECTED_UPSTREAM = {
    "(connections)",
    "(reads)",
    "session.update",
    "conversation.item.create",
    "response.create",
}


@dataclass
class Bench:
    """What every row shares: the options, the environment, a temporary directory."""

    args: argparse.Namespace
    tmp: Path
    env: dict[str, str] = field(default_factory=dict)
    loadgen: Path | None = None
    """The C load (``--engine c``), else ``None``: the Python one."""

    def __post_init__(self) -> None:
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_STATE_HOME": str(self.tmp / "state")}
        self.env.pop("OPENAI_API_KEY", None)  # nothing to send to a loopback replay
        (self.tmp / "hello.toml").write_text(SCRIPT, encoding="utf-8")
        if self.args.engine == "c":
            self.loadgen = build_loadgen(self.tmp)
            if self.loadgen is None:
                print("no C compiler: the load runs in Python (--engine python)", file=sys.stderr)
                self.args.engine = "python"
            else:
                write_recording(asyncio.run(record(FLOW)), self.tmp / "recording")

    def spawn(self, argv: Sequence[str], stderr: IO[str] | None = None) -> subprocess.Popen[str]:
        """A Python process (``argv`` after the interpreter)."""
        return self.run([sys.executable, *argv], stderr)

    def run(self, command: Sequence[str], stderr: IO[str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(command, env=self.env, stdout=subprocess.PIPE, stderr=stderr, text=True)

    def replay(self) -> subprocess.Popen[str]:
        if self.loadgen is not None:
            return self.run([str(self.loadgen), "replay", str(self.tmp / "recording")])
        return self.spawn([__file__, "--replay"])

    def serve(self, workers: int, upstream: str | None, log: IO[str]) -> tuple[subprocess.Popen[str], str]:
        """``serve`` on a fresh default store, and the URL it prints once it (every worker) listens."""
        shutil.rmtree(self.tmp / "state", ignore_errors=True)
        command = ["-m", "engine.cli", "serve", str(FLOW), "--port", "0", "--no-auth"]
        command += ["--workers", str(workers), "--max-conversations", "4096"]
        command += ["--store", self.args.store] if self.args.store else []
        command += ["--upstream", upstream] if upstream else ["--script", str(self.tmp / "hello.toml")]
        server = self.spawn(command, log)
        return server, first_line(server, "clients connect to ", f"serve --workers {workers}").split()[3]

    def loaders(self, url: str, start: float, old: bool) -> list[subprocess.Popen[str]]:
        a = self.args
        shares = [a.connections // a.loaders + (i < a.connections % a.loaders) for i in range(a.loaders)]
        if self.loadgen is not None and not old:
            match = re.fullmatch(r"ws://([^:/]+):(\d+)(/.*)", url)
            if match is None:
                raise SystemExit(f"not a ws:// URL: {url}")
            window = [repr(start), repr(start + a.seconds)]
            return [
                self.run([str(self.loadgen), "load", *match.groups(), *window, str(n), str(a.turns)])
                for n in shares
                if n
            ]
        common = ["--load", url, "--start", repr(start), "--seconds", str(a.seconds), "--turns", str(a.turns)]
        common += ["--old-load"] if old else []
        return [self.spawn([__file__, *common, "--connections", str(n)]) for n in shares if n]

    def measure(self, workers: int, label: str, old: bool = False) -> Run:
        """One row: the replay upstream (unless ``old``), ``serve --workers``, the loaders."""
        wait_for_quiet(self.args.quiet_wait)
        upstream = None if old else self.replay()
        upstream_url = None if upstream is None else first_line(upstream, "ready ", "the replay").split()[1]
        with open(self.tmp / "serve.log", "w+", encoding="utf-8") as log:
            server, url = self.serve(workers, upstream_url, log)
            start = time.monotonic() + LEAD_S
            loaders = self.loaders(url, start, old)
            time.sleep(max(0.0, start - time.monotonic()))
            run = self.window(label, server, upstream, loaders, start)
            server.send_signal(signal.SIGTERM)
            assert server.stdout is not None
            run.spread = spread(server.stdout.read())
            reap(server)
            log.seek(0)
            run.problems += [f"serve: {line.rstrip()}" for line in log if line.strip()]
        if upstream is not None:
            upstream.send_signal(signal.SIGTERM)
            seen = json.loads(first_line(upstream, "{", "the replay's summary"))["seen"]
            run.upstream_reads = seen.get("(reads)", 0)
            reap(upstream)
            odd = {k: v for k, v in seen.items() if k not in EXPECTED_UPSTREAM}
            run.problems += [f"the upstream received {odd}"] if odd else []
        return run

    def window(
        self,
        label: str,
        server: subprocess.Popen[str],
        upstream: subprocess.Popen[str] | None,
        loaders: list[subprocess.Popen[str]],
        start: float,
    ) -> Run:
        """From the window's start until every loader is done: the turns, and each part's CPU (``/proc``
        at both ends for the relay and the upstream, ``wait4`` for the loaders)."""
        relay0, up0 = cpu_split(server.pid), sum(cpu_split(upstream.pid)) if upstream else 0.0
        loaders0, machine0 = [sum(cpu_split(p.pid)) for p in loaders], machine_ticks()
        results = [json.loads(first_line(p, "{", "a loader")) for p in loaders]
        loader_cpu = sum(reap(p) - before for p, before in zip(loaders, loaders0, strict=True))
        relay1, up1 = cpu_split(server.pid), sum(cpu_split(upstream.pid)) if upstream else 0.0
        elapsed = time.monotonic() - start
        machine = {k: (v - machine0[k]) / CLK_TCK / elapsed for k, v in machine_ticks().items()}
        return Run(
            label,
            sum(r["turns"] for r in results),
            self.args.seconds,
            elapsed,
            (relay1[0] - relay0[0], relay1[1] - relay0[1]),
            loader_cpu,
            None if upstream is None else up1 - up0,
            machine,
            [],
            sum(r["reads"] for r in results),
            [f"loader: {n} x {what}" for r in results for what, n in r["errors"].items()],
        )


def best(runs: list[Run]) -> Run:
    """The run with the most turns (the least disturbed on a shared machine)."""
    return max(runs, key=lambda run: run.turns)


# -- the report ----------------------------------------------------------------------------------------------


def row(run: Run, baseline: Run | None) -> list[str]:
    loops, threads = (run.cores(cpu) for cpu in run.relay)
    return [
        run.label,
        f"{run.rate:,.0f}",
        f"{run.rate / baseline.rate:.2f}x" if baseline is not None else "-",
        run.per_kturn(run.relay_cpu),
        run.per_kturn(run.loaders),
        run.per_kturn(run.upstream),
        f"{loops + threads:.2f} ({loops:.2f} + {threads:.2f})",
        f"{run.machine['busy']:.2f}",
    ]


def report(args: argparse.Namespace, one: Run, two: Run, old: Run | None) -> tuple[str, list[Target]]:
    ratio, cores = two.rate / one.rate, os.cpu_count() or 1
    ceiling = cores / one.cores(one.relay_cpu + one.load_cpu)
    targets = [Target("`serve --workers 2` turns/s / `serve` turns/s", ratio, RATIO, "x", at_least=True)]
    header = ["relay", "turns/s", "vs 1 process", "relay CPU s", "loaders CPU s", "upstream CPU s"]
    header += ["relay cores busy (event loops + other threads)", f"machine cores busy (of {cores})"]
    rows = [row(one, one), row(two, one)] + ([row(old, None)] if old is not None else [])
    lines = [
        "## Relay workers (`tools/bench_workers.py`)",
        "",
        f"{machine_line()}. Plain text turns through `serve {FLOW.relative_to(ROOT)} --workers N --no-auth"
        + (
            f" --store {args.store}` (and its default audit)"
            if args.store
            else "` (its default SQLite store and audit)"
        )
        + " to a replay upstream: a process of its own answering from "
        f"frames recorded from the emulator ({'C' if args.engine == 'c' else 'Python'}). {args.connections} connections from {args.loaders} load "
        f"process(es) speaking websocket by hand ({'in C, `tools/loadgen.c`' if args.engine == 'c' else 'in Python'}), "
        f"conversations of {args.turns} turns; {args.seconds:g} s "
        f"per row, the best of {args.rounds} rounds (1 and 2 workers taking turns). CPU seconds per 1,000 "
        "turns, over the window only (start-up and exit left out); the relay's includes its workers.",
        "",
        table(header, rows),
        "",
        f"Conversations per worker: {two.spread}. The load (loaders and upstream) cost "
        f"{one.load_cpu / one.relay_cpu:.0%} of the relay's CPU with 1 worker, "
        f"{two.load_cpu / two.relay_cpu:.0%} with 2. The most 2 workers can give on {cores} cores, if a "
        f"turn costs them what it costs 1: {cores} / {one.cores(one.relay_cpu + one.load_cpu):.2f} cores "
        f"busy with 1 worker = {ceiling:.2f}x.",
        "",
        targets_table(targets),
    ]
    if old is not None:
        lines[5:5] = [
            "",
            "The last row is the old load, for comparison: the emulator embedded in each worker "
            "(`--script`, its CPU counted in the relay's) and `websockets` loaders parsing every frame.",
        ]
    return "\n".join(lines), targets


def warnings(one: Run, two: Run, old: Run | None) -> list[str]:
    """What makes the ratio mean less than it says."""
    runs = [run for run in (one, two, old) if run is not None]
    notes = [f"{run.label}: {problem}" for run in runs for problem in run.problems]
    loops = one.cores(one.relay[0])
    if loops < 0.97:
        notes.append(
            f"1 worker's event loop kept only {loops:.2f} cores busy: not CPU-bound (more --connections?)"
        )
    if max(run.load_cpu / run.relay_cpu for run in (one, two)) > 0.10:
        notes.append("the load cost more than 10% of the relay's CPU")
    notes += [
        f"{run.label}: other processes kept {run.others:.2f} cores busy" for run in runs if run.others > QUIET
    ]
    notes += [
        f"{run.label}: the hypervisor took {run.machine['steal']:.2f} cores (steal)"
        for run in runs
        if run.machine["steal"] > QUIET
    ]
    if len(two.spread) != 2 or min(two.spread) == 0:
        notes.append(f"the 2 workers did not both get connections: {two.spread}")
    return notes


def describe(run: Run) -> str:
    """One line per run, for stderr: every round's figures."""
    return (
        f"{run.label}: {run.rate:,.0f} turns/s; CPU s per 1,000 turns: relay {run.per_kturn(run.relay_cpu)}, "
        f"loaders {run.per_kturn(run.loaders)}, upstream {run.per_kturn(run.upstream)}; relay cores "
        f"{run.cores(run.relay[0]):.2f} + {run.cores(run.relay[1]):.2f}; machine {run.machine['busy']:.2f} "
        f"(others {run.others:.2f}, steal {run.machine['steal']:.2f}); conversations {run.spread}; "
        f"reads per turn: loaders {run.reads / max(run.turns, 1):.2f}, upstream (whole run) "
        f"{run.upstream_reads / max(run.turns, 1):.2f}"
        + "".join(f"\n  {problem}" for problem in run.problems)
    )


def measure_all(args: argparse.Namespace) -> tuple[Run, Run, Run | None]:
    """``--rounds`` rounds of 1 worker then 2 (the best of each), then the old load once."""
    ones: list[Run] = []
    twos: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(args, Path(tmp))
        for _ in range(args.rounds):
            for runs, workers, label in (
                (ones, 1, "`serve` (1 process, baseline)"),
                (twos, 2, "`serve --workers 2`"),
            ):
                runs.append(bench.measure(workers, label))
                print(describe(runs[-1]), file=sys.stderr, flush=True)
        old = None
        if not args.no_old_load:
            old = bench.measure(2, "old load: `serve --workers 2 --script`", old=True)
            print(describe(old), file=sys.stderr, flush=True)
    return best(ones), best(twos), old


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="the window of each row")
    parser.add_argument("--connections", type=int, default=256, help="clients (128 a worker keep each busy)")
    parser.add_argument("--loaders", type=int, default=1, help="load processes sharing the connections")
    parser.add_argument("--turns", type=int, default=20, help="turns per conversation (then a new one)")
    parser.add_argument("--rounds", type=int, default=4, help="rows of 1 and 2 workers, the best counts")
    parser.add_argument("--no-old-load", action="store_true", help="skip the row with the old load")
    parser.add_argument("--store", metavar="URL", help="serve's --store (default: its own, SQLite)")
    parser.add_argument(
        "--engine", choices=["c", "python"], default="c", help="the load's: tools/loadgen.c, or this script's"
    )
    parser.add_argument("--quiet-wait", type=float, default=60.0, help="wait at most S s for an idle machine")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--replay", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--old-load", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replay:
        asyncio.run(replay_main(FLOW))
        return
    if args.load:
        start = time.monotonic() if args.start is None else args.start
        if args.old_load:
            asyncio.run(old_load_main(args.load, start, args.seconds, args.connections))
        else:
            asyncio.run(load_main(args.load, start, args.seconds, args.connections, args.turns))
        return
    one, two, old = measure_all(args)
    body, targets = report(args, one, two, old)
    print(body)
    for note in warnings(one, two, old):
        print(f"warning: {note}", file=sys.stderr)
    if args.write:
        write_section("workers", body)
    sys.exit(1 if failed(targets) else 0)


if __name__ == "__main__":
    main()
