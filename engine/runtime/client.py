"""The upstream client: one websocket to a Realtime endpoint (OpenAI, the emulator, anything GA-compatible).

```python
async with RealtimeClient.connect(url) as client:
    await client.send({"type": "response.create"})
    async for event in client:            # dict events, in order; ends on a normal close
        if isinstance(event, ProtocolError):
            ...                           # a malformed frame: reported in order, never fatal
```
Errors: :class:`UpstreamError` (bad URL, missing key), :class:`UpstreamRefused` (handshake rejected or
nothing listening), :class:`UpstreamDropped` (the connection closed abnormally mid-stream).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)

from engine.errors import SwitchboardError
from engine.wire.batching import BatchedClientConnection
from engine.wire.protocol import MAX_FRAME, Event, ProtocolError, decode, encode, peek_type

__all__ = [
    "OPENAI_URL",
    "RealtimeClient",
    "UpstreamClosed",
    "UpstreamDropped",
    "UpstreamError",
    "UpstreamRefused",
]

OPENAI_URL = "wss://api.openai.com/v1/realtime?model=gpt-realtime"


class UpstreamError(SwitchboardError):
    """The upstream cannot be used (bad URL, missing API key); base of the other upstream errors."""


class UpstreamRefused(UpstreamError):
    """The connection was not established: HTTP status (``None`` when no HTTP answer) and reason."""

    def __init__(self, url: str, status: int | None, reason: str) -> None:
        self.url, self.status, self.reason = url, status, reason
        what = f"HTTP {status} {reason}" if status is not None else reason
        super().__init__(f"upstream {url} refused the connection: {what}")


class UpstreamDropped(UpstreamError):
    """The connection closed abnormally (no close frame, or an error close code)."""

    def __init__(self, url: str, code: int | None, reason: str) -> None:
        self.url, self.code, self.reason = url, code, reason
        detail = f"close code {code}" if code is not None else "no close frame (connection lost)"
        super().__init__(
            f"upstream {url} dropped the connection: {detail}" + (f" ({reason})" if reason else "")
        )


class UpstreamClosed(UpstreamError):
    """:meth:`RealtimeClient.recv`/:meth:`~RealtimeClient.send` after a normal close."""

    def __init__(self, url: str, code: int | None, reason: str) -> None:
        self.url, self.code, self.reason = url, code, reason
        super().__init__(f"upstream {url} closed the connection (code {code})")


class Received(dict[str, Any]):
    """A decoded server event that remembers the text frame it came in: a relay passes it on as received
    (no re-encoding) when it forwards the event unchanged."""

    __slots__ = ("frame",)

    def __init__(self, event: Event, frame: str) -> None:
        super().__init__(event)
        self.frame = frame


class Unread:
    """A server event of a type in :attr:`RealtimeClient.unread`, not decoded: its ``kind`` and ``frame``."""

    __slots__ = ("frame", "kind")

    def __init__(self, kind: str, frame: str) -> None:
        self.kind, self.frame = kind, frame

    def decoded(self) -> Received:
        """The event after all (raises :class:`ProtocolError` for a malformed frame)."""
        return Received(decode(self.frame), self.frame)


class RealtimeClient:
    """A connected Realtime websocket; create it with :meth:`connect` (or :meth:`open` + :meth:`close`)."""

    def __init__(self, ws: ClientConnection, url: str) -> None:
        self.ws, self.url = ws, url
        self.unread: frozenset[str] = frozenset()
        """Event types :meth:`recv` returns as :class:`Unread` frames instead of decoding them (a relay
        forwards them as they came; see :data:`engine.session.call_view.UNREAD`)."""

    @classmethod
    async def open(
        cls,
        url: str = OPENAI_URL,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        open_timeout: float = 10,
        *,
        compression: str | None = "deflate",
    ) -> RealtimeClient:
        """Connect; ``api_key=None`` reads ``OPENAI_API_KEY`` (``""`` sends no key); ``compression=None``
        turns permessage-deflate off (the relay does on loopback hops, where it costs more than it saves).

        The key goes out as ``Authorization: Bearer KEY`` unless ``headers`` has an ``Authorization``.
        api.openai.com without a key raises :class:`UpstreamError` before any network I/O.
        """
        key = os.environ.get("OPENAI_API_KEY") if api_key is None else api_key
        sent = dict(headers or {})
        if key and not any(h.lower() == "authorization" for h in sent):
            sent["Authorization"] = f"Bearer {key}"
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise UpstreamError(f"invalid upstream URL {url!r}: {exc}") from None
        if parts.scheme not in ("ws", "wss"):
            raise UpstreamError(f"invalid upstream URL {url!r}: the scheme must be ws:// or wss://")
        if key and parts.scheme == "ws" and not is_loopback(parts.hostname):
            raise UpstreamError(
                f"refusing to send the API key to {parts.hostname} over plain ws://: use wss:// "
                "(only a loopback upstream, such as the local emulator, may be plain ws://)"
            )
        if parts.hostname == "api.openai.com" and not any(h.lower() == "authorization" for h in sent):
            raise UpstreamError(
                f"OPENAI_API_KEY is not set: {url} needs an API key "
                "(export OPENAI_API_KEY, or use the local emulator: `switchboard emulate`)"
            )
        try:
            ws = await ws_connect(
                url,
                additional_headers=sent,
                open_timeout=open_timeout,
                max_size=MAX_FRAME,
                compression=compression,
                create_connection=BatchedClientConnection,
            )
        except InvalidStatus as exc:
            response = exc.response
            body = response.body.decode("utf-8", "replace").strip()[:200] if response.body else ""
            reason = response.reason_phrase + (f": {body}" if body else "")
            raise UpstreamRefused(url, response.status_code, reason) from None
        except InvalidURI as exc:
            raise UpstreamError(f"invalid upstream URL {url!r}: {exc}") from None
        except TimeoutError:
            raise UpstreamRefused(url, None, f"no handshake within {open_timeout:g}s") from None
        except (InvalidHandshake, OSError) as exc:  # refused, unreachable, DNS, TLS, bad handshake
            raise UpstreamRefused(url, None, str(exc) or type(exc).__name__) from None
        return cls(ws, url)

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        url: str = OPENAI_URL,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        open_timeout: float = 10,
        *,
        compression: str | None = "deflate",
    ) -> AsyncIterator[RealtimeClient]:
        """:meth:`open` as an async context manager that closes the connection on exit."""
        client = await cls.open(url, api_key, headers, open_timeout, compression=compression)
        try:
            yield client
        finally:
            await client.close()

    async def send(self, event: Mapping[str, Any]) -> None:
        """Send one client event (encoded as is; raises :class:`UpstreamDropped`/``UpstreamClosed``)."""
        try:
            await self.ws.send(encode(event))
        except ConnectionClosed as exc:
            raise self._closed_error(exc) from None

    async def recv(self) -> Event | Unread:
        """The next event; raises :class:`ProtocolError` for a malformed frame (the next call goes on),
        :class:`UpstreamClosed` after a normal close, :class:`UpstreamDropped` after an abnormal one."""
        try:
            frame = await self.ws.recv()
        except ConnectionClosed as exc:
            raise self._closed_error(exc) from None
        if not isinstance(frame, str):
            return decode(frame)
        if self.unread:
            kind = peek_type(frame)
            if kind in self.unread:
                return Unread(kind, frame)
        return Received(decode(frame), frame)

    def __aiter__(self) -> AsyncIterator[Event | Unread | ProtocolError]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event | Unread | ProtocolError]:
        """Events in order; a malformed frame is yielded as a :class:`ProtocolError` value, not raised.

        Ends on a normal close; raises :class:`UpstreamDropped` on an abnormal one.
        """
        while True:
            try:
                yield await self.recv()
            except ProtocolError as exc:
                yield exc
            except UpstreamClosed:
                return

    async def close(self) -> None:
        """Close with code 1000 (idempotent)."""
        await self.ws.close()

    @property
    def closed(self) -> bool:
        return self.ws.close_code is not None

    def _closed_error(self, exc: ConnectionClosed) -> UpstreamError:
        frame = exc.rcvd or exc.sent
        code, reason = (frame.code, frame.reason) if frame is not None else (None, "")
        if isinstance(exc, ConnectionClosedOK):
            return UpstreamClosed(self.url, code, reason)
        return UpstreamDropped(self.url, code, reason)


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` names this machine (``localhost`` or a loopback address)."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
