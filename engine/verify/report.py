"""Diagnostics out: ruff-style text, JSON and SARIF 2.1.0 (for CI code-scanning)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from engine.flow.diagnostics import Diagnostic, Severity
from engine.verify.rules import RULES

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def summary_line(diagnostics: Sequence[Diagnostic], files: int) -> str:
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = len(diagnostics) - errors
    if not diagnostics:
        return f"All checks passed ({files} flow{'s' * (files != 1)})."
    return (
        f"Found {errors} error{'s' * (errors != 1)} and {warnings} warning{'s' * (warnings != 1)} "
        f"in {files} flow{'s' * (files != 1)}."
    )


def to_json(diagnostics: Sequence[Diagnostic]) -> str:
    return json.dumps([d.to_json() for d in diagnostics], indent=2)


def to_sarif(diagnostics: Sequence[Diagnostic], version: str) -> str:
    used = sorted({d.code for d in diagnostics})
    rules = [
        {
            "id": code,
            "name": RULES[code].name,
            "shortDescription": {"text": RULES[code].summary},
            "defaultConfiguration": {"level": _level(RULES[code].severity)},
        }
        for code in used
        if code in RULES
    ]
    results: list[dict[str, Any]] = [
        {
            "ruleId": d.code,
            "level": _level(d.severity),
            "message": {"text": d.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": d.location.file},
                        "region": {"startLine": d.location.line, "startColumn": d.location.col},
                    }
                }
            ],
        }
        for d in diagnostics
    ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "switchboard", "version": version, "rules": rules}},
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2)


def _level(severity: Severity) -> str:
    return "error" if severity is Severity.ERROR else "warning"
