"""Fixture builders for the Gemini plugin tests: synthetic My Activity exports written in code."""

from __future__ import annotations

import json
import types
import zipfile
from pathlib import Path
from typing import Any

import pytest

import moonshine_gemini.plugin as gemini_plugin
from moonshine_core.records import Comparison, Conversation, Feedback, SideRecord
from moonshine_core.sources import ExportSource
from moonshine_core.testing import normalize_all, plugin_manager_for
from moonshine_gemini.plugin import plugin as gemini

SAMPLES = Path(gemini_plugin.__file__).resolve().parent / "samples"
TAKEOUT_JSON = SAMPLES / "gemini_takeout" / "Takeout" / "My Activity" / "Gemini Apps" / "MyActivity.json"
GEMINI_MEMBER = "Takeout/My Activity/Gemini Apps/MyActivity.json"


def rec(title: Any, time: Any, html: Any = None, **extra: Any) -> dict[str, Any]:
    """One Gemini Apps activity record (``html``: a string, a list of strings, or None for no answer)."""
    record: dict[str, Any] = {"header": "Gemini Apps", "title": title, "time": time, "products": ["Gemini Apps"],
                              "activityControls": ["Gemini Apps Activity"]}
    record.update(extra)
    if html is not None:
        record["safeHtmlItem"] = [{"html": h} for h in (html if isinstance(html, list) else [html])]
    return record


def prompt(text: str, time: str, answer: str | None = "<p>ok</p>", **extra: Any) -> dict[str, Any]:
    return rec(f"Prompted {text}", time, answer, **extra)


def link(chat: str) -> list[dict[str, str]]:
    url = f"https://gemini.google.com/app/{chat}"
    return [{"name": url, "url": url}]


def other(header: str, title: str, time: str) -> dict[str, Any]:
    return {"header": header, "title": title, "time": time, "products": [header]}


def _bytes(value: Any) -> bytes:
    """A member's content: bytes as given, text as UTF-8, anything else as JSON."""
    if isinstance(value, (bytes, str)):
        return value if isinstance(value, bytes) else value.encode("utf-8")
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def write_json(path: Path, value: Any) -> Path:
    """``value`` as a JSON file at ``path`` (folders made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_bytes(value))
    return path


def write_zip(path: Path, members: dict[str, Any]) -> Path:
    """A zip of ``{member name: JSON value, text or bytes}``."""
    with zipfile.ZipFile(path, "w") as archive:
        for name in members:
            archive.writestr(name, _bytes(members[name]))
    return path


def count_from_raw(records: list[Any]) -> int:
    """The test's own message count: every Gemini turn record is a prompt, plus an answer when it has one.

    Written here from the format's definition, independently of the plugin's code.
    """
    total = 0
    for r in records:
        if not isinstance(r, dict):
            continue
        header = str(r.get("header", "")) + " ".join(p for p in r.get("products", []) if isinstance(p, str))
        title = r.get("title") if isinstance(r.get("title"), str) else ""
        if "Gemini" not in header or not title.startswith(("Prompted", "Branched")):
            continue
        items = r.get("safeHtmlItem")
        answered = isinstance(items, list) and any(isinstance(i, dict) and isinstance(i.get("html"), str)
                                                   for i in items)
        total += 2 if answered else 1
    return total


@pytest.fixture
def pm(monkeypatch):
    """A manager with only this plugin; unexpected exceptions in normalize are let out to fail the test."""
    monkeypatch.setattr(gemini, "raise_unexpected", True)
    return plugin_manager_for("gemini", gemini)


def _sorted_out(records: list[Any], failures: list[str]) -> types.SimpleNamespace:
    """The records of one export by type, as tests read them."""
    by_type: dict[type, list[Any]] = {}
    for record in records:
        by_type.setdefault(type(record), []).append(record)
    conversations = by_type.get(Conversation, [])
    return types.SimpleNamespace(conversations=conversations, by_id={c.conversation_id: c for c in conversations},
                                 feedback=by_type.get(Feedback, []), comparisons=by_type.get(Comparison, []),
                                 sides=by_type.get(SideRecord, []), failures=failures, records=records)


@pytest.fixture
def run(pm):
    """``run(path)``: the contract kit's ``normalize_all`` over an export, sorted by record type."""
    return lambda path: _sorted_out(*normalize_all(pm, "gemini", path))


@pytest.fixture
def detect(pm):
    """``detect(path)``: the best detection of an export (asserting no detector failed), or ``None``."""
    def best(path: Path):
        with ExportSource(path) as source:
            found, errors = pm.detect(source)
        assert errors == []
        return next(iter(found), None)

    return best


@pytest.fixture
def build():
    """The builders above, for test modules (conftest cannot be imported under --import-mode=importlib)."""
    return types.SimpleNamespace(rec=rec, prompt=prompt, link=link, other=other, write_json=write_json,
                                 write_zip=write_zip, count_from_raw=count_from_raw, samples=SAMPLES,
                                 takeout_json=TAKEOUT_JSON, member=GEMINI_MEMBER)
