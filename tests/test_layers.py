"""The layers of the house, read from the source: which package may import which, and no cycles.

Services meet on the bus; what several of them need is a library that imports no service. The table
below is the rule (docs/architecture.md shows it as a picture); every module's imports are read with
`ast`, so a new import that breaks it fails here before anyone has to notice it in review.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

LIBRARIES = {
    "bus_schemas": set[str](),
    "pagi": {"bus_schemas"},
    "records": {"bus_schemas", "pagi"},
    "sandbox": {"bus_schemas", "pagi"},
}
SERVICES = ("edge", "planner", "memory_worker", "tool_worker", "build_worker", "telemetry_agent")
ALLOWED: dict[str, set[str]] = {
    **LIBRARIES,
    **{service: set(LIBRARIES) for service in SERVICES},
    # The command line starts services and may use any of them.
    "pagi_cli": set(LIBRARIES) | set(SERVICES),
}
OURS = set(ALLOWED)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (a submodule when `from package import submodule`)
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> Iterator[Path]:
    for package in sorted(OURS):
        yield from sorted((ROOT / package).rglob("*.py"))


def is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import that runs (at module level or inside a function), not those only for type checkers."""
    for node in ast.iter_child_nodes(tree):
        if is_type_checking_block(node):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from import_nodes(node)


def imports_of(path: Path, modules: set[str], source: str | None = None) -> Iterator[Import]:
    """The imports of the module at `path` (its text, or `source` in its place), resolved to module names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    text = path.read_text() if source is None else source
    for node in import_nodes(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, node.lineno)
            continue
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            source = ".".join([*base, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            yield Import(name, submodule if submodule in modules else source, node.lineno)


def all_imports() -> list[Import]:
    files = list(source_files())
    modules = {module_name(path) for path in files}
    return [imp for path in files for imp in imports_of(path, modules) if imp.target.split(".")[0] in OURS]


def top(module: str) -> str:
    return module.split(".")[0]


def test_the_layer_table_names_every_top_level_package() -> None:
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()} - {"tests", "bench"}
    assert packages == OURS, "a new top-level package needs its row in ALLOWED (and in docs/architecture.md)"


def test_no_package_imports_a_package_its_layer_may_not() -> None:
    broken = [
        f"{imp.module} (line {imp.line}) imports {imp.target}: {top(imp.module)} may import only "
        f"{sorted(ALLOWED[top(imp.module)]) or 'nothing of ours'}"
        for imp in all_imports()
        if top(imp.target) != top(imp.module) and top(imp.target) not in ALLOWED[top(imp.module)]
    ]
    assert not broken, "\n".join(broken)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as the list of modules around it, or None (depth-first, iterative)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in sorted(graph):
        if state.get(start):
            continue
        path: list[str] = [start]
        pending: list[Iterator[str]] = [iter(sorted(graph[start]))]
        state[start] = 1
        while pending:
            nxt = next(pending[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                pending.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                pending.append(iter(sorted(graph.get(nxt, set()))))
    return None


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for imp in all_imports():
        if imp.target != imp.module:
            graph.setdefault(imp.module, set()).add(imp.target)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize(
    ("graph", "has_cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, False),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
        ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, False),
        ({"a": {"a2"}, "a2": {"b"}, "b": {"a2"}}, True),
    ],
)
def test_the_cycle_finder_finds_cycles(graph: dict[str, set[str]], has_cycle: bool) -> None:
    assert (find_cycle(graph) is not None) == has_cycle


def test_the_import_reader_sees_relative_submodule_and_function_level_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "from .sibling import thing\n"
        "from ..other import x\n"
        "if TYPE_CHECKING:\n"
        "    from planner import loop\n"
        "def f():\n"
        "    import edge.app\n"
    )
    path = ROOT / "pagi" / "bus" / "example.py"
    modules = {"pagi.bus.sibling"}
    tree_imports = list(imports_of(path, modules, source))
    assert [(i.target, i.line) for i in tree_imports] == [
        ("typing", 1),
        ("pagi.bus.sibling", 2),
        ("pagi.bus.sibling", 3),
        ("pagi.other", 4),
        ("edge.app", 8),
    ]
