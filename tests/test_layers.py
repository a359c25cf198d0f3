"""The package's layering: no import cycles between engine modules, and no layer imports a later one.

Every ``import`` and ``from … import`` in ``engine/`` counts, wherever it stands: at module level,
inside a function, under ``if TYPE_CHECKING:``. Relative imports are resolved against the module's
package. An import of ``engine.x.y`` that names something inside a module (``from engine.x import y``
where ``y`` is a function) is an edge to the module ``engine.x``; ``from engine.x import y`` where
``y`` is a submodule is an edge to ``engine.x.y`` alone (not to the package's ``__init__``).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import networkx as nx
import pytest

ENGINE = Path(__file__).resolve().parent.parent / "engine"
ROOT = "engine"

# The layers, earliest first; a module may import only from its own layer or an earlier one.
# README's Layout section states the same order: keep the two in step.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        ROOT,
        "engine.errors",
        "engine.gcpause",
        "engine.tracing",
    ),  # 0: shared (ROOT is engine/__init__.py alone)
    ("engine.flow",),  # 1
    ("engine.verify",),  # 2
    ("engine.compile",),  # 3
    ("engine.session",),  # 4: the sans-I/O core
    ("engine.wire",),  # 5: the Realtime protocol both sides share
    ("engine.supervisor",),  # 6
    ("engine.emulator",),  # 7
    ("engine.store", "engine.runtime"),  # 8: snapshot stores and audit sinks; the runtime
    ("engine.flowtest",),  # 9: flow tests: expectations checked, suites generated, coverage
    ("engine.render",),  # 10
    ("engine.playground",),  # 11: the browser playground (relay + page + live graph)
    ("engine.cli",),  # 12
)


def layer_of(module: str) -> int:
    """The layer of a module: that of its entry in LAYERS or of the package above it that has one.

    The root package ``engine`` names only its own ``__init__``, so a new folder has no layer until
    it is listed.
    """
    for index, names in enumerate(LAYERS):
        for name in names:
            if module == name or (name != ROOT and module.startswith(name + ".")):
                return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS (and to README's Layout)")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    """Every absolute dotted name the tree imports (``from a import b`` gives ``a.b``)."""
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts)
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            # `from a import b` imports the module `a.b` if there is one, else something in `a`
            # (resolved to the longest module prefix by the caller); `from a import *` imports `a`.
            names.update(base if alias.name == "*" else f"{base}.{alias.name}" for alias in node.names)
    return names


def engine_imports(root: Path = ENGINE) -> dict[str, tuple[str, set[str]]]:
    """module -> (its file, relative to the repo; the engine modules it imports)."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    result: dict[str, tuple[str, set[str]]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: set[str] = set()
        for name in imported_names(tree, module, path.name == "__init__.py"):
            # The longest prefix that is a module: `engine.x.y.func` is an edge to `engine.x.y`.
            while name and name not in files:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        result[module] = (str(path.relative_to(root.parent)), targets)
    return result


def import_cycles(imports: Mapping[str, tuple[str, set[str]]]) -> list[list[str]]:
    graph = nx.DiGraph()
    for module, (_, targets) in imports.items():
        graph.add_node(module)
        graph.add_edges_from((module, target) for target in targets)
    return sorted(sorted_cycle(c) for c in nx.simple_cycles(graph))


def sorted_cycle(cycle: list[str]) -> list[str]:
    """The cycle rotated to start at its least module, closed (first module repeated at the end)."""
    start = cycle.index(min(cycle))
    rotated = cycle[start:] + cycle[:start]
    return [*rotated, rotated[0]]


def upward_imports(imports: Mapping[str, tuple[str, set[str]]]) -> list[str]:
    problems = []
    for module, (path, targets) in sorted(imports.items()):
        own = layer_of(module)
        for target in sorted(targets):
            theirs = layer_of(target)
            if theirs > own:
                problems.append(f"{path} imports {target} (layer {theirs} > {own})")
    return problems


def test_no_import_cycles() -> None:
    cycles = import_cycles(engine_imports())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_upward_imports() -> None:
    problems = upward_imports(engine_imports())
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_every_engine_package_has_a_layer() -> None:
    for module in engine_imports():
        layer_of(module)


def test_the_checker_catches_a_cycle_and_an_upward_import() -> None:
    fake = {
        "engine.flow.model": ("engine/flow/model.py", {"engine.flow.loader"}),
        "engine.flow.loader": ("engine/flow/loader.py", {"engine.flow.model", "engine.errors"}),
        "engine.errors": ("engine/errors.py", set()),
        "engine.session.core": ("engine/session/core.py", {"engine.render.text", "engine.flow.model"}),
        "engine.render.text": ("engine/render/text.py", set()),
    }
    assert import_cycles(fake) == [["engine.flow.loader", "engine.flow.model", "engine.flow.loader"]]
    assert upward_imports(fake) == ["engine/session/core.py imports engine.render.text (layer 10 > 4)"]
    with pytest.raises(AssertionError, match=r"engine\.extra\.thing is in no layer"):
        layer_of("engine.extra.thing")


def test_imports_inside_functions_type_checking_and_relative_ones_count() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from ..render import text\n"
        "def f() -> None:\n"
        "    import engine.cli.main\n"
        "    from .model import Flow\n"
        "from . import loader\n"
    )
    names = imported_names(ast.parse(source), "engine.flow.document", is_package=False)
    assert names == {
        "typing.TYPE_CHECKING",
        "engine.render.text",
        "engine.cli.main",
        "engine.flow.model.Flow",
        "engine.flow.loader",
    }
