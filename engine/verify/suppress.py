"""Suppression: warnings a flow says not to report, and what is wrong with the ignores themselves.

Two ways to ignore a warning, both in the flow file:

- ``[lint] ignore = ["SB206"]`` (JSON: ``"lint": {"ignore": ["SB206"]}``): that code, anywhere in the flow;
- a TOML comment ``# switchboard: ignore[SB206]`` (or ``ignore[SB206, SB107]``, text after ``]`` is the
  justification): that code on one line. A comment after code covers its own line; a comment alone on its
  line covers the next line that is not a comment (so it can stand above a table header or a multi-line
  string). The line is the one the finding points at, the first line of its code frame.

Only warnings can be suppressed: an ignore naming an error, or one of the rules below, is itself reported
(SB602) and the finding stays. SB601 is an ignore naming no rule (did you mean), SB603 one that suppresses
nothing. These three are warnings, never suppressed. Everything is linear in the findings and the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.flow.diagnostics import Diagnostic, Location, Severity
from engine.flow.files import read_confined
from engine.flow.loader import FlowDocument
from engine.flow.nesting import TOML_TOKEN  # the one TOML lexer: its `skip` group has comments
from engine.flow.suggest import did_you_mean, suggestion_text
from engine.verify.rules import RULES

OWN_CODES = frozenset({"SB601", "SB602", "SB603"})
"""The findings about ignores: not suppressible (fix the ignore instead)."""
DIRECTIVE = re.compile(
    r"#\s*switchboard\s*:\s*ignore\b(?:\[(?P<codes>[^\]\n]*)\])?(?P<rest>.*)", re.IGNORECASE
)
_CODE = re.compile(r"[^\s,]+")
_HINT = re.compile(r"switchboard\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class Ignore:
    """One code an ignore names: where it is written, and what it covers."""

    code: str
    location: Location
    """The code inside the comment, or the ``[lint] ignore`` element."""
    line: int | None = None
    """The line an ignore comment covers; ``None`` for ``[lint] ignore`` (the whole flow)."""
    justification: str = ""

    @property
    def kind(self) -> str:
        return "comment" if self.line is not None else "lint.ignore"

    def to_json(self) -> dict[str, Any]:
        where = self.location
        return {
            "kind": self.kind,
            "file": where.file,
            "line": where.line,
            "col": where.col,
            **({"justification": self.justification} if self.justification else {}),
        }


@dataclass(frozen=True)
class Suppressed:
    """A warning not reported, and the ignore that suppressed it."""

    diagnostic: Diagnostic
    by: Ignore

    def to_json(self) -> dict[str, Any]:
        return {**self.diagnostic.to_json(), "suppressed_by": self.by.to_json()}


@dataclass(frozen=True)
class Outcome:
    reported: list[Diagnostic]
    """What to report: the findings not suppressed, and SB601-SB603, sorted by location."""
    suppressed: list[Suppressed]


def comment_text(path: Path) -> str | None:
    """The flow's text, for its ignore comments (TOML only: JSON has no comments)."""
    if path.suffix.lower() != ".toml":
        return None
    try:
        return read_confined(str(path), None)
    except (OSError, ValueError):
        return None


def settle(doc: FlowDocument, findings: Sequence[Diagnostic], text: str | None = None) -> Outcome:
    """Apply the ignores of ``doc`` (``[lint] ignore``, and the comments of its TOML ``text`` when given)."""
    written = list(_setting_ignores(doc))
    problems: list[Diagnostic] = []
    if text is not None and doc.file.lower().endswith(".toml"):
        found, bad = comment_ignores(text, doc.file)
        written += found
        problems += bad
    valid: list[Ignore] = []
    for ignore in written:
        problem = _invalid(ignore)
        if problem is None:
            valid.append(ignore)
        else:
            problems.append(problem)
    flow_wide: dict[str, Ignore] = {}
    on_line: dict[tuple[int, str], list[Ignore]] = {}
    for ignore in valid:
        if ignore.line is None:
            flow_wide.setdefault(ignore.code, ignore)
        else:
            on_line.setdefault((ignore.line, ignore.code), []).append(ignore)
    used: set[int] = set()
    reported: list[Diagnostic] = []
    suppressed: list[Suppressed] = []
    for d in findings:
        hits = _covering(d, doc.file, on_line, flow_wide)
        if not hits:
            reported.append(d)
            continue
        used.update(map(id, hits))
        suppressed.append(Suppressed(d, hits[0]))
    problems += [_unused(ignore, flow_wide) for ignore in valid if id(ignore) not in used]
    reported += problems
    return Outcome(sorted(reported, key=lambda d: (d.location, d.code, d.message)), suppressed)


