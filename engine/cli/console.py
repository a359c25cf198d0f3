"""The CLI's consoles, exit codes and version: shared by every command."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from rich.console import Console

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
"""0 clean, 1 findings (or a failed run), 2 usage error or unreadable input."""

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def package_version() -> str:
    try:
        return version("switchboard")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"
