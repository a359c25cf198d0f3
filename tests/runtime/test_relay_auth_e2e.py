"""Authentication of a real `switchboard serve` process: no credential is a 401, a foreign Origin a 403; the
openai SDK mints a client secret on the admin port with the server token, then connects with the secret as
its API key, and the trusted initial context the secret carries opens an agent that requires it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from engine.cli import EXIT_USAGE, main
from tests.realtime_schema import run

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "server-token-0123456789abcdef"

FLOW = """
[flow]
name = "desk"
entry = "front"
recovery = "help"
initial_context = ["caller_phone"]

[agents.front]
handoffs = ["billing"]

[agents.billing]
requires = ["caller_phone"]
terminal = true

[agents.help]
terminal = true
"""

SCRIPT = """
[[rule]]
agent = "front"
user = "bill"
call = "transfer_to_billing"
arguments = { reason = "billing" }
[[rule]]
agent = "billing"
after = "transfer_to_billing"
say = "Billing here."
[[rule]]
agent = "front"
say = "Front desk."
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A `serve` subprocess with a server token and an admin port: ``(relay url, admin url)``."""
    (tmp_path / "desk.toml").write_text(FLOW, encoding="utf-8")
    (tmp_path / "script.toml").write_text(SCRIPT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SWITCHBOARD_TOKEN": TOKEN}
    env.pop("SWITCHBOARD_SIGNING_KEY", None)
    command = [sys.executable, "-m", "engine.cli", "serve", str(tmp_path / "desk.toml"), "--port", "0"]
    command += ["--script", str(tmp_path / "script.toml"), "--admin-port", "0"]
    command += ["--allow-origin", "https://app.example"]
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        admin = relay = ""
        assert proc.stdout is not None
        for line in proc.stdout:
            text = line.decode()
            if text.startswith("client secrets: POST "):
                admin = text.split()[-1].removesuffix("/realtime/client_secrets")
            if text.startswith("clients connect to "):
                relay = text.split()[-1]
                break
        assert relay and admin, f"serve did not start: {proc.poll()} {proc.stderr and proc.stderr.read()!r}"
        yield relay, admin
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_handshakes_without_a_good_credential_or_from_a_foreign_origin_are_refused(
    served: tuple[str, str],
) -> None:
    relay, _ = served

    async def status(headers: dict[str, str]) -> int:
        with pytest.raises(InvalidStatus) as info:
            async with connect(relay, additional_headers=headers):
                pass
        return info.value.response.status_code

    async def main() -> list[int]:
        return [
            await status({}),
            await status({"Authorization": "Bearer not-the-token"}),
            await status({"Authorization": "Bearer ek_forged.signature"}),
            await status({"Authorization": f"Bearer {TOKEN}", "Origin": "https://evil.example"}),
        ]

    assert run(main()) == [401, 401, 401, 403]


def test_the_sdk_mints_a_secret_and_connects_with_it_carrying_trusted_context(
    served: tuple[str, str],
) -> None:
    relay, admin = served

    async def main() -> tuple[str, str]:
        server = openai.AsyncOpenAI(api_key=TOKEN, base_url=admin, max_retries=0)
        secret = await server.realtime.client_secrets.create(
            expires_after={"anchor": "created_at", "seconds": 60},
            extra_body={"context": {"caller_phone": "+15550100"}},
        )
        browser = openai.AsyncOpenAI(api_key=secret.value, websocket_base_url=relay.removesuffix("/realtime"))
        texts = []
        async with browser.realtime.connect(model="gpt-realtime") as conn:
            for said in ("hello", "bill me"):
                await conn.conversation.item.create(
                    item={
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": said}],
                    }
                )
                await conn.response.create()
                async for event in conn:
                    assert event.type != "error", event
                    if event.type == "response.output_text.done":
                        texts.append(event.text)
                    if (
                        event.type == "response.done"
                        and texts
                        and len(texts) == (1 if said == "hello" else 2)
                    ):
                        break
        return texts[0], texts[-1]

    first, last = run(main())
    assert (first, last) == ("Front desk.", "Billing here.")  # billing requires the secret's caller_phone


def test_no_auth_is_refused_off_loopback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "desk.toml").write_text(FLOW, encoding="utf-8")
    argv = [
        "serve",
        str(tmp_path / "desk.toml"),
        "--no-auth",
        "--host",
        "0.0.0.0",
        "--context",
        "caller_phone=1",
    ]
    assert main(argv) == EXIT_USAGE
    assert "only on a loopback --host" in capsys.readouterr().err
