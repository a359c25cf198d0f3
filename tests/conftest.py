"""Generic test helpers: parse flow text, find where a snippet stands in it; a real ``redis-server``."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable, Iterator

import pytest
from hypothesis import settings

from engine.flow.loader import FlowDocument, parse_flow

pytest_plugins = ("pytester",)

# Properties are about correctness, not speed: no per-example deadline (a busy CI machine is not a bug).
settings.register_profile("switchboard", deadline=None, print_blob=True)
settings.load_profile("switchboard")


def _parse_toml(text: str, file: str = "flow.toml") -> FlowDocument:
    return parse_flow(textwrap.dedent(text), file, "toml")


def _position_of(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based ``(line, col)`` of the ``nth`` occurrence of ``needle`` in the dedented ``text``."""
    text = textwrap.dedent(text)
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    return text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1


@pytest.fixture(scope="session")
def parse_toml() -> Callable[..., FlowDocument]:
    """``parse_toml(text, file="flow.toml")``: a dedented TOML flow, parsed with source positions."""
    return _parse_toml


@pytest.fixture(scope="session")
def position_of() -> Callable[..., tuple[int, int]]:
    """``position_of(text, needle, nth=0)``: where a snippet stands in (dedented) flow text."""
    return _position_of


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:PORT/0`` of a ``redis-server`` this session started (``make install`` and
    ``.ci/run`` install the Debian package ``redis-server``)."""
    from tools.fault_resume import start_redis

    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: run `make install` (Debian package redis-server)")
    try:
        process, url = start_redis(tmp_path_factory.mktemp("redis"))
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
