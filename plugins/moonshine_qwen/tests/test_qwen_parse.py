"""Parsing: streaming, containers, and clear refusals of files that are not whole exports."""

from __future__ import annotations

import inspect
import json
import zipfile

import pytest

from moonshine_core.errors import ParseError
from moonshine_core.records import RawRecord
from moonshine_core.sources import ExportSource

from moonshine_qwen.plugin import plugin
import qwen_builders as qb


def test_parse_is_a_generator_of_raw_records(tmp_path):
    path = qb.write(tmp_path, qb.envelope([qb.simple_conversation("c1"), qb.simple_conversation("c2")]))
    with ExportSource(path) as source:
        result = plugin.moonshine_parse(provider="qwen", source=source)
        assert inspect.isgenerator(result)
        items = list(result)
    conversations = [r for r in items if r.kind == "conversation"]
    assert [r.data["id"] for r in conversations] == ["c1", "c2"]
    assert all(isinstance(r, RawRecord) and r.variant == "export_all" for r in conversations)
    assert [r.index for r in conversations] == [0, 1]
    # one account record per distinct user id, after the conversations
    assert items[-1].kind == "side" and items[-1].data == {"user_id": "user-1"}


def test_other_provider_returns_none(tmp_path):
    path = qb.write(tmp_path, qb.envelope([qb.simple_conversation()]))
    with ExportSource(path) as source:
        assert plugin.moonshine_parse(provider="chatgpt", source=source) is None


def test_per_chat_array_with_several_conversations(tmp_path):
    path = qb.write(tmp_path, [qb.simple_conversation("c1"), qb.simple_conversation("c2")], "chat-export-1.json")
    assert [r.data["id"] for r in qb.raws(path) if r.kind == "conversation"] == ["c1", "c2"]


def test_api_chat_body_yields_its_conversation(tmp_path):
    path = qb.write(tmp_path, {"success": True, "request_id": "r", "data": qb.simple_conversation("solo")})
    convs = [r for r in qb.raws(path) if r.kind == "conversation"]
    assert [r.data["id"] for r in convs] == ["solo"] and convs[0].variant == "api_chat"


def test_folder_of_per_chat_downloads(tmp_path):
    folder = tmp_path / "downloads"
    folder.mkdir()
    qb.write(folder, [qb.simple_conversation("c1")], "chat-export-1.json")
    qb.write(folder, [qb.simple_conversation("c2")], "chat-export-2.json")
    (folder / "notes.json").write_text('{"unrelated": true}', encoding="utf-8")
    assert sorted(r.data["id"] for r in qb.raws(folder) if r.kind == "conversation") == ["c1", "c2"]


def test_zip_container(tmp_path):
    archive = tmp_path / "qwen.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("chat-export.json", json.dumps(qb.envelope([qb.simple_conversation()])))
    assert len([r for r in qb.raws(archive) if r.kind == "conversation"]) == 1


def test_empty_export_yields_nothing(tmp_path):
    assert qb.raws(qb.write(tmp_path, qb.envelope([]))) == []


def test_truncated_export_is_refused_naming_what_is_missing(tmp_path):
    text = json.dumps(qb.envelope([qb.simple_conversation("c1"), qb.simple_conversation("c2")]), indent=1)
    path = tmp_path / "chat-export.json"
    path.write_text(text[: int(len(text) * 0.8)], encoding="utf-8")
    with pytest.raises(ParseError) as info:
        qb.raws(path)
    message = str(info.value)
    assert "truncated JSON" in message and "before the data array closes" in message
    assert "1 complete conversation(s)" in message and "conversation #2, id c2" in message
    assert str(path) in message


def test_truncated_per_chat_array(tmp_path):
    text = json.dumps([qb.simple_conversation("c1")])
    path = tmp_path / "chat-export-1.json"
    path.write_text(text[:-1], encoding="utf-8")
    with pytest.raises(ParseError, match="before the top-level array of conversations closes"):
        qb.raws(path)


def test_console_capture_is_refused_before_any_record(tmp_path):
    text = json.dumps(qb.envelope([qb.simple_conversation()]), indent=2)
    path = tmp_path / "EXCERPT_head.txt"
    path.write_text("\n(env) C:\\data> head -n 30 chat-export.json\n" + "\n".join(text.splitlines()[:30]) + "\n",
                    encoding="utf-8")
    with ExportSource(path) as source:
        with pytest.raises(ParseError) as info:
            plugin.moonshine_parse(provider="qwen", source=source)
    message = str(info.value)
    assert "truncated JSON" in message and "before the data array closes" in message
    assert "1 line(s) of non-JSON text" in message and "0 complete conversation(s)" in message


def test_complete_json_after_console_text_is_still_refused(tmp_path):
    path = tmp_path / "capture.txt"
    path.write_text("$ cat chat-export.json\n" + json.dumps(qb.envelope([qb.simple_conversation()])),
                    encoding="utf-8")
    with pytest.raises(ParseError, match="preceded by text"):
        qb.raws(path)


def test_envelope_without_data_is_refused(tmp_path):
    path = qb.write(tmp_path, {"success": False, "request_id": "r", "data": None})
    with pytest.raises(ParseError, match="holds no data array"):
        qb.raws(path)


def test_no_qwen_file_is_refused(tmp_path):
    path = qb.write(tmp_path, [{"id": "x", "mapping": {}}])
    with pytest.raises(ParseError, match="no Qwen chat export found"):
        qb.raws(path)


def test_trailing_garbage_is_named(tmp_path):
    path = tmp_path / "chat-export.json"
    path.write_text(json.dumps(qb.envelope([qb.simple_conversation()])) + " }", encoding="utf-8")
    with pytest.raises(ParseError, match="after the end of the JSON document"):
        qb.raws(path)


def test_syntax_error_mid_file_is_not_called_truncation(tmp_path):
    text = json.dumps(qb.envelope([qb.simple_conversation("c1"), qb.simple_conversation("c2")]))
    cut = text.index('"c2"')
    path = tmp_path / "chat-export.json"
    path.write_text(text[:cut] + "@@" + text[cut:], encoding="utf-8")
    with pytest.raises(ParseError) as info:
        qb.raws(path)
    assert "invalid JSON" in str(info.value) and "truncated" not in str(info.value)


def test_bare_conversation_object(tmp_path):
    path = qb.write(tmp_path, qb.simple_conversation("bare"))
    convs = [r for r in qb.raws(path) if r.kind == "conversation"]
    assert [(r.data["id"], r.variant) for r in convs] == [("bare", "conversation")]
