"""JUnit XML for CI (the structure Jenkins, GitLab and GitHub reporters read): one ``<testsuite>``, one
``<testcase>`` per script with a ``<failure>`` for an unmet expectation or an ``<error>`` for bad input."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from engine.flowtest.case import CaseError
from engine.flowtest.report import error_text, failure_text
from engine.flowtest.runner import CaseResult

__all__ = ["junit_xml", "write_junit"]

SUITE = "switchboard"


def _classname(path: str) -> str:
    """``flows/tests/retail.toml`` -> ``flows.tests``: reporters group cases by it."""
    parent = Path(path).parent
    return ".".join(p for p in parent.parts if p not in (parent.anchor, ".", "..")) or SUITE


def junit_xml(results: Sequence[CaseResult], errors: Sequence[CaseError] = ()) -> str:
    suite = ET.Element(
        "testsuite",
        name=SUITE,
        tests=str(len(results) + len(errors)),
        failures=str(sum(1 for r in results if not r.passed)),
        errors=str(len(errors)),
        skipped="0",
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for result in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=_classname(result.case.name),
            name=Path(result.case.name).name,
            file=result.case.name,
            time=f"{result.seconds:.3f}",
        )
        if not result.passed:
            failure = ET.SubElement(case, "failure", message=str(result.failures[0]), type="expectation")
            failure.text = failure_text(result)
    for exc in errors:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=_classname(exc.path),
            name=Path(exc.path).name,
            file=exc.path,
            time="0",
        )
        error = ET.SubElement(case, "error", message=exc.summary, type="bad-input")
        error.text = error_text(exc)
    root = ET.Element("testsuites", name=SUITE, tests=suite.get("tests", "0"))
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(path: str | Path, results: Sequence[CaseResult], errors: Sequence[CaseError] = ()) -> None:
    Path(path).write_text(junit_xml(results, errors), encoding="utf-8")
