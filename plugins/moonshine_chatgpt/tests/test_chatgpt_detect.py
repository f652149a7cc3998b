"""Detection: every input layout is recognised with its variant; foreign exports are not claimed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moonshine_chatgpt import synthetic as syn
from moonshine_chatgpt.detect import detect
from moonshine_core.sources import ExportSource

DEEPSEEK = [{"id": "ds-1", "title": "t", "inserted_at": "2025-01-30T06:00:00+08:00",
             "updated_at": "2025-01-30T06:10:00+08:00", "mapping": {
                 "root": {"id": "root", "parent": None, "children": ["1"], "message": None},
                 "1": {"id": "1", "parent": "root", "children": [], "message": {
                     "files": [], "model": "deepseek-chat", "inserted_at": "2025-01-30T06:00:01+08:00",
                     "fragments": [{"type": "REQUEST", "content": "hi"}]}}}}]
CLAUDE = [{"uuid": "c-1", "name": "x", "created_at": "2024-01-01T00:00:00Z", "chat_messages": [
    {"uuid": "m1", "sender": "human", "text": "hi"}]}]


def _detect(path: Path):
    with ExportSource(path) as source:
        return detect(source)


def _write(path: Path, data) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("layout,as_zip,variant", [
    ("single", True, "zip:single"),
    ("single", False, "folder:single"),
    ("sharded", True, "zip:sharded"),
    ("sharded", False, "folder:sharded"),
])
def test_archives(tmp_path, layout, as_zip, variant):
    target = tmp_path / ("export.zip" if as_zip else "export")
    syn.write_export(target, syn.export_files(layout), as_zip=as_zip)
    found = _detect(target)
    assert found is not None and found.provider == "chatgpt"
    assert found.variant == variant
    assert found.confidence >= 0.9
    assert "side files" in found.evidence


def test_bare_conversations_file(tmp_path):
    found = _detect(_write(tmp_path / "conversations.json", [syn.conversation_2023()]))
    assert found.variant == "file:single" and found.confidence >= 0.9


def test_renamed_conversations_file_is_recognised_by_content(tmp_path):
    found = _detect(_write(tmp_path / "my backup.json", [syn.conversation_2026_slim()]))
    assert found is not None and found.variant == "file:single"


def test_wrapper(tmp_path):
    found = _detect(_write(tmp_path / "conversations.json", {"conversations": [syn.conversation_2025()]}))
    assert found.variant == "file:wrapped"


@pytest.mark.parametrize("name,data,variant", [
    ("message_feedback.json", syn.feedback_records(), "file:feedback"),
    ("model_comparisons.json", syn.comparison_records(), "file:comparisons"),
    ("model_comparisons.json", syn.comparison_records()[2:], "file:comparisons"),
    ("shared_conversations.json", syn.shared_records(), "file:shared_conversations"),
    ("user.json", syn.user_record(), "file:user"),
    ("x__message_feedback.json", [], "file:feedback"),
    ("x__model_comparisons.json", [], "file:comparisons"),
])
def test_bare_side_files(tmp_path, name, data, variant):
    found = _detect(_write(tmp_path / name, data))
    assert found is not None and found.variant == variant


def test_folder_of_side_files_only(tmp_path):
    files = {k: v for k, v in syn.export_files("single").items() if k != "conversations.json"}
    syn.write_export(tmp_path / "sides", files)
    found = _detect(tmp_path / "sides")
    assert found.variant == "folder:side-files"


def test_folder_of_renamed_files(tmp_path):
    _write(tmp_path / "a__conversations.json", [syn.conversation_2023()])
    _write(tmp_path / "a__message_feedback.json", syn.feedback_records())
    found = _detect(tmp_path)
    assert found.variant == "folder:loose"


@pytest.mark.parametrize("data", [DEEPSEEK, CLAUDE, {"conversations": CLAUDE}, [], {"a": 1}, "text"])
def test_foreign_files_are_not_claimed(tmp_path, data):
    assert _detect(_write(tmp_path / "conversations.json", data)) is None


def test_deepseek_zip_is_not_claimed(tmp_path):
    target = syn.write_export(tmp_path / "deepseek.zip", {
        "conversations.json": DEEPSEEK,
        "user.json": {"user_id": "u", "email": "e@example.invalid", "mobile": None, "oauth_profiles": None}},
        as_zip=True)
    assert _detect(target) is None


def test_deepseek_user_json_is_not_claimed(tmp_path):
    assert _detect(_write(tmp_path / "user.json", {"user_id": "u", "email": "e", "mobile": None})) is None


def test_garbage_is_not_claimed(tmp_path):
    path = tmp_path / "conversations.json"
    path.write_bytes(b"\x00\x01 not json")
    assert _detect(path) is None
