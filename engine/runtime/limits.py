"""The relay's limits on what one client may cost, and the process's descriptor limit."""

from __future__ import annotations

import resource
from dataclasses import dataclass


@dataclass(frozen=True)
class RelayLimits:
    """What one client may cost the relay; ``serve`` flags set each."""

    max_frame: int = 1024 * 1024
    """The largest websocket frame a client may send (bytes); a bigger one closes it with 1009."""
    max_conversations: int = 256
    """Live conversations at once; the next handshake gets HTTP 503."""
    write_limit: int = 256 * 1024
    """The per-connection send buffer (bytes) above which sending to a client waits."""
    send_timeout_s: float = 10.0
    """How long a send may wait on a full buffer before the client is cut off as a slow reader."""
    idle_timeout_s: float | None = 600.0
    """A client silent this long is closed (``None``: never)."""


def raise_open_files_limit() -> tuple[int, int]:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit (each conversation holds two sockets); return
    ``(soft, hard)`` as they stand afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):  # a container may refuse: keep what we have
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)
