"""Diagnostics out: ruff-style text, JSON and SARIF 2.1.0 (for CI code-scanning), suppressed warnings included.

JSON is ``{"findings": [...], "suppressed": [...], "summary": {...}}``: each suppressed warning is a finding
with ``suppressed_by`` (the ignore: ``kind`` ``comment`` or ``lint.ignore``, its position, a justification).
In SARIF a suppressed warning is a result with ``suppressions: [{"kind": "inSource", ...}]`` (both kinds of
ignore are written in the flow file itself), which GitHub code scanning shows as a closed alert.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.flow.diagnostics import Diagnostic, Location, Severity
from engine.verify.rules import RULES
from engine.verify.suppress import Suppressed

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
RULES_URI = "https://switchboard.dev/docs/rules"
"""Where each rule is explained (``switchboard rule CODE`` prints the same text)."""


def summary_line(
    diagnostics: Sequence[Diagnostic], files: int, suppressed: Sequence[Suppressed] = (), scripts: int = 0
) -> str:
    """``Found 1 error and 2 warnings in 3 flows; 2 warnings suppressed (SB206 x1, SB107 x1).``

    ``files`` counts every file linted, ``scripts`` those of them that are scripts (named apart)."""
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = len(diagnostics) - errors
    count = files - scripts
    flows = f"{count} flow{'s' * (count != 1)}" + (
        f", {scripts} script{'s' * (scripts != 1)}" if scripts else ""
    )
    if not diagnostics:
        line = f"All checks passed ({flows})"
    else:
        line = (
            f"Found {errors} error{'s' * (errors != 1)} and {warnings} warning{'s' * (warnings != 1)} "
            f"in {flows}"
        )
    return line + (f"; {suppressed_text(suppressed)}." if suppressed else ".")


def suppressed_text(suppressed: Sequence[Suppressed]) -> str:
    """``2 warnings suppressed (SB206 x1, SB107 x1)``: most frequent first, then by code."""
    counts = Counter(s.diagnostic.code for s in suppressed)
    each = ", ".join(f"{code} x{n}" for code, n in sorted(counts.items(), key=lambda c: (-c[1], c[0])))
    return f"{len(suppressed)} warning{'s' * (len(suppressed) != 1)} suppressed ({each})"


def to_json(diagnostics: Sequence[Diagnostic], suppressed: Sequence[Suppressed] = (), files: int = 1) -> str:
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    summary = {
        "flows": files,
        "errors": errors,
        "warnings": len(diagnostics) - errors,
        "suppressed": len(suppressed),
    }
    return json.dumps(
        {
            "findings": [d.to_json() for d in diagnostics],
            "suppressed": [s.to_json() for s in suppressed],
            "summary": summary,
        },
        indent=2,
    )


def to_sarif(
    diagnostics: Sequence[Diagnostic],
    version: str,
    base: Path | None = None,
    suppressed: Sequence[Suppressed] = (),
) -> str:
    """SARIF 2.1.0 as GitHub code scanning reads it: each rule with its descriptions, help and ``helpUri``;
    each result at a ``uri`` relative to ``%SRCROOT%`` (``base``, default the working folder) when it can be;
    each suppressed warning a result with its ``suppressions``."""
    root = (base or Path.cwd()).resolve()
    used = sorted({d.code for d in diagnostics} | {s.diagnostic.code for s in suppressed})
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
    results = [_result(d, root) for d in diagnostics]
    for quiet in suppressed:
        suppression: dict[str, Any] = {"kind": "inSource", "location": _location(quiet.by.location, root)}
        if quiet.by.justification:
            suppression["justification"] = quiet.by.justification
        results.append({**_result(quiet.diagnostic, root), "suppressions": [suppression]})
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


def _result(d: Diagnostic, root: Path) -> dict[str, Any]:
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
    return result


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
