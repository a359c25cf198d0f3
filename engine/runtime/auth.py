"""Who may use the relay: a static bearer token, or short-lived client secrets minted the way OpenAI mints them.

* **Server token** (``SWITCHBOARD_TOKEN``): what a trusted server (the phone gateway, your web backend) holds.
  It may connect directly and it authorises minting client secrets.
* **Client secrets** (``ek_…``): minted by ``POST /v1/realtime/client_secrets`` (see :mod:`engine.runtime.admin`)
  for one flow, with an expiry and the *trusted initial context* of that conversation (the caller's number).
  A secret is verified statelessly: its payload is signed with HMAC-SHA256, so every relay process sharing the
  signing key accepts it and nothing is stored. A browser gets a secret from your backend and connects with it
  as its API key (``AsyncOpenAI(api_key=secret, websocket_base_url=...)`` works unchanged).

Every comparison of a secret value is constant-time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.errors import SwitchboardError

SECRET_PREFIX = "ek_"
MIN_TTL_S, MAX_TTL_S, DEFAULT_TTL_S = 10, 7200, 600
"""The bounds OpenAI's own client secrets use (seconds)."""
MAX_SECRET_LENGTH = 8192


class AuthError(SwitchboardError):
    """A credential that does not admit: ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Grant:
    """What an admitted connection may do."""

    kind: Literal["token", "secret", "open"]
    flow: str | None = None
    """The flow a client secret was minted for (``None``: any)."""
    context: dict[str, str] = field(default_factory=dict)
    """Trusted initial context carried by a client secret."""
    expires_at: int | None = None
    subject: str = ""
    """Who holds the credential, as a conversation's owner: ``token``, ``open``, or ``secret:`` and the
    secret's nonce (a conversation started with a client secret resumes only with that secret)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_key_from(token: str) -> bytes:
    """The default signing key, derived from the server token (set ``SWITCHBOARD_SIGNING_KEY`` to separate them)."""
    return hashlib.sha256(b"switchboard client secrets\x00" + token.encode()).digest()


class ClientSecrets:
    """Mints and verifies ``ek_`` secrets: ``ek_<payload>.<hmac>``, both base64url."""

    def __init__(self, key: bytes, clock: Callable[[], float]) -> None:
        if len(key) < 16:
            raise ValueError("the client-secret signing key must be at least 16 bytes")
        self._key, self._clock = key, clock

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def mint(self, flow: str, context: Mapping[str, str], ttl_s: int = DEFAULT_TTL_S) -> tuple[str, int]:
        """A secret for ``flow`` carrying ``context``; returns ``(secret, expires_at)``."""
        if not MIN_TTL_S <= ttl_s <= MAX_TTL_S:
            raise AuthError(f"expires_after.seconds must be between {MIN_TTL_S} and {MAX_TTL_S}", 400)
        expires_at = int(self._clock()) + ttl_s
        body = {"f": flow, "c": dict(context), "e": expires_at, "n": secrets.token_hex(8)}
        payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
        return f"{SECRET_PREFIX}{payload}.{self._sign(payload)}", expires_at

    def verify(self, secret: str) -> Grant:
        """The grant ``secret`` carries; :class:`AuthError` if it is malformed, forged or expired."""
        if len(secret) > MAX_SECRET_LENGTH or not secret.startswith(SECRET_PREFIX) or not secret.isascii():
            raise AuthError("not a client secret")
        payload, dot, signature = secret.removeprefix(SECRET_PREFIX).partition(".")
        if not dot or not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            raise AuthError("invalid client secret")
        try:
            body: Any = json.loads(_unb64(payload))
            flow, context, expires_at, nonce = body["f"], body["c"], body["e"], body.get("n", "")
        except (ValueError, binascii.Error, KeyError, TypeError):
            raise AuthError("invalid client secret") from None
        if not (isinstance(flow, str) and isinstance(context, dict) and isinstance(expires_at, int)):
            raise AuthError("invalid client secret")
        if expires_at <= self._clock():
            raise AuthError("client secret expired")
        context = {str(k): str(v) for k, v in context.items()}
        return Grant("secret", flow, context, expires_at, subject=f"secret:{nonce}")


def is_token(credential: str | None, token: str | None) -> bool:
    """Whether ``credential`` is the server ``token`` (constant-time; no token configured: never)."""
    return (
        credential is not None
        and token is not None
        and hmac.compare_digest(credential.encode(), token.encode())
    )


def bearer(headers: Mapping[str, str]) -> str | None:
    """The credential of an ``Authorization: Bearer …`` header (or ``None``)."""
    value = headers.get("Authorization") or headers.get("authorization")
    if not value:
        return None
    scheme, _, credential = value.partition(" ")
    return credential.strip() or None if scheme.lower() == "bearer" else None


@dataclass(frozen=True)
class Gate:
    """Admits or refuses one handshake: the credential, then the browser's ``Origin``."""

    token: str | None
    client_secrets: ClientSecrets | None
    origins: frozenset[str] = frozenset()
    """Allowed ``Origin`` values; a request without ``Origin`` (not a browser) is not checked."""
    open: bool = False
    """``--no-auth``: no credential needed (the CLI allows it only on a loopback bind)."""

    def admit(self, headers: Mapping[str, str], flow: str) -> Grant:
        origin = headers.get("Origin") or headers.get("origin")
        if origin is not None and origin not in self.origins:
            raise AuthError(f"origin {origin!r} is not allowed", 403)
        if self.open:
            return Grant("open", subject="open")
        credential = bearer(headers)
        if credential is None:
            raise AuthError("missing credential: send Authorization: Bearer <token or client secret>")
        if is_token(credential, self.token):
            return Grant("token", subject="token")
        if self.client_secrets is not None and credential.startswith(SECRET_PREFIX):
            grant = self.client_secrets.verify(credential)
            if grant.flow != flow:
                raise AuthError("this client secret was minted for another flow", 403)
            return grant
        raise AuthError("invalid credential")
