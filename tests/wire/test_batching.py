"""Connections writing once per loop pass (:mod:`engine.wire.batching`), over real loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosedOK

from engine.runtime.conversation import _cannot_block
from engine.wire.batching import BatchedClientConnection, BatchedServerConnection


class CountedServer(BatchedServerConnection):
    """Records the size of every write the connection makes to its transport."""

    writes: list[int]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.writes = []
        write = self.transport.write

        def counted(data: bytes | bytearray | memoryview) -> None:
            self.writes.append(len(data))
            write(data)

        self.transport.write = counted  # type: ignore[method-assign]


def run(handler: Callable[[CountedServer], Awaitable[None]], *, write_limit: int = 32 * 1024) -> list[str]:
    """Serve ``handler`` on loopback (one connection); return what a plain client received before the
    close, which must be a clean 1000."""

    async def main() -> list[str]:
        async def handle(ws: ServerConnection) -> None:
            assert isinstance(ws, CountedServer)
            await handler(ws)

        async with serve(
            handle, "127.0.0.1", 0, create_connection=CountedServer, compression=None, write_limit=write_limit
        ) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}", compression=None) as client:
                got = [str(frame) async for frame in client]
                assert client.close_code == 1000
                return got

    return asyncio.run(main())


def frame_size(text: str) -> int:
    """An unmasked text frame's bytes: the payload and a 2-byte header (4 from 126 bytes on)."""
    size = len(text.encode())
    return size + (2 if size < 126 else 4)


@settings(max_examples=25, deadline=None)
@given(passes=st.lists(st.lists(st.text(max_size=300), min_size=0, max_size=6), min_size=1, max_size=6))
def test_the_frames_of_one_pass_leave_in_one_write_in_order(passes: list[list[str]]) -> None:
    per_pass: list[int] = []

    async def handler(ws: CountedServer) -> None:
        await asyncio.sleep(0)  # the handshake's response leaves
        for frames in passes:
            before = len(ws.writes)
            for frame in frames:
                await ws.send(frame)
            assert ws.pending_bytes == sum(map(frame_size, frames))
            await asyncio.sleep(0)  # the pass ends: its frames are written
            assert ws.pending_bytes == 0
            per_pass.append(len(ws.writes) - before)

    assert run(handler) == [frame for frames in passes for frame in frames]
    assert per_pass == [1 if frames else 0 for frames in passes]


def test_a_close_right_after_sends_writes_them_first() -> None:
    async def handler(ws: CountedServer) -> None:
        for n in range(5):
            await ws.send(f"frame {n}")
        assert ws.pending_bytes > 0
        await ws.close(1000)

    assert run(handler) == [f"frame {n}" for n in range(5)]


def test_an_abort_drops_what_is_pending_without_error() -> None:
    async def main() -> type[BaseException] | None:
        dropped = asyncio.get_running_loop().create_future()

        async def handle(ws: ServerConnection) -> None:
            await asyncio.sleep(0)  # the handshake's response leaves
            await ws.send("never written")
            ws.transport.abort()
            await asyncio.sleep(0)  # the flush finds the transport closing
            dropped.set_result(None)

        async with serve(handle, "127.0.0.1", 0, create_connection=BatchedServerConnection) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}") as client:
                try:
                    await client.recv()
                except Exception as exc:  # the abort: whatever the client reports
                    await dropped
                    return type(exc)
        return None

    closed = asyncio.run(main())
    assert closed is not None and closed is not ConnectionClosedOK


def test_what_a_pass_has_not_written_counts_against_the_send_buffer() -> None:
    """The relay sends an event straight down only while it cannot block (:func:`_cannot_block`); the
    bytes of this pass, not yet in the transport's buffer, must count or a burst passes the high mark."""
    seen: list[bool] = []

    async def handler(ws: CountedServer) -> None:
        await asyncio.sleep(0)  # the handshake's response leaves
        frame = "x" * 900  # 4 bytes a character at most, plus the header: 3,614 of the 4,096
        seen.append(_cannot_block(ws, frame))
        await ws.send(frame)
        seen.append(_cannot_block(ws, frame))  # 906 pending + 3,614 > 4,096
        await asyncio.sleep(0)
        seen.append(_cannot_block(ws, frame))  # written: the kernel took it

    run(handler, write_limit=4096)
    assert seen == [True, False, True]


def test_a_client_connection_writes_a_pass_at_once() -> None:
    async def main() -> tuple[list[str], list[int]]:
        got: list[str] = []

        async def handle(ws: ServerConnection) -> None:
            got.extend([str(await ws.recv()) for _ in range(3)])

        async with serve(handle, "127.0.0.1", 0, compression=None) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(
                f"ws://127.0.0.1:{port}", compression=None, create_connection=BatchedClientConnection
            ) as client:
                writes: list[int] = []
                write = client.transport.write
                client.transport.write = lambda data: (writes.append(len(data)), write(data))[1]  # type: ignore[method-assign,func-returns-value]
                for text in ("a", "b", "c"):
                    await client.send(text)
                await asyncio.sleep(0)
                await client.close()
        return got, writes

    got, writes = asyncio.run(main())
    assert got == ["a", "b", "c"]
    assert writes[0] == 3 * (
        1 + 6
    )  # three masked 1-byte frames (2 header + 4 mask bytes + payload), one write
