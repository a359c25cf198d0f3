"""The playground's own latency: from the page's text submit to the reply's first transcript line, next to
the same turn through the ``openai`` SDK client against the same relay and emulator, in the same run.

    python tools/bench_playground.py [--turns 40] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchlib import machine_line, table, write_section  # noqa: E402
from playground_drive import browser_page, open_playground, say  # noqa: E402

from engine.playground.server import Playground  # noqa: E402

TEXT = "What's on sale right now?"


async def sdk_turns(url: str, token: str, n: int) -> list[float]:
    """Seconds from sending the turn to its ``response.output_text.done``, through the openai SDK."""
    import openai

    client = openai.AsyncOpenAI(api_key=token, websocket_base_url=url.removesuffix("/realtime"))
    samples = []
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": TEXT}]}
    async with client.realtime.connect(model="gpt-realtime", extra_query={"flow": "retail"}) as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        for _ in range(n):
            started = time.perf_counter()
            await conn.conversation.item.create(item=item)  # type: ignore[arg-type]
            await conn.response.create()
            async for event in conn:
                if event.type == "response.output_text.done":
                    samples.append(time.perf_counter() - started)
                if event.type == "response.done":
                    break
    return samples


async def bench(n: int) -> tuple[list[float], list[float]]:
    async with Playground(ROOT / "flows" / "retail.toml") as playground, browser_page() as page:
        await open_playground(page, playground.page_url)
        await say(page, TEXT)  # warm-up
        await page.evaluate("performance.clearMeasures('sb-reply')")
        for _ in range(n):
            await say(page, TEXT)
        page_samples = [
            ms / 1000
            for ms in await page.evaluate("performance.getEntriesByName('sb-reply').map(m => m.duration)")
        ]
        sdk_samples = await sdk_turns(playground.url, playground.token, n)
    return page_samples, sdk_samples


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    page, sdk = asyncio.run(bench(args.turns))
    rows = [
        [
            "`openai` SDK client, send to `response.output_text.done` (baseline)",
            ms(statistics.median(sdk)),
            ms(max(sdk)),
            "1.00x",
        ],
        [
            "the page: text submit to the reply's transcript line (headless Chromium)",
            ms(statistics.median(page)),
            ms(max(page)),
            f"{statistics.median(page) / statistics.median(sdk):.2f}x",
        ],
    ]
    body = "\n".join(
        [
            "## Playground (`tools/bench_playground.py`)",
            "",
            f"{machine_line()}. The retail flow in `switchboard playground` with its embedded emulator, "
            f"{args.turns} turns of one message each way; the page measured in the page itself "
            "(`performance.measure` from the submit to the reply's transcript line).",
            "",
            table(["path", "p50 ms", "max ms", "vs SDK"], rows),
        ]
    )
    print(body)
    if args.write:
        write_section("playground", body)


if __name__ == "__main__":
    main()
