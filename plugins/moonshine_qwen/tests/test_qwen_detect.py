"""Detection: each container variant is recognised, other providers' exports are not claimed."""

from __future__ import annotations

import json
import zipfile

import pytest

from moonshine_core.sources import ExportSource
from moonshine_core.testing import real_export_files

import qwen_builders as qb


def detect(path):
    with ExportSource(path) as source:
        found, errors = qb.manager().detect(source)
    assert not errors, errors
    return found[0] if found else None


def test_export_all_envelope(tmp_path):
    found = detect(qb.write(tmp_path, qb.envelope([qb.simple_conversation()])))
    assert (found.provider, found.variant) == ("qwen", "export_all")
    assert found.confidence >= 0.9


def test_per_chat_array(tmp_path):
    conv = qb.simple_conversation()
    found = detect(qb.write(tmp_path, [conv], "chat-export-1767225600000.json"))
    assert found.variant == "per_chat" and found.confidence >= 0.9


def test_per_chat_list_only_shape(tmp_path):
    conv = {"id": "c", "chat": {"messages": [{"id": "u", "role": "user", "content": "hi"},
                                             {"id": "a", "role": "assistant", "content": "",
                                              "content_list": [{"phase": "answer", "content": "yo"}]}]}}
    assert detect(qb.write(tmp_path, [conv])).variant == "per_chat"


def test_api_chat_body(tmp_path):
    found = detect(qb.write(tmp_path, {"success": True, "request_id": "r", "data": qb.simple_conversation()}))
    assert found.variant == "api_chat"


def test_bare_conversation_object(tmp_path):
    assert detect(qb.write(tmp_path, qb.simple_conversation())).variant == "conversation"


def test_empty_export_all(tmp_path):
    found = detect(qb.write(tmp_path, qb.envelope([])))
    assert found.variant == "export_all" and 0.5 <= found.confidence < 0.9


def test_envelope_without_data(tmp_path):
    found = detect(qb.write(tmp_path, {"success": False, "request_id": "r", "data": None}))
    assert found.variant == "envelope_without_data"


def test_console_capture(tmp_path):
    text = json.dumps(qb.envelope([qb.simple_conversation()]), indent=1)
    head = "\n".join(text.splitlines()[:20])
    path = tmp_path / "capture.txt"
    path.write_text("\nC:\\> head -n 20 data\\chat-export.json\n" + head + "\n", encoding="utf-8")
    found = detect(path)
    assert found.variant == "console_capture" and found.confidence == 0.5


def test_plain_open_webui_array_is_a_weak_claim(tmp_path):
    conv = {"id": "c", "title": "t", "chat": {"history": {"messages": {
        "u": {"id": "u", "role": "user", "content": "hi", "parentId": None, "childrenIds": ["a"]},
        "a": {"id": "a", "role": "assistant", "content": "yo", "parentId": "u", "childrenIds": [],
              "model": "qwen2.5:7b", "modelName": "qwen2.5:7b", "modelIdx": 0}},
        "currentId": "a"}}}
    found = detect(qb.write(tmp_path, [conv]))
    assert found.variant == "per_chat_openwebui_like" and found.confidence < 0.5


def test_inside_zip_and_folder(tmp_path):
    data = json.dumps(qb.envelope([qb.simple_conversation()]))
    archive = tmp_path / "qwen.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("export/chat-export.json", data)
        zf.writestr("README.md", "not json")
    assert detect(archive).variant == "export_all"
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "chat-export.json").write_text(data, encoding="utf-8")
    assert detect(folder).variant == "export_all"


@pytest.mark.parametrize("payload", [
    [{"id": "x", "mapping": {}, "current_node": None, "title": "chatgpt"}],
    [{"uuid": "x", "name": "claude", "chat_messages": []}],
    [{"id": "x", "title": "deepseek", "inserted_at": "2025-01-01T00:00:00+08:00", "mapping": {"root": {}}}],
    {"code": 0, "msg": "", "data": {"biz_code": 0, "biz_data": {"chat_session": {}, "chat_messages": []}}},
    {"success": True, "data": [{"id": 1, "name": "not a chat"}]},
    "just a string",
])
def test_other_shapes_not_claimed(tmp_path, payload):
    assert detect(qb.write(tmp_path, payload)) is None


def test_garbage_not_claimed(tmp_path):
    path = tmp_path / "x.json"
    path.write_bytes(b"\x00\x01 not json at all")
    assert detect(path) is None
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    assert detect(empty) is None


OTHER_FOLDERS = ["chatgpt", "claude", "claude_code", "deepseek"]


@pytest.mark.real_exports
@pytest.mark.parametrize("folder", OTHER_FOLDERS)
def test_real_exports_of_other_providers_not_claimed(folder):
    files = real_export_files(folder, start=__file__)
    if not files:
        pytest.skip(f"no real exports in {folder}/")
    claimed = [f.name for f in files if detect(f) is not None]
    assert claimed == []
