"""Relay credentials: the server token, HMAC client secrets (stateless, expiring, bound to a flow and its
trusted context), the Origin allowlist; and the admin endpoint that mints secrets, driven by the openai SDK."""

from __future__ import annotations

import base64
import json
from typing import Any

import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.runtime.admin import AdminServer
from engine.runtime.auth import AuthError, ClientSecrets, Gate, bearer
from engine.session.context import ContextError
from tests.realtime_schema import run

KEY = b"k" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_secret_round_trips_and_expires() -> None:
    clock = Clock()
    minted = ClientSecrets(KEY, clock)
    secret, expires_at = minted.mint("retail", {"caller_phone": "+1555"}, ttl_s=60)
    assert secret.startswith("ek_") and expires_at == 1_000_060
    grant = ClientSecrets(KEY, clock).verify(secret)  # another process with the same key: no shared state
    assert (grant.kind, grant.flow, grant.context) == ("secret", "retail", {"caller_phone": "+1555"})
    clock.now += 60
    with pytest.raises(AuthError, match="expired"):
        minted.verify(secret)


def test_a_forged_or_altered_secret_is_refused() -> None:
    clock = Clock()
    secret, _ = ClientSecrets(KEY, clock).mint("retail", {"caller_phone": "+1555"})
    with pytest.raises(AuthError, match="invalid"):
        ClientSecrets(b"x" * 32, clock).verify(secret)  # another signing key
    payload, signature = secret.removeprefix("ek_").split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["c"]["caller_phone"] = "+1999"  # the client rewrites its own trusted context
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    with pytest.raises(AuthError, match="invalid"):
        ClientSecrets(KEY, clock).verify(f"ek_{forged}.{signature}")
    with pytest.raises(ValueError, match="16 bytes"):
        ClientSecrets(b"short", clock)
    with pytest.raises(AuthError, match="between"):
        ClientSecrets(KEY, clock).mint("retail", {}, ttl_s=9)


@given(st.text(max_size=300))
def test_no_random_text_is_a_valid_secret(text: str) -> None:
    with pytest.raises(AuthError):
        ClientSecrets(KEY, Clock()).verify("ek_" + text)


def test_the_gate_checks_origin_then_credential() -> None:
    clock = Clock()
    minted = ClientSecrets(KEY, clock)
    gate = Gate("server-token", minted, frozenset({"https://app.example"}))
    secret, _ = minted.mint("retail", {"caller_phone": "+1555"})
    assert gate.admit({"Authorization": "Bearer server-token"}, "retail").kind == "token"
    assert gate.admit({"Authorization": f"Bearer {secret}"}, "retail").context == {"caller_phone": "+1555"}
    ok_browser = {"Authorization": f"Bearer {secret}", "Origin": "https://app.example"}
    assert gate.admit(ok_browser, "retail").kind == "secret"
    refusals: list[tuple[dict[str, str], str, int, str]] = [
        ({}, "retail", 401, "missing credential"),
        ({"Authorization": "Basic abc"}, "retail", 401, "missing credential"),
        ({"Authorization": "Bearer server-tokeN"}, "retail", 401, "invalid credential"),
        ({"Authorization": f"Bearer {secret}"}, "billing", 403, "another flow"),
        ({"Authorization": "Bearer server-token", "Origin": "https://evil.example"}, "retail", 403, "origin"),
    ]
    for headers, flow, status, message in refusals:
        with pytest.raises(AuthError, match=message) as info:
            gate.admit(headers, flow)
        assert info.value.status == status
    assert Gate(None, None, open=True).admit({}, "retail").kind == "open"
    with pytest.raises(AuthError, match="origin"):  # --no-auth still refuses a foreign page
        Gate(None, None, open=True).admit({"Origin": "https://evil.example"}, "retail")
    assert bearer({"authorization": "bearer  t "}) == "t"


def _check(context: Any) -> None:
    if set(context) - {"caller_phone"}:
        raise ContextError("initial context key is not declared")


def test_the_openai_sdk_mints_a_secret_on_the_admin_endpoint() -> None:
    clock = Clock()
    minted = ClientSecrets(KEY, clock)

    async def main() -> tuple[Any, list[int]]:
        async with AdminServer(minted, "server-token", "retail", _check) as admin:
            client = openai.AsyncOpenAI(api_key="server-token", base_url=admin.url, max_retries=0)
            created = await client.realtime.client_secrets.create(
                expires_after={"anchor": "created_at", "seconds": 120},
                session={"type": "realtime"},
                extra_body={"context": {"caller_phone": "+1555"}},
            )
            statuses = []
            for api_key, body in (
                ("wrong-token", {}),
                ("server-token", {"context": {"card": "4321"}}),  # not declared by the flow
                ("server-token", {"expires_after": {"seconds": 99999}}),
            ):
                bad = openai.AsyncOpenAI(api_key=api_key, base_url=admin.url, max_retries=0)
                with pytest.raises(openai.APIStatusError) as info:
                    await bad.realtime.client_secrets.create(extra_body=body)
                statuses.append(info.value.status_code)
            return created, statuses

    created, statuses = run(main())
    assert created.expires_at == 1_000_120
    assert minted.verify(created.value).context == {"caller_phone": "+1555"}
    assert statuses == [401, 400, 400]
