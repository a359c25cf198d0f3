"""The shared websocket server and wire helpers: one-line logs, lone surrogates refused at decode."""

from __future__ import annotations

import logging

import pytest

from engine.wire.protocol import ProtocolError, decode
from engine.wire.server import OneLineLog


def test_an_exception_is_logged_as_one_line_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    log = OneLineLog(logging.getLogger("switchboard.test"))
    with caplog.at_level(logging.ERROR, logger="switchboard.test"):
        try:
            try:
                raise EOFError("stream ends")
            except EOFError as inner:
                raise ValueError("did not receive a valid HTTP request") from inner
        except ValueError:
            log.error("opening handshake failed", exc_info=True)
    (record,) = caplog.records
    assert record.exc_info is None
    assert record.getMessage() == (
        "opening handshake failed: ValueError: did not receive a valid HTTP request (EOFError: stream ends)"
    )


@pytest.mark.parametrize("text", ["a\\ud800b", "\\udfff", "x\\ud83d"])
def test_a_lone_surrogate_escape_is_a_protocol_error(text: str) -> None:
    with pytest.raises(ProtocolError, match="lone surrogate") as bad:
        decode('{"type":"x","t":"' + text + '"}')
    assert bad.value.code == "invalid_json"


def test_a_surrogate_pair_escape_decodes() -> None:
    assert decode('{"type":"x","t":"\\ud83d\\ude00"}')["t"] == "\U0001f600"
