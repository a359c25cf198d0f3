"""Flow tools bound to Python callables (``impl = "module:function"`` in the flow, or registered in code)."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from engine.errors import SwitchboardError
from engine.flow.loader import FlowDocument

ToolFunction = Callable[..., Any] | Callable[..., Awaitable[Any]]


class ToolBindingError(SwitchboardError):
    """A tool's ``impl`` cannot be imported."""


class ToolRegistry:
    """Name -> callable. A call runs sync functions in a worker thread and awaits async ones."""

    def __init__(self, functions: dict[str, ToolFunction] | None = None) -> None:
        self.functions: dict[str, ToolFunction] = dict(functions or {})

    def register(self, name: str, function: ToolFunction) -> None:
        self.functions[name] = function

    @classmethod
    def from_flow(cls, doc: FlowDocument) -> ToolRegistry:
        """Bind every tool with an ``impl``; modules resolve on ``sys.path``, then from the flow's folder up."""
        registry = cls()
        for name, tool in doc.flow.tools.items():
            if tool.impl:
                registry.register(name, resolve_impl(tool.impl, doc.base_dir))
        return registry

    async def call(self, name: str, arguments: dict[str, Any]) -> Any:
        """Run tool ``name``; raise ``LookupError`` when it has no implementation, or whatever the tool raises."""
        function = self.functions.get(name)
        if function is None:
            raise LookupError(f"tool '{name}' has no implementation (set `impl` in the flow or register it)")
        if inspect.iscoroutinefunction(function):
            return await function(**arguments)
        result = await asyncio.to_thread(function, **arguments)
        return await result if inspect.isawaitable(result) else result


def resolve_impl(ref: str, base_dir: Path) -> ToolFunction:
    module_name, _, attr = ref.partition(":")
    try:
        module = _import(module_name, base_dir)
    except ImportError as exc:
        raise ToolBindingError(f"cannot import {module_name!r} for impl {ref!r}: {exc}") from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise ToolBindingError(f"impl {ref!r}: {module_name} has no callable {attr!r}")
    return function  # type: ignore[no-any-return]


def _import(module_name: str, base_dir: Path) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name.split(".")[0]):
            raise
    for folder in (base_dir.resolve(), *base_dir.resolve().parents[:2]):
        if str(folder) not in sys.path and (folder / module_name.split(".")[0]).exists():
            sys.path.insert(0, str(folder))
            return importlib.import_module(module_name)
    raise ModuleNotFoundError(f"No module named {module_name!r} (looked on sys.path and above {base_dir})")
