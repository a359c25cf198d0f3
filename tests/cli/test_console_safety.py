"""Console safety: bounded, escaped transcript lines, written by a thread that drops (and counts) when behind."""

from __future__ import annotations

import os
import threading

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from engine.cli.transcript import LINE_LIMIT, TranscriptPrinter, printable
from engine.cli.writer import QueuedConsole
from engine.session.actions import Transcript


@given(st.text(alphabet=st.characters(codec=None), max_size=2000))
def test_a_printable_line_is_bounded_and_encodes_as_utf8(text: str) -> None:
    line = printable(text)
    line.encode("utf-8")  # no lone surrogate survives
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in line)
    assert len(line) <= LINE_LIMIT * 6 + 32  # each kept character is at most a 6-character escape


def test_a_lone_surrogate_does_not_break_a_real_utf8_console_for_later_lines(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "out.txt")
    with open(path, "w", encoding="utf-8") as file:
        printer = TranscriptPrinter(Console(file=file, highlight=False, soft_wrap=True))
        printer(Transcript("user", "front", "a\ud800b"))
        printer(Transcript("assistant", "front", "later line"))
    text = open(path, encoding="utf-8").read()
    assert "a\\ud800b" in text and "later line" in text and printer.failures == 0


def test_a_full_queue_drops_lines_counts_them_and_never_blocks_the_caller() -> None:
    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "w", encoding="utf-8")
    console = QueuedConsole(Console(file=stream, highlight=False, soft_wrap=True, width=200), maxsize=8)
    console.print("x" * 200_000)  # fills the pipe (64 KiB): the writer thread blocks in it
    for i in range(500):  # the caller never blocks: whatever does not fit is dropped
        console.print(f"line {i}")
    assert console.dropped >= 500 - 8
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(read_end, 65536), b"")))
    reader.start()
    console.close()
    stream.close()
    reader.join()
    text = b"".join(chunks).decode()
    assert f"{console.dropped} transcript line(s) dropped" in text
    assert text.count("\nline ") + text.startswith("line ") == 500 - console.dropped
