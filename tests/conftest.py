"""Shared fixtures for the core's tests."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

# The contract kit's fixtures (moonshine_workspace, moonshine_ingest), as a plugin author uses them.
pytest_plugins = ["moonshine_core.testing"]

REPO = Path(__file__).resolve().parents[1]
TOY_DIR = Path(__file__).resolve().parent / "toy"


@pytest.fixture
def toy_plugin():
    """The toy provider plugin module that lives in tests/toy."""
    sys.path.insert(0, str(TOY_DIR))
    try:
        import toy_provider

        yield toy_provider
    finally:
        sys.path.remove(str(TOY_DIR))


@pytest.fixture
def moonshine_exe() -> str:
    """The installed ``moonshine`` console script of this environment."""
    exe = Path(sys.executable).parent / "moonshine"
    if not exe.exists():
        found = shutil.which("moonshine")
        if not found:
            pytest.skip("moonshine console script is not installed")
        return found
    return str(exe)


@pytest.fixture(scope="session")
def tiktoken_reference():
    """tiktoken's own o200k_base, built offline from a pre-seeded cache (independent of our loader)."""
    import tempfile

    import tiktoken

    cache = tempfile.mkdtemp(prefix="tiktoken-cache-")
    shutil.copy(REPO / "moonshine_core" / "data" / "o200k_base.tiktoken",
                os.path.join(cache, "fb374d419588a4632f3f557e76b4b70aebbca790"))
    old = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = cache
    try:
        import tiktoken.registry

        tiktoken.registry.ENCODINGS.pop("o200k_base", None)
        yield tiktoken.get_encoding("o200k_base")
    finally:
        if old is None:
            os.environ.pop("TIKTOKEN_CACHE_DIR", None)
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = old
        shutil.rmtree(cache, ignore_errors=True)
