"""The relay's admin endpoint: ``POST /v1/realtime/client_secrets``, as OpenAI's, authorised by the server token.

It listens on its own port (``serve --admin-port``), so the admin plane can stay on an internal interface
while clients reach the websocket port. The request body is OpenAI's (``expires_after.seconds``; ``session``
is echoed) plus Switchboard's ``context``: the trusted initial context the secret carries, checked against
the flow's ``initial_context`` now rather than when the client connects. The answer validates as
``openai.types.realtime.ClientSecretCreateResponse``, so ``client.realtime.client_secrets.create(...)`` works.

HTTP/1.1 is parsed by ``h11``; one request per connection, bodies capped at :data:`MAX_BODY`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

import h11

from engine.runtime.auth import DEFAULT_TTL_S, AuthError, ClientSecrets, bearer, is_token
from engine.session.context import ContextError

PATH = "/v1/realtime/client_secrets"
MAX_BODY = 64 * 1024
READ_TIMEOUT_S = 10.0


class AdminServer:
    """``async with AdminServer(...) as admin: admin.url``; mints secrets for one flow."""

    def __init__(
        self,
        secrets: ClientSecrets,
        token: str,
        flow: str,
        check_context: Callable[[Mapping[str, str]], object],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        reuse_port: bool = False,
    ) -> None:
        self._secrets, self._token, self._flow = secrets, token, flow
        self._check_context = check_context
        self.host, self.port, self.reuse_port = host, port, reuse_port
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    async def __aenter__(self) -> AdminServer:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, reuse_port=self.reuse_port or None
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            request, body = await asyncio.wait_for(_read_request(conn, reader), READ_TIMEOUT_S)
            status, answer = self._answer(request, body)
        except (h11.RemoteProtocolError, ValueError, TimeoutError):
            status, answer = 400, _error("malformed HTTP request")
        except _TooLarge:
            status, answer = 413, _error(f"the body is larger than {MAX_BODY} bytes")
        data = json.dumps(answer).encode()
        headers = [("content-type", "application/json"), ("content-length", str(len(data)))]
        try:
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                writer.write(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
                writer.write(conn.send(h11.Data(data=data)) or b"")
                writer.write(conn.send(h11.EndOfMessage()) or b"")
            await writer.drain()
        except (h11.LocalProtocolError, ConnectionError):
            pass
        finally:
            writer.close()

    def _answer(self, request: h11.Request, body: bytes) -> tuple[int, dict[str, Any]]:
        target = request.target.decode("ascii", "replace").split("?", 1)[0]
        if target != PATH:
            return 404, _error(f"no such endpoint (try POST {PATH})")
        if request.method != b"POST":
            return 405, _error("use POST")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers}  # h11: lower-case
        if not is_token(bearer(headers), self._token):
            return 401, _error("minting client secrets needs the server token (Authorization: Bearer ...)")
        try:
            params = json.loads(body or b"{}")
            if not isinstance(params, dict):
                raise ValueError("the body must be a JSON object")
            ttl = (params.get("expires_after") or {}).get("seconds", DEFAULT_TTL_S)
            context = params.get("context") or {}
            if not isinstance(ttl, int) or not isinstance(context, dict):
                raise ValueError("expires_after.seconds must be an integer and context an object")
            context = {str(k): str(v) for k, v in context.items()}
            self._check_context(context)
            secret, expires_at = self._secrets.mint(self._flow, context, ttl)
        except (ValueError, AttributeError, ContextError) as exc:
            return 400, _error(str(exc))
        except AuthError as exc:
            return exc.status, _error(str(exc))
        given = params.get("session")
        session: dict[str, Any] = given if isinstance(given, dict) else {}
        return 200, {
            "value": secret,
            "expires_at": expires_at,
            "session": {"type": "realtime", **session, "object": "realtime.session"},
        }


class _TooLarge(Exception):
    pass


async def _read_request(conn: h11.Connection, reader: asyncio.StreamReader) -> tuple[h11.Request, bytes]:
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(65536))
            continue
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY:
                raise _TooLarge
        elif isinstance(event, h11.EndOfMessage) and request is not None:
            return request, bytes(body)
        elif isinstance(event, h11.ConnectionClosed):
            raise ValueError("closed before the request ended")


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error"}}
