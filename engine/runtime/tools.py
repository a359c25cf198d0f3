"""Flow tools bound to Python callables (``impl = "module:function"`` in the flow, or registered in code)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from engine.flow.loader import FlowDocument
from engine.runtime.binding import ToolBindingError, load

ToolFunction = Callable[..., Any] | Callable[..., Awaitable[Any]]


class ToolRegistry:
    """Name -> callable. A call runs sync functions in a worker thread and awaits async ones."""

    def __init__(self, functions: dict[str, ToolFunction] | None = None) -> None:
        self.functions: dict[str, ToolFunction] = dict(functions or {})

    def register(self, name: str, function: ToolFunction) -> None:
        self.functions[name] = function

    @classmethod
    def from_flow(cls, doc: FlowDocument) -> ToolRegistry:
        """Bind every tool with an ``impl`` (importing its module: see :mod:`engine.runtime.binding`)."""
        registry = cls()
        for name, tool in doc.flow.tools.items():
            if tool.impl:
                registry.register(name, load(tool.impl, doc.base_dir))
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


__all__ = ["ToolBindingError", "ToolFunction", "ToolRegistry"]
