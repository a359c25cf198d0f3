"""Bounded reads of the files Switchboard is given or a flow names: regular files only, capped, UTF-8.

:func:`read_confined` is the one way every document and companion file is read.  With a ``root`` (the
flow's folder) the path is a reference *from a flow* (``instructions_file``, the supervisor's ``script``):
it never leaves that folder (absolute paths, ``..`` and symlinks pointing out are refused).  Without one it
is a path the user named (a flow or script on the command line) and symlinks are followed.  Either way it
never reads what is not a regular file (a FIFO would block forever, ``/dev/zero`` never ends), never reads
more than ``max_bytes + 1`` bytes whatever ``stat`` reports (``/proc`` files report size 0), and strips a
leading UTF-8 BOM.
"""

from __future__ import annotations

import os
import stat
from enum import StrEnum
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


class FileProblem(StrEnum):
    """Why a file was not read: the first four are refusals (rule SB005), the last two plain failures."""

    OUTSIDE = "outside"
    """Outside the flow's folder: an absolute path, ``..`` or a symlink that leads out."""
    SPECIAL = "special"
    """Not a regular file: a directory, FIFO, device, socket or symlink loop."""
    SIZE = "size"
    """Larger than the cap."""
    ENCODING = "encoding"
    """Not UTF-8."""
    MISSING = "missing"
    """No such file."""
    UNREADABLE = "unreadable"
    """Permission denied, or another error of the operating system."""

    @property
    def refused(self) -> bool:
        """Whether the file exists but may not be used (rather than cannot be found or opened)."""
        return self not in (FileProblem.MISSING, FileProblem.UNREADABLE)


class ConfinedFileError(ValueError):
    """A file that may not or cannot be read; ``reason`` completes "cannot read 'x': ", ``kind`` says why."""

    def __init__(self, reason: str, kind: FileProblem) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def read_confined(ref: str | Path, root: Path | None, *, max_bytes: int = MIB) -> str:
    """The text of the file ``ref`` (relative to ``root``; ``None``: a path as given), a leading BOM stripped.

    Raises :class:`ConfinedFileError` unless the file is a regular file of at most ``max_bytes`` bytes, in
    UTF-8, and (with a ``root``) its real path (symlinks resolved) lies inside ``root``'s real path.  Cost:
    one ``realpath``, two ``stat`` calls and one bounded read; it never blocks (FIFOs and devices are refused
    before opening, and the open is non-blocking in case one is swapped in).
    """
    if "\0" in str(ref):
        raise ConfinedFileError("not a valid path (it contains a NUL character)", FileProblem.UNREADABLE)
    target = Path(ref) if root is None else _inside(str(ref), root)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        info = os.stat(target) if root is None else os.lstat(target)
        _require_regular(info.st_mode)
        _require_size(info.st_size, max_bytes)
        fd = os.open(target, flags if root is None else flags | os.O_NOFOLLOW)
    except OSError as exc:
        raise _os_error(exc) from None
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            raise ConfinedFileError("changed while being read", FileProblem.UNREADABLE)
        _require_regular(opened.st_mode)
        data = _read_at_most(fd, max_bytes + 1)
    except OSError as exc:
        raise _os_error(exc) from None
    finally:
        os.close(fd)
    _require_size(len(data), max_bytes, exact=False)
    return _decode(data)


def format_size(n: int) -> str:
    """``512`` -> ``"512 bytes"``, ``1048576`` -> ``"1 MiB"``, ``3355443`` -> ``"3.2 MiB"``."""
    if n < 1024:
        return f"{n} byte{'s' * (n != 1)}"
    scale, unit = next(
        (1024**k, u) for k, u in ((4, "TiB"), (3, "GiB"), (2, "MiB"), (1, "KiB")) if n >= 1024**k
    )
    return f"{n / scale:.1f}".removesuffix(".0") + f" {unit}"


def _inside(ref: str, root: Path) -> Path:
    """The real path of ``ref`` under ``root``; :class:`ConfinedFileError` when it is not inside."""
    if Path(ref).is_absolute():
        raise ConfinedFileError("outside the flow's folder (an absolute path)", FileProblem.OUTSIDE)
    base = Path(os.path.realpath(root))
    real = Path(os.path.realpath(base / ref))
    if not real.is_relative_to(base):
        escape = "through a symlink" if _lexically_inside(ref) else "through '..'"
        raise ConfinedFileError(f"outside the flow's folder ({escape})", FileProblem.OUTSIDE)
    return real


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
            raise ConfinedFileError(f"not a regular file ({kind})", FileProblem.SPECIAL)
    if not stat.S_ISREG(mode):
        raise ConfinedFileError("not a regular file", FileProblem.SPECIAL)


def _require_size(size: int, max_bytes: int, *, exact: bool = True) -> None:
    if size > max_bytes:
        actual = f" ({format_size(size)})" if exact else ""
        raise ConfinedFileError(f"larger than {format_size(max_bytes)}{actual}", FileProblem.SIZE)


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
        raise ConfinedFileError(
            f"not UTF-8 (byte 0x{data[at]:02x} at offset {at})", FileProblem.ENCODING
        ) from None


def _os_error(exc: OSError) -> ConfinedFileError:
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return ConfinedFileError("no such file", FileProblem.MISSING)
    if isinstance(exc, PermissionError):
        return ConfinedFileError("permission denied", FileProblem.UNREADABLE)
    return ConfinedFileError((exc.strerror or str(exc)).lower(), FileProblem.UNREADABLE)
