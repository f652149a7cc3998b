"""Fixture builders for the DeepSeek plugin tests: synthetic exports written in code."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

import moonshine_deepseek.plugin as deepseek_plugin
from moonshine_deepseek.plugin import plugin as deepseek
from moonshine_core.errors import NormalizeError
from moonshine_core.records import Comparison, Conversation, SideRecord
from moonshine_core.sources import ExportSource
from moonshine_core.testing import plugin_manager_for

SAMPLES = Path(deepseek_plugin.__file__).resolve().parent / "samples"


def node(node_id: str, parent: str | None, children: list[str], message: Any) -> dict[str, Any]:
    return {"id": node_id, "parent": parent, "children": children, "message": message}


def message(when: str, fragments: list[Any], model: Any = "deepseek-chat", files: Any = None) -> dict[str, Any]:
    return {"files": files if files is not None else [], "model": model, "inserted_at": when, "fragments": fragments}


def frag(kind: str, content: Any = "", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "content": content, **extra}


def chain(conv_id: str, turns: list[tuple[str, list[dict[str, Any]]]], *, start: str = "2025-07-11T12:00:",
          title: str = "t") -> dict[str, Any]:
    """A single-branch official-export conversation from (role-ish label, fragments) turns."""
    mapping = {"root": node("root", None, ["1"] if turns else [], None)}
    for i, (_, fragments) in enumerate(turns, start=1):
        mapping[str(i)] = node(str(i), "root" if i == 1 else str(i - 1),
                               [str(i + 1)] if i < len(turns) else [],
                               message(f"{start}{i:02d}.000000+08:00", fragments))
    return {"id": conv_id, "title": title, "inserted_at": f"{start}00.000000+08:00",
            "updated_at": f"{start}59.000000+08:00", "mapping": mapping}


def write_json(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    return path


def write_zip(path: Path, members: dict[str, Any]) -> Path:
    """A zip whose members are JSON values (or raw bytes/str)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in members.items():
            if isinstance(value, bytes):
                archive.writestr(name, value)
            elif isinstance(value, str):
                archive.writestr(name, value.encode("utf-8"))
            else:
                archive.writestr(name, json.dumps(value, ensure_ascii=False))
    return path


USER_JSON = {"user_id": "00000000-0000-4000-8000-0000000000aa", "email": "someone@example.com",
             "mobile": None, "oauth_profiles": None}


@pytest.fixture
def pm(monkeypatch):
    """A plugin manager with only this plugin (registered directly, not through its entry point).

    Unexpected exceptions in normalize are let out (``raise_unexpected``), so a bug fails the test
    instead of hiding as one more per-record NormalizeError.
    """
    monkeypatch.setattr(deepseek, "raise_unexpected", True)
    return plugin_manager_for("deepseek", deepseek)


@pytest.fixture
def run(pm):
    """Parse and normalise an export; returns (conversations, comparisons, side records, failures)."""

    def _run(path: Path) -> tuple[list[Conversation], list[Comparison], list[SideRecord], list[str]]:
        records: list[Any] = []
        failures: list[str] = []
        with ExportSource(path) as source:
            for raw in pm.parse("deepseek", source):
                try:
                    records.extend(pm.normalize("deepseek", raw))
                except NormalizeError as exc:
                    failures.append(str(exc))
        return ([r for r in records if isinstance(r, Conversation)],
                [r for r in records if isinstance(r, Comparison)],
                [r for r in records if isinstance(r, SideRecord)], failures)

    return _run


@pytest.fixture
def detect(pm):
    def _detect(path: Path):
        with ExportSource(path) as source:
            found, errors = pm.detect(source)
        assert not errors, errors
        return found[0] if found else None

    return _detect


@pytest.fixture
def build():
    """The builders above, for test modules (conftest cannot be imported under --import-mode=importlib)."""
    import types

    return types.SimpleNamespace(node=node, message=message, frag=frag, chain=chain, write_json=write_json,
                                 write_zip=write_zip, user_json=dict(USER_JSON), samples=SAMPLES)
