"""The benchmark scripts' shared helpers: targets decide PASS/FAIL, sections of docs/benchmarks.md are replaced."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools import benchlib
from tools.benchlib import Target, failed, targets_table

FIGURES = st.floats(0, 100, allow_nan=False)


@given(FIGURES, FIGURES, st.booleans())
def test_a_target_passes_under_its_limit(value: float, limit: float, strict: bool) -> None:
    target = Target("t", value, limit, strict=strict)
    assert target.passed is (value < limit if strict else value <= limit)
    assert target.row()[-1] == ("PASS" if target.passed else "FAIL")
    assert failed([target]) == ([] if target.passed else [target])


@given(FIGURES, FIGURES, st.booleans())
def test_a_floor_target_passes_over_its_limit(value: float, limit: float, strict: bool) -> None:
    target = Target("t", value, limit, strict=strict, at_least=True)
    assert target.passed is (value > limit if strict else value >= limit)
    assert target.row()[-1] == ("PASS" if target.passed else "FAIL")


def test_a_throughput_target_reads_as_a_floor_in_its_own_format() -> None:
    target = Target("events per CPU-second", 10429.3, 9000, "", at_least=True, number=",.0f")
    assert target.row() == ["events per CPU-second", "10,429", ">= 9,000", "PASS"]


def test_an_unmeasured_target_neither_passes_nor_fails() -> None:
    target = Target("verify, 10,000 agents", None, 1.0)
    assert target.passed is None and failed([target]) == []
    assert "| verify, 10,000 agents | not measured | <= 1 s | - |" in targets_table([target])


def test_a_ratio_target_reads_as_a_ratio() -> None:
    assert Target("lint / version", 2.0, 2.0, "x", strict=True).row() == [
        "lint / version",
        "2.00x",
        "< 2x",
        "FAIL",
    ]


def test_write_section_replaces_only_its_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# B\n\n<!-- bench:a -->\nold a\n<!-- /bench:a -->\n\nnotes\n")
    monkeypatch.setattr(benchlib, "BENCHMARKS", doc)
    benchlib.write_section("a", "new a")
    benchlib.write_section("b", "new b")
    assert doc.read_text() == (
        "# B\n\n<!-- bench:a -->\nnew a\n<!-- /bench:a -->\n\nnotes\n\n<!-- bench:b -->\nnew b\n<!-- /bench:b -->\n"
    )
