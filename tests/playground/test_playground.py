"""The playground in a real headless Chromium: the retail and chat-supervisor scripts typed into the page; what
the transcript, the live graph, the context and the event log then show; a reload after a flow file changes;
and that nothing without the run's token gets in."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from engine.playground.server import Playground
from tests.realtime_schema import run
from tools.playground_drive import browser_page, open_playground, say, script_turns

ROOT = Path(__file__).resolve().parents[2]


def test_the_retail_script_in_the_page(tmp_path: Path) -> None:
    async def main() -> dict[str, object]:
        async with Playground(ROOT / "flows" / "retail.toml") as playground, browser_page() as page:
            await open_playground(page, playground.page_url)
            for text in script_turns(ROOT / "flows" / "scripts" / "retail.toml"):
                await say(page, text)
            tool = page.locator('details.tool[data-tool="lookup_orders"]').first
            await tool.locator("summary").click()
            shown = {
                "agents": await page.locator(".msg.assistant .who").all_inner_texts(),
                "badges": await page.locator(".hop .badge").all_inner_texts(),
                "current": await page.locator("#graph g.node.sb-current title").evaluate_all(
                    "titles => titles.map(t => t.textContent)"
                ),
                "tool_open": await tool.get_attribute("open"),
                "tool_text": await tool.inner_text(),
                "log_types": await page.locator("#log details").evaluate_all(
                    "rows => rows.map(r => r.dataset.type)"
                ),
                "counted": await page.locator("#graph text.sb-count").count(),
                "context": await page.locator("#context").inner_text(),
                "errors": list(page.errors),
            }
            return shown

    shown = run(main(), timeout=120)
    assert {"authentication", "returns", "sales", "simulated_human", "generalist"} <= set(shown["agents"])  # type: ignore[arg-type]
    assert "refused" in shown["badges"] and "capped" in shown["badges"]  # type: ignore[operator]
    assert shown["current"] == ["generalist"]  # the agent that answered last
    assert (
        shown["tool_open"] is not None
        and "arguments" in str(shown["tool_text"])
        and "phoneNumber" in str(shown["tool_text"])
    )
    assert "session.update" in shown["log_types"] and "response.done" in shown["log_types"]  # type: ignore[operator]
    assert shown["counted"] >= 3  # edges count this session's traffic
    assert shown["errors"] == []


def test_the_chat_supervisor_script_in_the_page() -> None:
    async def main() -> tuple[list[str], list[str], str]:
        async with Playground(ROOT / "flows" / "chat_supervisor.toml") as playground, browser_page() as page:
            await open_playground(page, playground.page_url)
            for text in script_turns(ROOT / "flows" / "scripts" / "chat_supervisor.toml"):
                await say(page, text)
            await page.wait_for_selector("details.escalation .answer")
            badges = await page.locator("details.escalation .badge").all_inner_texts()
            answers = await page.locator("details.escalation .answer").all_inner_texts()
            return badges, answers, await page.locator("#transcript").inner_text()

    badges, answers, transcript = run(main(), timeout=120)
    assert badges == ["answered", "answered"]
    assert any("42.17" in a for a in answers)  # the supervisor's answer, shown with its escalation
    assert "chat_agent" in transcript


def test_a_changed_flow_shows_its_lint_result_and_restarts_on_the_new_version(tmp_path: Path) -> None:
    flow = copy_retail(tmp_path / "flows")
    folder = flow.parent
    text = flow.read_text()

    async def main() -> tuple[str, bool, bool, str]:
        async with Playground(folder) as playground, browser_page() as page:
            await open_playground(page, playground.page_url)
            (folder / "retail.toml").write_text(
                text.replace('entry = "authentication"', 'entry = "authenticaton"')
            )
            await page.wait_for_selector("#banner:not([hidden])")
            broken = await page.locator("#banner").inner_text()
            disabled = await page.locator("#restart").is_disabled()
            (folder / "retail.toml").write_text(text + "\n# reworded\n")
            await page.wait_for_function("!document.querySelector('#restart').disabled")
            await page.click("#restart")
            await page.wait_for_selector(".status.live")
            answer = await say(page, "Hi, I'd like to return my snowboard.") > 0
            return broken, disabled, answer, await page.locator("#transcript").inner_text()

    broken, disabled, answered, transcript = run(main(), timeout=120)
    assert "SB" in broken and "authenticaton" in broken and ":" in broken  # code, the name, its position
    assert disabled
    assert answered and "authentication" in transcript


def copy_retail(folder: Path, edit: str = "") -> Path:
    """The retail flow (with ``edit`` after its ``[flow]`` line), its prompts and script, in ``folder``."""
    (folder / "scripts").mkdir(parents=True)
    shutil.copytree(ROOT / "flows" / "prompts", folder / "prompts")
    shutil.copy(ROOT / "flows" / "scripts" / "retail.toml", folder / "scripts" / "retail.toml")
    text = (ROOT / "flows" / "retail.toml").read_text().replace("[flow]\n", f"[flow]\n{edit}", 1)
    (folder / "retail.toml").write_text(text)
    return folder / "retail.toml"


def test_sensitive_values_are_masked_in_the_page(tmp_path: Path) -> None:
    flow = copy_retail(tmp_path / "flows", 'sensitive = ["last_4_digits", "date_of_birth"]\n')

    async def main() -> tuple[str, str]:
        async with Playground(flow) as playground, browser_page() as page:
            await open_playground(page, playground.page_url)
            for text in script_turns(flow.parent / "scripts" / "retail.toml")[:3]:
                await say(page, text)
            tool = page.locator('details.tool[data-tool="authenticate_user_information"]').first
            await tool.locator("summary").click()
            log = await page.locator(
                "#log details[data-type='switchboard.audit'], #log details[data-type='switchboard.context']"
            ).evaluate_all("rows => rows.map(r => r.dataset.json).join()")
            return await tool.inner_text(), log

    tool, narrated = run(main(), timeout=120)
    assert '"last_4_digits": "***"' in tool and '"date_of_birth": "***"' in tool
    assert "phone_number" in tool  # not declared sensitive: shown
    assert "1988-10-12" not in narrated and "4321" not in narrated  # no audit record or context shows them


def test_push_to_talk_streams_pcm16_from_the_microphone_and_commits_on_release() -> None:
    """Chromium's test microphone: holding the button appends 24 kHz PCM16 audio, releasing commits it and asks
    for a response, which the (audio) emulator answers."""

    async def main() -> tuple[int, list[str], int]:
        async with (
            Playground(ROOT / "flows" / "simple_handoff.toml") as playground,
            browser_page(microphone=True) as page,
        ):
            await open_playground(page, playground.page_url)
            await page.check("#voice")  # audio out: a new conversation asking for audio
            await page.wait_for_selector(".status.live")
            await page.locator("#talk").dispatch_event("pointerdown")
            await page.wait_for_function(
                "document.querySelectorAll('#log details[data-type=\"input_audio_buffer.append\"]').length >= 3"
            )
            await page.locator("#talk").dispatch_event("pointerup")
            await page.wait_for_selector('#log details[data-type="response.done"]')
            appends = page.locator('#log details[data-type="input_audio_buffer.append"]')
            first = json.loads(await appends.first.get_attribute("data-json") or "{}")
            sizes = len(base64.b64decode(first["audio"]))
            types = await page.locator("#log details").evaluate_all("rows => rows.map(r => r.dataset.type)")
            return sizes, types, len(page.errors)

    size, types, errors = run(main(), timeout=120)
    assert size == 4096 * 2  # one ScriptProcessor buffer of 16-bit samples
    assert "input_audio_buffer.committed" in types and "response.created" in types
    assert types.index("input_audio_buffer.commit") > types.index("input_audio_buffer.append")
    assert errors == 0


def test_nothing_without_the_run_s_token_gets_in() -> None:
    async def main() -> list[int]:
        async with Playground(ROOT / "flows" / "retail.toml") as playground:
            base = playground.url
            http = base.replace("ws://", "http://").removesuffix("/v1/realtime")
            statuses = []
            for url, headers in [
                (f"{base}?flow=retail", {}),  # no token
                (f"{base}?flow=retail", {"Authorization": "Bearer wrong"}),
                (
                    f"{base}?flow=retail",
                    {"Authorization": f"Bearer {playground.token}", "Origin": "https://evil.example"},
                ),
            ]:
                with pytest.raises(InvalidStatus) as refused:
                    await connect(url, additional_headers=headers)
                statuses.append(refused.value.response.status_code)
            import urllib.request

            def status(path: str) -> int:
                try:
                    with urllib.request.urlopen(http + path, timeout=10) as response:
                        return int(response.status)
                except urllib.error.HTTPError as exc:
                    return exc.code

            for path in ("/", "/?token=wrong", "/api/flows"):
                statuses.append(await asyncio.to_thread(status, path))  # the server runs on this loop
            headers = {"Authorization": f"Bearer {playground.token}"}
            async with connect(f"{base}?flow=retail", additional_headers=headers) as ws:
                first = json.loads(await ws.recv())
            statuses.append(200 if first["type"] == "session.created" else 0)
            return statuses

    assert run(main()) == [401, 401, 403, 401, 401, 401, 200]
