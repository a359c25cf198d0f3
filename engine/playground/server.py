"""The playground: the relay and its page on one loopback port, driven only with this run's token.

``GET /?token=T`` is the page (the URL ``switchboard playground`` prints; the token goes into the page, so
nothing else on the machine that lacks it can load or drive it); ``/static/…`` its files (shipped in the
package: no CDN, no build step); ``GET /api/flows`` the flows with their lint results, re-linted when a file
changes; ``GET /api/graph?flow=NAME`` the flow's diagram (the SVG ``render`` draws); ``/v1/realtime?flow=NAME``
the Realtime protocol, through a narrating relay (``switchboard.*`` events beside the OpenAI ones). The API
and the websocket take the token as ``Authorization: Bearer T`` or, from a browser, as the subprotocol
``openai-insecure-api-key.T`` (what OpenAI's own browser clients send); a browser's ``Origin`` must be the
page's own.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import weakref
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from engine.compile.pipeline import CompiledFlow
from engine.emulator.script import Script
from engine.emulator.server import Emulator
from engine.flow.diagnostics import Diagnostic, Severity
from engine.runtime.prepare import lint_flow
from engine.runtime.relay import Relay
from engine.runtime.runner import script_or_empty
from engine.session.audit import CountingSink
from engine.wire.server import PATH, OneLineLog, RealtimeServer

STATIC = Path(__file__).resolve().parent / "static"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css"}
SUBPROTOCOL_PREFIX = "openai-insecure-api-key."

log = OneLineLog(logging.getLogger("switchboard.playground"))


@dataclass
class FlowSlot:
    """One flow of the playground: its file, what lint says of its current version, its relay."""

    name: str
    path: Path
    version: float = -1.0
    """The file's mtime when last linted."""
    findings: list[Diagnostic] = field(default_factory=list)
    compiled: CompiledFlow | None = None
    """The current version compiled (``None``: it does not lint)."""
    relay: Relay | None = None
    relay_version: float = -1.0
    """The version the relay runs (older than ``version``: the page offers a restart)."""


