"""The pytest plugin (entry point ``pytest11``): scripts with expectations are test items.

``pytest flows/tests`` collects every ``.toml``/``.json`` script that carries expectations (other TOML and
JSON files are left alone) and runs each against the embedded emulator; a failure is reported as
``switchboard test`` reports it: the first unmet expectation, its position and the turn's transcript.
Disable it with ``-p no:switchboard``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

__all__ = ["ScriptFile", "ScriptItem"]


class ScriptFailed(Exception):
    """An unmet expectation, or a case that cannot run; the text is the whole report."""


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    from engine.flow.document import FORMATS

    if file_path.suffix not in FORMATS:
        return None
    from engine.flowtest.case import has_expectations

    if not has_expectations(file_path):
        return None
    return ScriptFile.from_parent(parent, path=file_path)


class ScriptFile(pytest.File):
    def collect(self) -> list[pytest.Item]:
        return [ScriptItem.from_parent(self, name=self.path.name)]


_FLOWS = pytest.StashKey[Any]()
"""The session's :class:`~engine.flowtest.case.FlowCache`: each flow linted once per test run."""


class ScriptItem(pytest.Item):
    def runtest(self) -> None:
        import asyncio

        from engine.flowtest.case import CaseError, FlowCache, load_case
        from engine.flowtest.report import error_text, failure_text
        from engine.flowtest.runner import run_case

        stash = self.session.stash
        if _FLOWS not in stash:
            stash[_FLOWS] = FlowCache()
        try:
            case = load_case(self.path, flows=stash[_FLOWS])
        except CaseError as exc:
            raise ScriptFailed(f"the script cannot run:\n{error_text(exc)}") from None
        result = asyncio.run(run_case(case))
        if not result.passed:
            raise ScriptFailed(failure_text(result))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScriptFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"switchboard script {self.path.name}"
