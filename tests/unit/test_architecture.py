"""The shape of the code the Lambdas run: no import cycle, no module name twice, an app that only registers."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).parents[2]
CHALICELIB = ROOT / "chalicelib"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_run(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import that runs, at the top or in a function: not those only a type checker reads."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(inner) for stmt in node.body for inner in ast.walk(stmt)}
    return [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) and id(n) not in skipped]


def _graph() -> dict[str, set[str]]:
    modules = {_module(path): path for path in CHALICELIB.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in _imports_run(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            graph[name] |= {target for target in targets if target in modules and target != name}
    return graph


def test_no_module_of_chalicelib_imports_itself_back_through_others() -> None:
    graph = _graph()
    cycles = []
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph[module]):
            # A package's __init__ importing its own modules is how a package gathers them, not a cycle.
            if imported.startswith(module + "."):
                continue
            if state.get(imported) == "open":
                cycles.append([*path[path.index(imported) :], imported] if imported in path else [module, imported])
            elif imported not in state:
                visit(imported, [*path, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_no_module_name_is_used_twice_across_chalicelibs_packages() -> None:
    names = Counter(path.name for path in CHALICELIB.rglob("*.py") if path.name != "__init__.py")
    assert [name for name, count in names.items() if count > 1] == []


def test_the_app_only_registers_its_blueprints() -> None:
    assert len((ROOT / "app.py").read_text().splitlines()) <= 80
