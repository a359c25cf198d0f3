"""Where a tool's ``impl = "module:function"`` lives, found by the rules ``run`` imports it by.

Resolution: the module's top-level package is looked up on ``sys.path`` first, then in the flow's folder and
up to :data:`PARENTS` folders above it (a module file ``bank_tools.py`` and a package ``bank_tools/`` alike).
:func:`locate` finds the source without importing anything (what plain ``lint`` does) and, for a ``.py``
source, checks with ``ast`` that the module defines the name at top level. :func:`load` imports it, which
runs the module's code: that is what ``run``/``serve`` and ``lint --import-tools`` do.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import inspect
import pkgutil
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine.errors import SwitchboardError
from engine.flow.model import IMPL_PATTERN
from engine.flow.suggest import did_you_mean, suggestion_text

PARENTS = 2
"""How many folders above the flow's own are searched for a tool module."""
_REF = re.compile(IMPL_PATTERN)


class ToolBindingError(SwitchboardError):
    """A tool's ``impl`` cannot be found, imported or called with the tool's parameters."""


@dataclass(frozen=True)
class Located:
    module: str
    attr: str
    origin: Path | None
    """The module's source file (``None`` for a built-in or frozen module)."""
    folder: Path | None
    """The flow-side folder that must go on ``sys.path`` to import it (``None``: it is on ``sys.path``)."""


def search_folders(base_dir: Path) -> list[Path]:
    """The flow's folder, then up to :data:`PARENTS` folders above it."""
    base = base_dir.resolve()
    return [base, *list(base.parents)[:PARENTS]]


def locate(ref: str, base_dir: Path) -> Located:
    """Find ``ref``'s module without importing it; raise :class:`ToolBindingError` saying what is missing."""
    match = _REF.match(ref)
    if match is None:
        raise ToolBindingError(f"impl {ref!r} is not of the form 'module:function' (dotted identifiers)")
    module, _, attr = ref.partition(":")
    parts = module.split(".")
    folder: Path | None = None
    spec = importlib.machinery.PathFinder.find_spec(parts[0], sys.path) or _builtin(parts[0])
    if spec is None:
        for candidate in search_folders(base_dir):
            spec = importlib.machinery.PathFinder.find_spec(parts[0], [str(candidate)])
            if spec is not None:
                folder = candidate
                break
    if spec is None:
        looked = ", ".join(str(f) for f in search_folders(base_dir))
        raise ToolBindingError(
            f"impl {ref!r}: no module {parts[0]!r} on sys.path or in {looked} "
            f"(expected {parts[0]}.py or a package {parts[0]}/)"
        )
    for depth, part in enumerate(parts[1:], 1):
        locations = spec.submodule_search_locations
        sub = importlib.machinery.PathFinder.find_spec(part, list(locations)) if locations else None
        if sub is None:
            known = [m.name for m in pkgutil.iter_modules(list(locations or []))]
            raise ToolBindingError(
                f"impl {ref!r}: {'.'.join(parts[:depth])} has no module {part!r}{suggestion_text(did_you_mean(part, known))}"
            )
        spec = sub
    origin = Path(spec.origin) if spec.origin and spec.has_location else None
    if origin is not None and origin.suffix == ".py" and not _defines(origin, attr):
        raise ToolBindingError(f"impl {ref!r}: {origin} defines no top-level {attr!r}")
    return Located(module, attr, origin, folder)


def _builtin(name: str) -> importlib.machinery.ModuleSpec | None:
    if name in sys.builtin_module_names:
        return importlib.machinery.BuiltinImporter.find_spec(name)
    return None


def _defines(source: Path, name: str) -> bool:
    """Whether ``source`` binds ``name`` at top level (``True`` when it cannot tell: a star import,
    a module ``__getattr__``, a file that does not parse, which the import will then report)."""
    try:
        tree = _parsed(source, source.stat().st_mtime_ns)
    except (OSError, SyntaxError, ValueError):
        return True
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name in (name, "__getattr__"):
                return True
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*" or (alias.asname or alias.name.split(".")[0]) == name:
                    return True
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(name in {n.id for n in ast.walk(t) if isinstance(n, ast.Name)} for t in targets):
                return True
        elif not isinstance(node, ast.Expr):  # if/try/with blocks may define it: do not guess
            if any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node)):
                return True
    return False


@lru_cache(maxsize=64)
def _parsed(source: Path, mtime_ns: int) -> ast.Module:
    """``source`` parsed once per version of the file: a flow's tools often share one module."""
    return ast.parse(source.read_bytes(), str(source))


def load(ref: str, base_dir: Path) -> Callable[..., Any]:
    """Import ``ref`` (running its module's code) and return the callable; :class:`ToolBindingError` if not."""
    located = locate(ref, base_dir)
    if located.folder is not None and str(located.folder) not in sys.path:
        sys.path.insert(0, str(located.folder))
    try:
        module = importlib.import_module(located.module)
    except Exception as exc:  # the module's own code failed: its error, not a traceback
        raise ToolBindingError(
            f"impl {ref!r}: importing {located.module} failed: {type(exc).__name__}: {exc}"
        ) from exc
    function = getattr(module, located.attr, None)
    if not callable(function):
        raise ToolBindingError(f"impl {ref!r}: {located.module} has no callable {located.attr!r}")
    return function  # type: ignore[no-any-return]


def signature_problem(function: Callable[..., Any], parameters: dict[str, Any]) -> str | None:
    """Why ``function`` cannot be called with keyword arguments matching the JSON Schema ``parameters``
    (``None``: it can): every property must be accepted, every function parameter without a default given."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None  # a builtin without a signature: nothing to check
    params = signature.parameters.values()
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    properties: Sequence[str] = list((parameters.get("properties") or {}).keys())
    required = set(parameters.get("required") or [])
    extra = [p for p in properties if p not in named and not takes_any]
    if extra:
        return f"it does not accept {', '.join(map(repr, extra))} (add them as parameters, or **kwargs)"
    needed = [
        p.name
        for p in params
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.name not in required
    ]
    if needed:
        return (
            f"it needs {', '.join(map(repr, needed))}, which the tool's parameters do not require "
            "(give them defaults, or list them in `required`)"
        )
    if any(
        p.kind is inspect.Parameter.POSITIONAL_ONLY and p.default is inspect.Parameter.empty for p in params
    ):
        return "it has positional-only parameters (tools are called with keyword arguments)"
    return None
