"""Bounded reads (engine.flow.files): a flow's companion files confined to its folder, a user's files as given;
real files, FIFOs, devices, symlinks."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine.flow.diagnostics import DocumentError
from engine.flow.document import read_document
from engine.flow.files import MIB, ConfinedFileError, FileProblem, format_size, read_confined


def refused(ref: str, root: Path, **kw: int) -> str:
    with pytest.raises(ConfinedFileError) as info:
        read_confined(ref, root, **kw)
    assert isinstance(info.value, ValueError) and str(info.value) == info.value.reason
    return info.value.reason


@pytest.fixture
def flow_dir(tmp_path: Path) -> Path:
    root = tmp_path / "flows"
    (root / "prompts").mkdir(parents=True)
    (root / "prompts" / "a.md").write_text("Hello ☎\n", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("outside")
    return root


def test_reads_a_file_inside_the_folder(flow_dir: Path) -> None:
    assert read_confined("prompts/a.md", flow_dir) == "Hello ☎\n"
    assert read_confined("./prompts/../prompts/a.md", flow_dir) == "Hello ☎\n"  # `..` that stays inside


def test_symlinks_inside_the_folder_are_followed(flow_dir: Path) -> None:
    (flow_dir / "alias.md").symlink_to("prompts/a.md")
    (flow_dir / "p").symlink_to(flow_dir / "prompts")
    assert read_confined("alias.md", flow_dir) == read_confined("p/a.md", flow_dir) == "Hello ☎\n"


def test_a_root_reached_through_a_symlink_still_confines(flow_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(flow_dir)
    assert read_confined("prompts/a.md", tmp_path / "link") == "Hello ☎\n"
    assert refused("../secret.txt", tmp_path / "link") == "outside the flow's folder (through '..')"


def test_absolute_paths_are_refused(flow_dir: Path) -> None:
    assert refused("/etc/passwd", flow_dir) == "outside the flow's folder (an absolute path)"
    assert refused(str(flow_dir / "prompts" / "a.md"), flow_dir).startswith("outside the flow's folder")


@pytest.mark.parametrize("ref", ["../secret.txt", "../../../../../../etc/passwd", "prompts/../../secret.txt"])
def test_dot_dot_escapes_are_refused(flow_dir: Path, ref: str) -> None:
    assert refused(ref, flow_dir) == "outside the flow's folder (through '..')"


@pytest.mark.parametrize("target", ["../../secret.txt", "/etc/passwd", "/dev/zero", "/proc/self/environ"])
def test_symlinks_out_of_the_folder_are_refused(flow_dir: Path, target: str) -> None:
    (flow_dir / "prompts" / "link.md").symlink_to(target)
    assert refused("prompts/link.md", flow_dir) == "outside the flow's folder (through a symlink)"


def test_a_symlinked_directory_out_of_the_folder_is_refused(flow_dir: Path, tmp_path: Path) -> None:
    (flow_dir / "up").symlink_to(tmp_path)
    assert refused("up/secret.txt", flow_dir) == "outside the flow's folder (through a symlink)"


def test_a_fifo_is_refused_without_blocking(flow_dir: Path) -> None:
    os.mkfifo(flow_dir / "pipe.md")
    assert refused("pipe.md", flow_dir) == "not a regular file (a FIFO)"


def test_devices_and_directories_are_refused(flow_dir: Path) -> None:
    assert refused("zero", Path("/dev")) == "not a regular file (a character device)"
    assert refused("prompts", flow_dir) == "not a regular file (a directory)"
    assert refused("", flow_dir) == "not a regular file (a directory)"


def test_a_proc_file_reporting_size_zero_is_read_with_a_cap() -> None:
    assert os.stat("/proc/self/environ").st_size == 0
    assert refused("environ", Path("/proc/self"), max_bytes=4) == "larger than 4 bytes"
    assert isinstance(read_confined("environ", Path("/proc/self"), max_bytes=1 << 24), str)


def test_a_symlink_loop_and_missing_files(flow_dir: Path) -> None:
    (flow_dir / "loop").symlink_to("loop")
    assert refused("loop", flow_dir) == "not a regular file (a symlink loop)"
    assert refused("nope.md", flow_dir) == "no such file"
    assert refused("prompts/a.md/x", flow_dir) == "no such file"
    (flow_dir / "dangling").symlink_to("gone.md")
    assert refused("dangling", flow_dir) == "no such file"
    assert refused("nul\0.md", flow_dir) == "not a valid path (it contains a NUL character)"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_an_unreadable_file(flow_dir: Path) -> None:
    locked = flow_dir / "locked.md"
    locked.write_text("x")
    locked.chmod(0)
    assert refused("locked.md", flow_dir) == "permission denied"


def test_size_limit(flow_dir: Path) -> None:
    (flow_dir / "big.md").write_bytes(b"x" * (2 * 1024 * 1024))
    assert refused("big.md", flow_dir) == "larger than 1 MiB (2 MiB)"
    (flow_dir / "bigger.md").write_bytes(b"x" * 3_355_443)
    assert refused("bigger.md", flow_dir) == "larger than 1 MiB (3.2 MiB)"
    (flow_dir / "edge.md").write_bytes(b"y" * 1024)
    assert read_confined("edge.md", flow_dir, max_bytes=1024) == "y" * 1024
    assert refused("edge.md", flow_dir, max_bytes=1023) == "larger than 1023 bytes (1 KiB)"


def test_invalid_utf8_names_the_byte_and_its_offset(flow_dir: Path) -> None:
    (flow_dir / "latin1.md").write_bytes(b"Hello world!\xff rest")
    assert refused("latin1.md", flow_dir) == "not UTF-8 (byte 0xff at offset 12)"
    (flow_dir / "bom_bad.md").write_bytes(b"\xef\xbb\xbfab\xc3")  # offsets count the BOM too
    assert refused("bom_bad.md", flow_dir) == "not UTF-8 (byte 0xc3 at offset 5)"


def test_a_leading_bom_is_stripped(flow_dir: Path) -> None:
    (flow_dir / "bom.md").write_bytes("\ufeffPrompt\ufeff".encode())
    assert read_confined("bom.md", flow_dir) == "Prompt\ufeff"  # only the leading one


@example(n=13056)
@given(n=st.integers(0, 1 << 40))
def test_format_size_is_short_and_never_below_the_true_unit(n: int) -> None:
    text = format_size(n)
    number, unit = text.split(" ")
    assert unit in ("byte", "bytes", "KiB", "MiB", "GiB", "TiB") and len(number) <= 8
    scale = {"KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}.get(unit, 1)
    # at most half the last digit off; a tie (13056 = 12.75 KiB -> 12.8) is exactly half, give or take a float's ulp
    assert abs(float(number) * scale - n) <= 0.05 * scale * (1 + 1e-9)


@given(data=st.one_of(st.binary(max_size=64), st.text(max_size=64).map(str.encode)), bom=st.booleans())
def test_reads_exactly_the_utf8_files(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, bom: bool
) -> None:
    root = tmp_path_factory.mktemp("rt")
    raw = b"\xef\xbb\xbf" * bom + data
    (root / "f.md").write_bytes(raw)
    body = raw.removeprefix(b"\xef\xbb\xbf")
    try:
        expected = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = len(raw) - len(body) + exc.start
        assert refused("f.md", root) == f"not UTF-8 (byte 0x{raw[at]:02x} at offset {at})"
    else:
        assert read_confined("f.md", root) == expected


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda root: "../secret.txt", FileProblem.OUTSIDE),
        (lambda root: os.mkfifo(root / "p.md") or "p.md", FileProblem.SPECIAL),
        (lambda root: (root / "b.md").write_bytes(b"x" * (MIB + 1)) and "b.md", FileProblem.SIZE),
        (lambda root: (root / "l.md").write_bytes(b"\xff") and "l.md", FileProblem.ENCODING),
        (lambda root: "gone.md", FileProblem.MISSING),
        (lambda root: "nul\0.md", FileProblem.UNREADABLE),
    ],
)
def test_each_failure_has_a_kind_and_only_policy_failures_are_refusals(
    flow_dir: Path, make: Callable[[Path], str], kind: FileProblem
) -> None:
    with pytest.raises(ConfinedFileError) as info:
        read_confined(make(flow_dir), flow_dir)
    assert info.value.kind is kind
    assert kind.refused is (kind not in (FileProblem.MISSING, FileProblem.UNREADABLE))


def test_without_a_root_a_path_is_read_as_given(flow_dir: Path, tmp_path: Path) -> None:
    """The files a user names (a flow, a script on the command line): symlinks followed, still bounded."""
    (tmp_path / "up.md").symlink_to(flow_dir / "prompts" / "a.md")
    assert read_confined(tmp_path / "up.md", None) == "Hello ☎\n"
    assert read_confined(tmp_path / "secret.txt", None) == "outside"
    os.mkfifo(tmp_path / "pipe.toml")
    for path, reason in [
        (tmp_path / "pipe.toml", "not a regular file (a FIFO)"),
        (Path("/dev/zero"), "not a regular file (a character device)"),
        (tmp_path / "nope.toml", "no such file"),
    ]:
        with pytest.raises(ConfinedFileError) as info:
            read_confined(path, None)
        assert info.value.reason == reason
    with pytest.raises(ConfinedFileError, match="larger than 4 bytes"):
        read_confined("/proc/self/environ", None, max_bytes=4)


def test_read_document_reports_sb001_for_a_users_file_and_sb005_for_a_flows(flow_dir: Path) -> None:
    os.mkfifo(flow_dir / "pipe.toml")
    with pytest.raises(DocumentError) as users:
        read_document(flow_dir / "pipe.toml", "flow file")
    with pytest.raises(DocumentError) as flows:
        read_document(Path("pipe.toml"), "supervisor script", root=flow_dir)
    with pytest.raises(DocumentError) as missing:
        read_document(Path("nope.toml"), "supervisor script", root=flow_dir)
    assert [(d.code, d.message) for d in users.value.diagnostics] == [
        ("SB001", "cannot read flow file: not a regular file (a FIFO)")
    ]
    assert [(d.code, d.location.file) for d in flows.value.diagnostics] == [
        ("SB005", str(flow_dir / "pipe.toml"))
    ]
    assert [d.code for d in missing.value.diagnostics] == ["SB001"]


@pytest.fixture(scope="module")
def maze(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``base/root`` with a prompt inside and symlinks in, out and up; ``base/outside/f.md`` is the secret."""
    base = tmp_path_factory.mktemp("maze")
    root, outside = base / "root", base / "outside"
    (root / "a").mkdir(parents=True)
    outside.mkdir()
    (root / "a" / "f.md").write_text("inside", encoding="utf-8")
    (root / "f.md").write_text("inside", encoding="utf-8")
    (outside / "f.md").write_text("SECRET", encoding="utf-8")
    (root / "link_in").symlink_to("a")
    (root / "link_out").symlink_to(outside)
    (root / "up").symlink_to("..")
    (root / "a" / "back").symlink_to("../../outside/f.md")
    return root


@given(
    parts=st.lists(st.sampled_from(["..", ".", "a", "link_in", "link_out", "up", "back", "outside", "f.md"]))
)
def test_no_path_of_any_shape_reads_outside_the_root(maze: Path, parts: list[str]) -> None:
    ref = "/".join(parts)
    try:
        text = read_confined(ref, maze)
    except ConfinedFileError as exc:
        assert exc.kind in (FileProblem.OUTSIDE, FileProblem.MISSING, FileProblem.SPECIAL), exc.reason
        return
    assert text == "inside"
    assert Path(os.path.realpath(maze / ref)).is_relative_to(maze.resolve())
