"""``switchboard playground``: serve the page and the relay on loopback until Ctrl-C."""

from __future__ import annotations

import argparse

from engine.cli.console import EXIT_OK, EXIT_USAGE, err, out


def cmd_playground(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from engine.playground.server import Playground

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        playground = Playground(args.target, script=args.script, upstream=args.upstream, port=args.port)
        async with playground:
            names = ", ".join(playground.flows)
            out.print(f"switchboard playground for {names}", markup=False)
            out.print(f"open {playground.page_url}", markup=False)
            await stop.wait()

    try:
        asyncio.run(serve())
    except (OSError, ValueError) as exc:
        err.print(f"switchboard playground: {exc}", markup=False)
        return EXIT_USAGE
    return EXIT_OK
