"""Drive ``switchboard playground`` in a real headless Chromium (Playwright, Debian's ``chromium``).

Used by the browser tests (``tests/playground``), by ``make screenshots`` (the pictures in docs/) and by
``tools/bench_playground.py``. A script's turns are typed into the page one by one, each waiting for the
reply's transcript line.

    python tools/playground_drive.py --screenshots      # docs/playground-retail.png, docs/playground-chat-supervisor.png
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1500, "height": 920}


def chromium() -> str:
    """Debian's Chromium (``make install`` and ``.ci/run`` install the package ``chromium``)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError("Chromium is not installed: run `make install` (Debian package chromium)")
    return path


FAKE_MICROPHONE = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
"""Chromium's test microphone (a tone), granted without a prompt."""


@asynccontextmanager
async def browser_page(*, microphone: bool = False) -> AsyncIterator[Any]:
    """A fresh page in a headless Chromium (its errors raised in the test, not swallowed)."""
    from playwright.async_api import async_playwright

    args = CHROMIUM_ARGS + (FAKE_MICROPHONE if microphone else [])
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium(), args=args)
        try:
            page = await browser.new_page(viewport=VIEWPORT)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.errors = errors
            yield page
        finally:
            await browser.close()


def script_turns(script: Path) -> list[str]:
    return [turn["user"] for turn in tomllib.loads(script.read_text(encoding="utf-8"))["turn"]]


async def open_playground(page: Any, url: str) -> None:
    await page.goto(url)
    await page.wait_for_selector(".status.live")


async def say(page: Any, text: str, timeout_ms: float = 20_000) -> float:
    """Type ``text``, press Enter; the seconds until the reply's transcript line shows."""
    before = await page.locator(".msg.assistant").count()
    await page.fill("#text", text)
    started = time.perf_counter()
    await page.press("#text", "Enter")
    await page.wait_for_function(
        f"document.querySelectorAll('.msg.assistant').length > {before}", timeout=timeout_ms
    )
    return time.perf_counter() - started


async def screenshots() -> list[Path]:
    sys.path.insert(0, str(ROOT))
    from engine.playground.server import Playground

    written = []
    for name in ("retail", "chat_supervisor"):
        flow = ROOT / "flows" / f"{name}.toml"
        async with Playground(flow) as playground, browser_page() as page:
            await open_playground(page, playground.page_url)
            for text in script_turns(ROOT / "flows" / "scripts" / f"{name}.toml"):
                await say(page, text)
            tool = page.locator("details.tool").last
            if await tool.count():
                await tool.locator("summary").click()  # show a tool call opened, with its arguments
            await page.eval_on_selector("#transcript", "t => { t.scrollTop = t.scrollHeight; }")
            out = ROOT / "docs" / f"playground-{name.replace('_', '-')}.png"
            await page.screenshot(path=str(out))
            written.append(out)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshots", action="store_true", help="write the pictures in docs/")
    args = parser.parse_args()
    if args.screenshots:
        for path in asyncio.run(screenshots()):
            print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
