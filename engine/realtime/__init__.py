"""Layer 5: thin asyncio I/O over ``websockets``: the upstream client, the local emulator, the relay, the
conversation driver that runs the session core, flow tools and supervisor backends."""
