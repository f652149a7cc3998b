"""Shared test setup: the helpers are importable, and internal errors are never masked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from moonshine_codex.plugin import plugin  # noqa: E402



@pytest.fixture(autouse=True)
def raise_unexpected(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug that raises TypeError/KeyError inside normalise must fail the test, not become a NormalizeError."""
    monkeypatch.setattr(plugin, "raise_unexpected", True)
