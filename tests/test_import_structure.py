"""The import structure of ``moonshine_core``: no cycles, and no imports hidden in functions to dodge one.

Every module is parsed with ``ast`` (nothing is imported). An edge A -> B means
that importing A runs B: B is imported at module level (class bodies and
``try``/``if`` blocks included, ``if TYPE_CHECKING:`` blocks not), or B is a
package whose ``__init__`` runs because A imports something inside it (unless
B contains A, in which case it is already running).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import moonshine_core

ROOT = "moonshine_core"
PACKAGE_DIR = Path(moonshine_core.__file__).parent

#: Modules allowed to import ``moonshine_core`` modules inside functions, with the reason.
ALLOWED_FUNCTION_IMPORTS = {
    # Startup time: each command imports the stage it runs when it runs, and the plugin manager is
    # built on first use, so `moonshine --help` loads no DB, tokenizer or plugin code. Nothing outside
    # the CLI imports these modules (test_nothing_imports_the_cli), so no deferral here dodges a cycle.
    "moonshine_core.cli.commands": "startup time",
    "moonshine_core.cli.distill_command": "startup time",
    "moonshine_core.cli.export_command": "startup time",
    "moonshine_core.cli.gc_command": "startup time",
    "moonshine_core.cli.group": "startup time",
    "moonshine_core.cli.search_command": "startup time",
    "moonshine_core.cli.show_command": "startup time",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement with whether it runs inside a function."""
    def walk(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, in_function
            elif isinstance(child, ast.If) and _is_type_checking(child):
                yield from walk(ast.Module(body=child.orelse, type_ignores=[]), in_function)
            else:
                inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                yield from walk(child, inner)
    yield from walk(tree, False)


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The ``moonshine_core`` modules an import statement names (before adding parent packages)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name.split(".")[0] == ROOT}
    if node.level:
        base = module.split(".") if _is_package(module) else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    if source.split(".")[0] != ROOT:
        return set()
    return {source} | {f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in MODULES}


def _runs(module: str, target: str) -> set[str]:
    """The modules whose top level runs when ``module`` imports ``target``."""
    parts = target.split(".")
    chain = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    containing = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 2)}
    return {m for m in chain if m in MODULES and m not in containing}


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, int, str]]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    deferred: list[tuple[str, int, str]] = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, in_function in _imports(tree):
            for target in _targets(module, node):
                if in_function:
                    deferred.append((module, node.lineno, target))
                else:
                    edges[module] |= _runs(module, target)
    return edges, deferred


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1 or node in edges[node]:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_parser_sees_the_package():
    edges, _ = _graph()
    assert "moonshine_core.gates.five" in edges["moonshine_core.merge.run"] or \
        "moonshine_core.gates" in edges["moonshine_core.merge.run"]
    assert "moonshine_core.cli.commands" in edges["moonshine_core.cli"]


def test_no_import_cycles():
    edges, _ = _graph()
    assert _cycles(edges) == []


def test_a_cycle_is_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_function_level_imports_outside_the_allow_list():
    _, deferred = _graph()
    hidden = [f"{module}:{line} imports {target}" for module, line, target in deferred
              if module not in ALLOWED_FUNCTION_IMPORTS]
    assert hidden == []


def test_the_allow_list_has_no_stale_entries():
    _, deferred = _graph()
    assert set(ALLOWED_FUNCTION_IMPORTS) <= {module for module, _, _ in deferred}


def test_nothing_imports_the_cli():
    edges, deferred = _graph()
    cli = f"{ROOT}.cli"
    outside = [f"{m} -> {t}" for m, targets in edges.items() if not m.startswith(cli) for t in targets
               if t.startswith(cli)]
    outside += [f"{m} -> {t} (in a function)" for m, _, t in deferred if not m.startswith(cli) and t.startswith(cli)]
    assert outside == []


def test_loading_the_plugins_imports_no_scipy():
    """Every command loads the plugin manager first; scipy (through datasketch) would cost ~0.5 s each time."""
    import subprocess
    import sys

    code = ("import sys; from moonshine_core.plugins import make_plugin_manager; make_plugin_manager(); "
            "print(sorted(m for m in ('scipy', 'datasketch', 'numpy', 'tiktoken') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
