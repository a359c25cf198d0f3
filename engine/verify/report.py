"""Diagnostics out: ruff-style text, JSON and SARIF 2.1.0 (for CI code-scanning)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.flow.diagnostics import Diagnostic, Location, Severity
from engine.verify.rules import RULES

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
RULES_URI = "https://switchboard.dev/docs/rules"
"""Where each rule is explained (``switchboard rule CODE`` prints the same text)."""


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


def to_sarif(diagnostics: Sequence[Diagnostic], version: str, base: Path | None = None) -> str:
    """SARIF 2.1.0 as GitHub code scanning reads it: each rule with its descriptions, help and ``helpUri``;
    each result at a ``uri`` relative to ``%SRCROOT%`` (``base``, default the working folder) when it can be."""
    root = (base or Path.cwd()).resolve()
    used = sorted({d.code for d in diagnostics})
    rules = [
        {
            "id": code,
            "name": RULES[code].name,
            "shortDescription": {"text": RULES[code].summary},
            "fullDescription": {"text": RULES[code].summary},
            "help": {
                "text": f"{RULES[code].summary} Run `switchboard rule {code}` for an example and the fix."
            },
            "helpUri": rule_uri(code),
            "defaultConfiguration": {"level": _level(RULES[code].severity)},
        }
        for code in used
        if code in RULES
    ]
    results: list[dict[str, Any]] = []
    for d in diagnostics:
        result: dict[str, Any] = {
            "ruleId": d.code,
            "level": _level(d.severity),
            "message": {"text": d.message + (f" Help: {d.help}" if d.help else "")},
            "locations": [_location(d.location, root)],
        }
        if d.related:
            result["relatedLocations"] = [
                {**_location(r.location, root), "id": i, "message": {"text": r.message}}
                for i, r in enumerate(d.related, 1)
            ]
        results.append(result)
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "switchboard",
                        "version": version,
                        "informationUri": RULES_URI,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": root.as_uri() + "/"}},
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2)


def rule_uri(code: str) -> str:
    return f"{RULES_URI}#{code.lower()}"


def _location(location: Location, root: Path) -> dict[str, Any]:
    path = Path(location.file)
    artifact: dict[str, Any]
    try:
        relative = (path if path.is_absolute() else Path.cwd() / path).resolve().relative_to(root)
        artifact = {"uri": relative.as_posix(), "uriBaseId": "%SRCROOT%"}
    except ValueError:
        artifact = {"uri": path.resolve().as_uri()}
    region = {"startLine": location.line, "startColumn": location.col}
    return {"physicalLocation": {"artifactLocation": artifact, "region": region}}


def _level(severity: Severity) -> str:
    return "error" if severity is Severity.ERROR else "warning"