class Playground(RealtimeServer):
    def __init__(
        self,
        target: str | Path,
        *,
        script: str | Path | None = None,
        upstream: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
    ) -> None:
        super().__init__(host, port, compression=None, logger=log, subprotocols=["realtime"])
        target = Path(target)
        files = (
            sorted(p for p in target.iterdir() if p.suffix in (".toml", ".json"))
            if target.is_dir()
            else [target]
        )
        self.flows = {p.stem: FlowSlot(p.stem, p) for p in files if p.is_file()}
        if not self.flows:
            raise ValueError(f"no flow files in {target}")
        self.script, self.upstream = script, upstream
        self.token = token or secrets.token_urlsafe(24)
        self._stack = AsyncExitStack()
        self._routes: weakref.WeakKeyDictionary[ServerConnection, Relay] = weakref.WeakKeyDictionary()

    @property
    def page_url(self) -> str:
        return "http" + self.url.removeprefix("ws").removesuffix(PATH) + f"/?token={self.token}"

    async def __aenter__(self) -> Playground:
        await super().__aenter__()
        for slot in self.flows.values():
            self.relint(slot)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for slot in self.flows.values():
            if slot.relay is not None and slot.relay.active:
                await slot.relay.shutdown(drain_s=1.0)
        await super().__aexit__(*exc)
        await self._stack.aclose()

    # -- flows ---------------------------------------------------------------------------------------------

    def relint(self, slot: FlowSlot) -> bool:
        """Lint ``slot`` again if its file changed; whether it did."""
        try:
            version = slot.path.stat().st_mtime
        except OSError:
            version = 0.0
        if version == slot.version:
            return False
        slot.version = version
        linted = lint_flow(slot.path, import_tools=True)
        slot.findings, slot.compiled = list(linted.findings), linted.compiled
        return True

    async def relay_for(self, slot: FlowSlot) -> Relay | None:
        """The relay of the flow's current version (a new one when the file changed; ``None``: it does not lint)."""
        self.relint(slot)
        if slot.relay is not None and slot.relay_version == slot.version:
            return slot.relay
        if slot.compiled is None:
            return None
        upstream = self.upstream or (await self._emulator(slot)).url
        slot.relay = Relay(slot.compiled, upstream, audit=CountingSink(), narrate=True, gate=None)
        slot.relay_version = slot.version
        return slot.relay

    async def _emulator(self, slot: FlowSlot) -> Emulator:
        script = self.script or _companion_script(slot.path)
        emulator = Emulator(script_or_empty(script) if script is not None else Script.parse("", "empty"))
        return await self._stack.enter_async_context(emulator)

    # -- HTTP --------------------------------------------------------------------------------------------

    async def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        query = parse_qs(parts.query)
        if parts.path == "/":
            if not self._is_token((query.get("token") or [""])[-1]):
                return _text(
                    connection, HTTPStatus.UNAUTHORIZED, "Open the URL `switchboard playground` printed.\n"
                )
            page = (STATIC / "index.html").read_text(encoding="utf-8").replace("{{TOKEN}}", self.token)
            return _body(connection, HTTPStatus.OK, page.encode(), TYPES[".html"])
        if parts.path.startswith("/static/"):
            return self._static(connection, parts.path.removeprefix("/static/"))
        if parts.path.startswith("/api/") or parts.path.rstrip("/") == PATH:
            if not self._is_token(_credential(request.headers)):
                return _text(connection, HTTPStatus.UNAUTHORIZED, "missing or wrong playground token\n")
            origin = request.headers.get("Origin")
            if origin is not None and origin not in self._origins():
                return _text(connection, HTTPStatus.FORBIDDEN, f"origin {origin!r} is not this playground\n")
        if parts.path == "/api/flows":
            return self._flows(connection)
        if parts.path == "/api/graph":
            return self._graph(connection, (query.get("flow") or [""])[-1])
        if parts.path.rstrip("/") == PATH:
            return await self._realtime(connection, request, (query.get("flow") or [""])[-1])
        return _text(connection, HTTPStatus.NOT_FOUND, "not found\n")

    def process_response(self, connection: ServerConnection, request: Request, response: Response) -> None:
        relay = self._routes.get(connection)
        if relay is not None and response.status_code == HTTPStatus.SWITCHING_PROTOCOLS:
            relay.accepted(connection, response)

    async def handle(self, connection: ServerConnection) -> None:
        relay = self._routes.get(connection)
        if relay is not None:
            await relay.handle(connection)

    async def _realtime(self, connection: ServerConnection, request: Request, name: str) -> Response | None:
        """The handshake of a conversation with flow ``name``, on the relay of its current version."""
        slot = self.flows.get(name)
        if slot is None:
            return _text(connection, HTTPStatus.NOT_FOUND, f"no flow {name!r}\n")
        relay = await self.relay_for(slot)
        if relay is None:
            return _text(
                connection, HTTPStatus.CONFLICT, f"{slot.name} does not lint: fix it to talk to it\n"
            )
        self._routes[connection] = relay
        return relay.admit(connection, request)

    def _flows(self, connection: ServerConnection) -> Response:
        flows = []
        for slot in self.flows.values():
            self.relint(slot)
            flows.append(
                {
                    "name": slot.name,
                    "path": str(slot.path),
                    "version": slot.version,
                    "running": slot.relay_version if slot.relay is not None else None,
                    "ok": not any(d.severity is Severity.ERROR for d in slot.findings),
                    "diagnostics": [_diagnostic(d) for d in slot.findings],
                }
            )
        return _body(connection, HTTPStatus.OK, json.dumps({"flows": flows}).encode(), "application/json")

    def _graph(self, connection: ServerConnection, name: str) -> Response:
        from engine.flow.loader import load_flow
        from engine.render.api import RenderError, render_sources, svg_of

        slot = self.flows.get(name)
        if slot is None:
            return _text(connection, HTTPStatus.NOT_FOUND, f"no flow {name!r}\n")
        try:
            svg = svg_of(render_sources(load_flow(slot.path)))
        except (RenderError, ValueError, OSError) as exc:
            return _text(connection, HTTPStatus.UNPROCESSABLE_ENTITY, f"cannot draw {slot.name}: {exc}\n")
        return _body(connection, HTTPStatus.OK, svg, "image/svg+xml")

    def _static(self, connection: ServerConnection, name: str) -> Response:
        path = (STATIC / name).resolve()
        if path.parent != STATIC or not path.is_file() or path.suffix not in TYPES:
            return _text(connection, HTTPStatus.NOT_FOUND, "not found\n")
        return _body(connection, HTTPStatus.OK, path.read_bytes(), TYPES[path.suffix])

    def _is_token(self, credential: str | None) -> bool:
        return credential is not None and hmac.compare_digest(credential.encode(), self.token.encode())

    def _origins(self) -> set[str]:
        port = self.server.sockets[0].getsockname()[1]
        return {f"http://127.0.0.1:{port}", f"http://localhost:{port}"}


def _credential(headers: Headers) -> str | None:
    """The token: ``Authorization: Bearer T``, or a browser's ``openai-insecure-api-key.T`` subprotocol."""
    authorization = headers.get("Authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    for value in headers.get_all("Sec-WebSocket-Protocol"):
        for offered in value.split(","):
            if offered.strip().startswith(SUBPROTOCOL_PREFIX):
                return offered.strip().removeprefix(SUBPROTOCOL_PREFIX)
    return None


def _companion_script(flow: Path) -> Path | None:
    """``scripts/NAME.toml`` beside the flow (the emulator's rules for it), when there is one."""
    candidate = flow.parent / "scripts" / f"{flow.stem}.toml"
    return candidate if candidate.is_file() else None


def _diagnostic(d: Diagnostic) -> dict[str, Any]:
    loc = d.location
    return {
        "code": d.code,
        "severity": str(d.severity),
        "message": d.message,
        "file": loc.file,
        "line": loc.line,
        "col": loc.col,
        "help": d.help,
    }


def _text(connection: ServerConnection, status: HTTPStatus, text: str) -> Response:
    return _body(connection, status, text.encode(), "text/plain; charset=utf-8")


def _body(connection: ServerConnection, status: HTTPStatus, body: bytes, content_type: str) -> Response:
    response = connection.respond(status, "")
    response.body = body
    for name in ("Content-Type", "Content-Length"):
        del response.headers[name]  # respond() set them for its own (empty) text body
    response.headers["Content-Type"] = content_type
    response.headers["Content-Length"] = str(len(body))
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
