"""docs/plugin_hooks.md must document every hookspec with its exact signature."""

import inspect
import re
from pathlib import Path

from moonshine_core import hookspecs

DOC = (Path(__file__).resolve().parents[1] / "docs" / "plugin_hooks.md").read_text()


def specs():
    return {name: fn for name, fn in vars(hookspecs).items()
            if name.startswith("moonshine_") and callable(fn) and hasattr(fn, "moonshine_spec")}


def test_every_hookspec_has_a_section_and_exact_signature():
    assert specs(), "no hookspecs found"
    for name, fn in specs().items():
        signature = f"{name}({', '.join(inspect.signature(fn).parameters)})"
        assert f"## {name}\n" in DOC, f"no section for {name}"
        assert f"    {signature}\n" in DOC, f"signature {signature} not documented"


def test_doc_names_no_hook_that_does_not_exist():
    documented = set(re.findall(r"^## (moonshine_\w+)$", DOC, flags=re.M))
    assert documented == set(specs())


def test_every_hook_has_a_test():
    tests = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    for name in specs():
        short = name.removeprefix("moonshine_")
        assert f"def test_hook_{short}" in tests or f"test_hook_{short}_" in tests or \
            re.search(rf"def test_hook_\w*{short}", tests), f"no test_hook_* test for {name}"
