"""Every plugin under plugins/ imports only the core's documented public modules (PLUGIN_MODULES)."""

from __future__ import annotations

import ast
from pathlib import Path

import moonshine_core

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def core_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import of a ``moonshine_core`` module in one file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "moonshine_core"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "moonshine_core":
            found.append((node.lineno, node.module))
            # ``from moonshine_core import ids`` imports a module too.
            if node.module == "moonshine_core":
                found += [(node.lineno, f"moonshine_core.{alias.name}") for alias in node.names
                          if alias.name not in moonshine_core.__all__]
    return found


def offending(root: Path) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        for line, module in core_imports(path):
            if module not in moonshine_core.PLUGIN_MODULES:
                bad.append(f"{path.relative_to(root)}:{line}: imports {module}")
    return bad


def test_plugins_import_only_public_core_modules():
    plugins = sorted(p for p in PLUGINS.iterdir() if (p / "pyproject.toml").exists())
    assert plugins, f"no plugins under {PLUGINS}"
    assert offending(PLUGINS) == []


def test_the_check_catches_a_private_import(tmp_path):
    (tmp_path / "plugin.py").write_text("from moonshine_core.ids import content_sha256\n"
                                        "from moonshine_core import hookimpl, store\n"
                                        "def f():\n    import moonshine_core.ingest\n")
    assert offending(tmp_path) == ["plugin.py:1: imports moonshine_core.ids",
                                   "plugin.py:2: imports moonshine_core.store",
                                   "plugin.py:4: imports moonshine_core.ingest"]


def test_every_public_module_exists():
    import importlib

    for name in moonshine_core.PLUGIN_MODULES:
        importlib.import_module(name)
