"""A Switchboard flow served inside your own FastAPI app: the relay at ``/v1/realtime``, next to your routes.

    pip install 'switchboard' fastapi uvicorn
    SWITCHBOARD_TOKEN=... OPENAI_API_KEY=... uvicorn examples.fastapi_app:app --port 8000

Clients connect exactly as to ``switchboard serve`` (``AsyncOpenAI(api_key=TOKEN_OR_EK_SECRET,
websocket_base_url="ws://HOST:8000/v1")``); the relay admits them the same way (the token, client secrets,
origins, the resume id), keeps conversations in the store, and drains on shutdown (the app's lifespan).
Environment: ``SWITCHBOARD_FLOW`` (default ``flows/retail.toml``), ``SWITCHBOARD_UPSTREAM`` (default OpenAI),
``SWITCHBOARD_TOKEN``, ``SWITCHBOARD_STORE`` (default ``sqlite:switchboard.db``).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, WebSocket

from engine.compile.pipeline import compile_flow
from engine.runtime.auth import ClientSecrets, Gate, signing_key_from
from engine.runtime.client import OPENAI_URL
from engine.runtime.relay import Relay
from engine.session.audit import CountingSink
from engine.store import open_store


def create_app(flow: str, upstream: str, token: str, store: str = "memory:") -> FastAPI:
    """The app: ``GET /health`` (yours) and the relay's websocket at ``/v1/realtime``."""
    secrets = ClientSecrets(signing_key_from(token), time.time)
    relay = Relay(
        compile_flow(flow),
        upstream,
        audit=CountingSink(),
        gate=Gate(token, secrets),
        store=open_store(store),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await relay.shutdown(drain_s=5.0)  # clients told, in-flight responses finished, end records written
        await relay.store.close() if relay.store is not None else None

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, int]:
        return {"conversations": len(relay.active)}

    @app.websocket("/v1/realtime")
    async def realtime(websocket: WebSocket) -> None:
        await relay.asgi(websocket.scope, websocket.receive, websocket.send)

    return app


def from_environment() -> FastAPI:
    return create_app(
        os.environ.get("SWITCHBOARD_FLOW", "flows/retail.toml"),
        os.environ.get("SWITCHBOARD_UPSTREAM", OPENAI_URL),
        os.environ["SWITCHBOARD_TOKEN"],
        os.environ.get("SWITCHBOARD_STORE", "sqlite:switchboard.db"),
    )


if os.environ.get("SWITCHBOARD_TOKEN"):
    app = from_environment()
