"""The package's shape, as docs/architecture.md draws it: a few top-level modules, pytest
imported only by the pytest side, imports that run one way, and no module too long to read."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "pytest_llmeval"
MAX_TOP_LEVEL_MODULES = 12
MAX_LINES = 800
# The pytest side: the plugin's wiring, its hook specifications and one package.
PYTEST_SIDE = ("plugin", "hookspec", "session")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["pytest_llmeval", *parts])


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_names(path: Path) -> Iterator[str]:
    """Every module an import statement of `path` names, relative imports resolved; imports
    under `if TYPE_CHECKING:` and inside functions count (they tie the design together)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def internal_imports(path: Path) -> set[str]:
    own = module_name(path)
    is_package = path.name == "__init__.py"
    return {
        name
        for name in imported_names(path)
        if name in MODULES
        and name != own
        # A package's __init__ naming its children (lazily) is not a dependency of design.
        and not (is_package and name.startswith(own + "."))
    }


def test_the_top_level_holds_few_modules() -> None:
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_only_the_pytest_side_imports_pytest() -> None:
    importers = {
        name
        for name, path in MODULES.items()
        if any(
            imported == "pytest" or imported.startswith(("pytest.", "_pytest"))
            for imported in imported_names(path)
        )
    }
    outside = sorted(
        name
        for name in importers
        if name.removeprefix("pytest_llmeval.").split(".")[0] not in PYTEST_SIDE
    )
    assert outside == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_too_long(name: str) -> None:
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{name} has {lines} lines"


def test_imports_have_no_cycle() -> None:
    graph = {name: internal_imports(path) for name, path in MODULES.items()}
    cycles = strongly_connected(graph)
    assert cycles == []


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_two_packages_import_each_other() -> None:
    """Each package reads knowing only the ones below it (docs/architecture.md draws them)."""

    def room(name: str) -> str:
        return name.removeprefix("pytest_llmeval").lstrip(".").split(".")[0] or "__init__"

    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        graph.setdefault(room(name), set()).update(
            room(imported) for imported in internal_imports(path) if room(imported) != room(name)
        )
    assert strongly_connected(graph) == []
