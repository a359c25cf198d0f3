"""Confined reads of the files a flow refers to (prompts, scripts): inside the flow's folder, bounded, UTF-8.

A flow names companion files by relative path.  :func:`read_confined` is the one way to read them: it never
leaves the flow's folder (absolute paths, ``..`` and symlinks pointing out are refused), never reads what is
not a regular file (a FIFO would block forever, ``/dev/zero`` never ends) and never reads more than
``max_bytes + 1`` bytes, whatever ``stat`` reports (``/proc`` files report size 0).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MIB = 1024 * 1024
BOM = b"\xef\xbb\xbf"

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symlink loop"),  # what is left of a path after realpath when the links go round
)


class ConfinedFileError(ValueError):
    """A file a flow refers to that may not or cannot be read; ``reason`` completes "cannot read 'x': "."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_confined(ref: str, root: Path, *, max_bytes: int = MIB) -> str:
    """The text of the file ``ref`` (relative to ``root``), a leading UTF-8 BOM stripped.

    Raises :class:`ConfinedFileError` unless the real path (symlinks resolved) lies inside ``root``'s real
    path, is a regular file of at most ``max_bytes`` bytes and is UTF-8.  Cost: one ``realpath``, two
    ``stat`` calls and one bounded read; it never blocks (FIFOs and devices are refused before opening).
    """
    if "\0" in ref:
        raise ConfinedFileError("not a valid path (it contains a NUL character)")
    if Path(ref).is_absolute():
        raise ConfinedFileError("outside the flow's folder (an absolute path)")
    base = Path(os.path.realpath(root))
    real = Path(os.path.realpath(base / ref))
    if not real.is_relative_to(base):
        escape = "through a symlink" if _lexically_inside(ref) else "through '..'"
        raise ConfinedFileError(f"outside the flow's folder ({escape})")
    try:
        info = os.lstat(real)
        _require_regular(info.st_mode)
        _require_size(info.st_size, max_bytes)
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfinedFileError(_os_reason(exc)) from None
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            raise ConfinedFileError("changed while being read")
        _require_regular(opened.st_mode)
        data = _read_at_most(fd, max_bytes + 1)
    except OSError as exc:
        raise ConfinedFileError(_os_reason(exc)) from None
    finally:
        os.close(fd)
    _require_size(len(data), max_bytes, exact=False)
    return _decode(data)


def format_size(n: int) -> str:
    """``512`` -> ``"512 bytes"``, ``1048576`` -> ``"1 MiB"``, ``3355443`` -> ``"3.2 MiB"``."""
    if n < 1024:
        return f"{n} byte{'s' * (n != 1)}"
    value, unit = (n / MIB, "MiB") if n >= MIB else (n / 1024, "KiB")
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


def _lexically_inside(ref: str) -> bool:
    """Whether ``ref``'s own ``..`` parts stay inside (so an escape must come from a symlink)."""
    depth = 0
    for part in Path(ref).parts:
        depth += -1 if part == ".." else 1
        if depth < 0:
            return False
    return True


def _require_regular(mode: int) -> None:
    for test, kind in _KINDS:
        if test(mode):
            raise ConfinedFileError(f"not a regular file ({kind})")
    if not stat.S_ISREG(mode):
        raise ConfinedFileError("not a regular file")


def _require_size(size: int, max_bytes: int, *, exact: bool = True) -> None:
    if size > max_bytes:
        actual = f" ({format_size(size)})" if exact else ""
        raise ConfinedFileError(f"larger than {format_size(max_bytes)}{actual}")


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit
    while left > 0 and (chunk := os.read(fd, min(left, MIB))):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _decode(data: bytes) -> str:
    skip = len(BOM) if data.startswith(BOM) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = skip + exc.start
        raise ConfinedFileError(f"not UTF-8 (byte 0x{data[at]:02x} at offset {at})") from None


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return "no such file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return (exc.strerror or str(exc)).lower()
