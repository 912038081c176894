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


def _imports_run(tree: ast.Module, type_checking: bool = False) -> list[ast.Import | ast.ImportFrom]:
    """Every import that runs, at the top or in a function, and with `type_checking` those only a type checker
    reads."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if not type_checking and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(inner) for stmt in node.body for inner in ast.walk(stmt)}
    return [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) and id(n) not in skipped]


def _graph(type_checking: bool = False) -> dict[str, set[str]]:
    modules = {_module(path): path for path in CHALICELIB.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in _imports_run(ast.parse(path.read_text()), type_checking):
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


def test_no_cycle_even_through_what_only_a_type_checker_reads() -> None:
    graph = _graph(type_checking=True)
    assert [f"{a} <-> {b}" for a in sorted(graph) for b in sorted(graph[a]) if a < b and a in graph[b]] == []


# Every Lambda imports app.py, so these three modules defer what each of their functions uses to that function.
ENTRY_LAYER = {"chalicelib/api/routes.py", "chalicelib/stages/lambdas.py", "chalicelib/events/handlers.py"}


def test_an_import_inside_a_function_says_why_unless_it_is_the_lambda_entry_layer() -> None:
    """Imports belong at the top; one inside a function is a cold-start choice and carries its reason (a comment
    on its line, or just above the group of imports it starts)."""
    unexplained = []
    for path in sorted(CHALICELIB.rglob("*.py")):
        where = path.relative_to(ROOT).as_posix()
        if where in ENTRY_LAYER:
            continue
        lines = path.read_text().splitlines()
        inner = [
            node
            for function in ast.walk(ast.parse(path.read_text()))
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
            for node in ast.walk(function)
            if isinstance(node, ast.Import | ast.ImportFrom)
        ]
        import_lines = {line for node in inner for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)}
        for node in inner:
            above = node.lineno - 1
            if "#" in lines[node.lineno - 1] or above in import_lines or lines[above - 1].strip().startswith("#"):
                continue
            unexplained.append(f"{where}:{node.lineno}")
    assert unexplained == []