def _covering(
    d: Diagnostic, file: str, on_line: dict[tuple[int, str], list[Ignore]], flow_wide: dict[str, Ignore]
) -> list[Ignore]:
    """The ignores that suppress ``d``, the comments first (the most specific)."""
    if d.severity is not Severity.WARNING or d.code in OWN_CODES:
        return []
    hits = list(on_line.get((d.location.line, d.code), [])) if d.location.file == file else []
    if d.code in flow_wide:
        hits.append(flow_wide[d.code])
    return hits


def _setting_ignores(doc: FlowDocument) -> Iterator[Ignore]:
    for i, code in enumerate(doc.flow.lint.ignore):
        yield Ignore(code.strip().upper(), doc.source.locate(("lint", "ignore", i)))


def comment_ignores(text: str, file: str) -> tuple[list[Ignore], list[Diagnostic]]:
    """The ignore comments of TOML ``text``, and an SB601 for each one that names no code.

    Comments are found by the loader's TOML lexer, so a ``#`` inside a string is no comment. Cost: linear.
    """
    text = text.removeprefix("\ufeff")
    if _HINT.search(text) is None:
        return [], []
    comments: list[tuple[int, int, str, bool]] = []  # (line, col, comment, alone on its line)
    line, counted = 1, 0
    for m in TOML_TOKEN.finditer(text):
        skip = m["skip"]
        if skip is None or not skip.startswith("#"):
            continue
        start = m.start()
        line += text.count("\n", counted, start)
        counted = start
        line_start = text.rfind("\n", 0, start) + 1
        comments.append((line, start - line_start + 1, skip, not text[line_start:start].strip()))
    alone = {line for line, _, _, by_itself in comments if by_itself}
    ignores: list[Ignore] = []
    problems: list[Diagnostic] = []
    for line, col, comment, by_itself in comments:
        directive = DIRECTIVE.match(comment)
        if directive is None:
            continue
        covers = line
        if by_itself:
            covers += 1
            while covers in alone:
                covers += 1
        rest = directive["rest"].strip().lstrip("-–—:;,. ").strip()
        codes = list(_CODE.finditer(directive["codes"] or ""))
        if not codes:
            problems.append(
                _finding(
                    "SB601",
                    "ignore comment names no rule",
                    Location(file, line, col, len(comment.rstrip())),
                    help="name the codes: `# switchboard: ignore[SB206]` (`switchboard rule` lists them)",
                )
            )
        for code in codes:
            at = Location(file, line, col + directive.start("codes") + code.start(), len(code.group()))
            ignores.append(Ignore(code.group().upper(), at, covers, rest))
    return ignores, problems


def _invalid(ignore: Ignore) -> Diagnostic | None:
    """SB601 for an ignore naming no rule, SB602 for one naming a rule that cannot be suppressed."""
    code = ignore.code
    rule = RULES.get(code)
    if rule is None:
        by_name = {r.name: r.code for r in RULES.values()}
        meant = by_name.get(code.lower()) or did_you_mean(code, [c for c in RULES if c not in OWN_CODES])
        return _finding(
            "SB601",
            f"ignore names unknown rule '{code}'{suggestion_text(meant)}",
            ignore.location,
            help=f"change '{code}' to '{meant}'" if meant else "`switchboard rule` lists the rules",
            extra={"code": code},
        )
    if code in OWN_CODES:
        return _finding(
            "SB602",
            f"'{code}' ({rule.name}) is about ignores themselves and cannot be suppressed",
            ignore.location,
            help=f"remove '{code}' and fix (or remove) the ignore it reports",
            extra={"code": code},
        )
    if rule.severity is Severity.ERROR:
        return _finding(
            "SB602",
            f"'{code}' ({rule.name}) is an error: errors cannot be suppressed, so it is still reported",
            ignore.location,
            help=f"fix the flow (`switchboard rule {code}` says how) and remove '{code}' from the ignore",
            extra={"code": code},
        )
    return None


def _unused(ignore: Ignore, flow_wide: dict[str, Ignore]) -> Diagnostic:
    code = ignore.code
    if ignore.line is None and flow_wide[code] is not ignore:
        message = f"[lint] ignore lists '{code}' twice"
    elif ignore.line is None:
        message = f"[lint] ignore '{code}' suppresses nothing: this flow has no {code} warning"
    else:
        message = f"ignore[{code}] suppresses nothing: no {code} warning on line {ignore.line}"
    fix = f"remove '{code}'"
    if ignore.line is not None:
        fix += f" (or put the comment on, or just above, the line the {code} warning points at)"
    return _finding("SB603", message, ignore.location, help=fix, extra={"code": code})


def _finding(
    code: str, message: str, location: Location, *, help: str, extra: dict[str, Any] | None = None
) -> Diagnostic:
    rule = RULES[code]
    return Diagnostic(code, rule.severity, message, location, rule=rule.name, extra=extra or {}, help=help)
