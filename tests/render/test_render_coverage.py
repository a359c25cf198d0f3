"""`render --coverage`: the routes a suite never takes are dashed in the warning colour."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.flow.loader import load_flow
from engine.render import style as st
from engine.render.api import render_sources
from engine.render.coverage import CoverageError, mark_uncovered, read_uncovered
from engine.render.view import build_diagram

FLOWS = Path(__file__).resolve().parents[2] / "flows"


def _edge_lines(dot: str, source: str, target: str) -> list[str]:
    """The DOT line of the edge ``source -> target`` (drawn either way round: its tooltip names it)."""
    return [line for line in dot.splitlines() if f"{source} → {target}:" in line and "labeltooltip" in line]


def test_an_uncovered_edge_is_dashed_in_the_warning_colour() -> None:
    doc = load_flow(FLOWS / "retail.toml")
    dot = render_sources(doc, uncovered={("returns", "sales")}).dot
    (cold,) = _edge_lines(dot, "returns", "sales")
    assert "style=dashed" in cold and st.UNCOVERED_LINE in cold and "not covered by the tests" in cold
    (warm,) = _edge_lines(dot, "authentication", "returns")
    assert st.UNCOVERED_LINE not in warm
    assert "no test takes this route" in dot
    assert "no test takes this route" not in render_sources(doc).dot


def test_a_pair_drawn_both_ways_is_split_when_one_way_is_uncovered() -> None:
    doc = load_flow(FLOWS / "simple_handoff.toml")
    plain = build_diagram(doc.flow, [])
    marked = mark_uncovered(plain, {("generalist", "greeter")})
    uncovered = [(e.source, e.target) for e in marked.edges if e.uncovered]
    assert uncovered == [("generalist", "greeter")]
    assert all(not e.both for e in marked.edges if {e.source, e.target} == {"generalist", "greeter"})


def test_render_reads_the_report_of_test_coverage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "coverage.json"
    assert main(["test", str(FLOWS / "scripts" / "retail.toml"), "--coverage", "--format", "json"]) == 0
    report.write_text(capsys.readouterr().out, encoding="utf-8")
    data = json.loads(report.read_text(encoding="utf-8"))
    missed = {tuple(e) for e in data["flows"][0]["uncovered_edges"]}
    assert ("returns", "simulated_human") in missed and ("authentication", "returns") not in missed
    assert read_uncovered(report, FLOWS / "retail.toml") == missed
    out = tmp_path / "retail.dot"
    assert main(["render", str(FLOWS / "retail.toml"), "-o", str(out), "--coverage", str(report)]) == 0
    assert st.UNCOVERED_LINE in out.read_text(encoding="utf-8")
    with pytest.raises(CoverageError, match="no coverage of"):
        read_uncovered(report, FLOWS / "simple_handoff.toml")
    report.write_text("{}", encoding="utf-8")
    assert main(["render", str(FLOWS / "retail.toml"), "-o", str(out), "--coverage", str(report)]) == 2
    assert "not a coverage report" in capsys.readouterr().err


def test_a_device_or_fifo_as_report_is_refused_not_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    fifo = tmp_path / "report.json"
    os.mkfifo(fifo)
    for report in ("/dev/zero", str(fifo)):
        code = main(
            ["render", str(FLOWS / "retail.toml"), "-o", str(tmp_path / "r.dot"), "--coverage", report]
        )
        assert code == 2 and "not a regular file" in capsys.readouterr().err
