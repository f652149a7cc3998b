"""Detection and parsing of every claude.ai input shape and of Claude Code logs."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from moonshine_core.errors import ParseError
from moonshine_core.sources import ExportSource

import claude_fixtures as F
from helpers_claude import conversations, detected, raws, run, sides
from moonshine_claude.parse import parse


def test_legacy_folder_and_zip(tmp_path: Path) -> None:
    folder = F.write_legacy_folder(tmp_path / "export")
    found = detected(folder)
    assert found.provider == "claude" and found.variant == "claude_ai_legacy"
    archive = F.write_zip(tmp_path / "data-2025-07-06-batch-0000",   # zips arrive without an extension too
                          {p.name: p.read_bytes() for p in folder.iterdir()})
    assert detected(archive).variant == "claude_ai_legacy"
    records = run(archive)
    assert set(conversations(records)) == {F.conversation_2024()["uuid"], F.conversation_2025()["uuid"]}
    assert sorted(s.kind for s in sides(records)) == ["memory", "project", "user"]


def test_conversations_come_before_side_records(tmp_path: Path) -> None:
    kinds = [r.kind for r in raws(F.write_legacy_folder(tmp_path / "export"))]
    assert kinds == sorted(kinds, key=lambda k: k != "conversation")


def test_parse_is_a_generator_and_ignores_junk(tmp_path: Path) -> None:
    folder = F.write_legacy_folder(tmp_path / "export")
    F.write_json(folder / "__MACOSX" / "._conversations.json", {"junk": True})
    with ExportSource(folder) as source:
        result = parse(source)
        assert inspect.isgenerator(result)
        assert len(list(result)) == 5


def test_conversations_file_is_streamed_never_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = F.write_legacy_folder(tmp_path / "export")
    original = ExportSource.load_json

    def guarded(self: ExportSource, name: str, *args, **kwargs):
        assert not name.endswith("conversations.json"), "conversations.json must be streamed"
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(ExportSource, "load_json", guarded)
    assert len(conversations(run(folder))) == 2


def test_bare_conversations_and_wrapper(tmp_path: Path) -> None:
    bare = F.write_json(tmp_path / "conversations.json", [F.conversation_2025()])
    assert detected(bare).variant == "claude_ai_conversations"
    wrapped = F.write_json(tmp_path / "wrapped.json", {"conversations": [F.conversation_2024()], "version": 2})
    assert detected(wrapped).variant == "claude_ai_wrapped"
    assert list(conversations(run(wrapped))) == [F.conversation_2024()["uuid"]]


def test_single_api_conversation(tmp_path: Path) -> None:
    conv = F.conversation_2026()
    conv.update(model="claude-opus-4-1", current_leaf_message_uuid=conv["chat_messages"][1]["uuid"])
    path = F.write_json(tmp_path / "one.json", conv)
    assert detected(path).variant == "claude_ai_api_conversation"
    [c] = conversations(run(path)).values()
    assert c.current_leaf_id == conv["chat_messages"][1]["uuid"] and not c.active_branch_inferred
    assert c.model == "claude-opus-4-1"
    assert {m.model for m in c.messages if m.role == "assistant"} == {"claude-opus-4-1"}
    assert not any(m.model_inferred for m in c.messages)


@pytest.mark.parametrize("name,value,kind,personal", [
    ("users.json", F.users(), "user", True),
    ("projects.json", [F.project()], "project", False),
    ("memories.json", F.memories_legacy(), "memory", True),
    ("projects_wrapped.json", {"projects": [F.project()]}, "project", False),
    ("memories.json", F.memory_2026(), "memory", True),          # reported arriving as a bare object
])
def test_bare_side_files_are_exports(tmp_path: Path, name: str, value, kind: str, personal: bool) -> None:
    path = F.write_json(tmp_path / name, value)
    found = detected(path)
    assert found.provider == "claude" and found.variant == "claude_ai_side_files"
    [record] = sides(run(path))
    assert record.kind == kind and record.personal is personal
    assert record.data["source"]["member"] == name


def test_2026_layout(tmp_path: Path) -> None:
    folder = F.write_2026_folder(tmp_path / "export")
    assert detected(folder).variant == "claude_ai_2026"
    records = run(folder)
    by_kind = {s.kind: s for s in sides(records)}
    assert set(by_kind) == {"user", "project", "memory", "design_chat", "reflection"}
    assert by_kind["reflection"].record_id == "r0000000-0000-4000-8000-000000000001"
    assert by_kind["memory"].record_id == F.ACCOUNT and by_kind["memory"].personal
    assert by_kind["design_chat"].raw["title"] == "Chat"


def test_manifest_with_per_category_zips(tmp_path: Path) -> None:
    folder = F.write_manifest_folder(tmp_path / "export")
    found = detected(folder)
    assert found.variant == "claude_ai_manifest_2026"
    records = run(folder)
    assert list(conversations(records)) == [F.conversation_2026()["uuid"]]
    by_kind = {s.kind: s for s in sides(records)}
    assert set(by_kind) == {"user", "project", "memory", "design_chat", "manifest"}
    manifest = by_kind["manifest"]
    assert "SECRET" not in json.dumps(manifest.data) and "SECRET" not in json.dumps(manifest.raw)
    assert manifest.data["missing_files"] == ["frames-000.zip"]


def test_folder_of_batch_zips(tmp_path: Path) -> None:
    folder = tmp_path / "batches"
    folder.mkdir()
    F.write_zip(folder / "data-x-batch-0000.zip", {"conversations.json": F.dumps([F.conversation_2024()]),
                                                   "users.json": F.dumps(F.users())})
    F.write_zip(folder / "data-x-batch-0001.zip",
                {"conversations-000/conversations.json": F.dumps([F.conversation_2025()])})
    assert detected(folder).variant == "claude_ai_batches"
    records = run(folder)
    assert len(conversations(records)) == 2
    assert [r.member for r in raws(folder) if r.kind == "conversation"] == [
        "data-x-batch-0000.zip!conversations.json", "data-x-batch-0001.zip!conversations-000/conversations.json"]


def test_zip_of_batch_zips(tmp_path: Path) -> None:
    inner = F.write_zip(tmp_path / "b0.zip", {"conversations.json": F.dumps([F.conversation_2025()])})
    outer = F.write_zip(tmp_path / "all.zip", {"batch-0000.zip": inner.read_bytes()})
    assert detected(outer).variant == "claude_ai_batches"
    assert len(conversations(run(outer))) == 1


def test_claude_code_file_and_folder(tmp_path: Path) -> None:
    folder = F.write_claude_code_folder(tmp_path / "projects")
    assert detected(folder).variant == "claude_code_projects"
    session = next(folder.rglob(f"{F.SESSION}.jsonl"))
    assert detected(session).variant == "claude_code_session"
    records = run(folder)
    assert set(conversations(records)) == {F.SESSION, f"{F.SESSION}:agent-abc123"}


def test_history_jsonl_is_not_a_session(tmp_path: Path) -> None:
    (tmp_path / "history.jsonl").write_text('{"display": "hi", "timestamp": 1, "project": "/x"}\n')
    assert detected(tmp_path) is None


@pytest.mark.parametrize("content", [
    [{"id": "x", "mapping": {}, "current_node": "y", "title": "ChatGPT"}],   # ChatGPT's conversations.json
    {"some": "object"},
    [],
])
def test_other_exports_are_not_claimed(tmp_path: Path, content) -> None:
    assert detected(F.write_json(tmp_path / "conversations.json", content)) in (None,) or \
        detected(tmp_path / "conversations.json").confidence < 0.5


def test_invalid_json_raises_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "conversations.json"
    path.write_text('[{"uuid": "x", "chat_messages": [')
    with pytest.raises(ParseError) as info:
        raws(path)
    assert "conversations.json" in str(info.value)


def test_nothing_to_read_raises_parse_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(ParseError):
        raws(tmp_path)


def test_malformed_jsonl_line_is_listed_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / f"{F.SESSION}.jsonl"
    path.write_text(F.jsonl(F.session_records(), malformed=True))
    [conv] = conversations(run(path)).values()
    assert len(conv.metadata["malformed_lines"]) == 1 and "invalid JSON" in conv.metadata["malformed_lines"][0]
    assert len(conv.messages) == conv.raw_message_count


def test_manifest_alone_lists_every_missing_zip(tmp_path: Path) -> None:
    folder = F.write_manifest_folder(tmp_path / "export")
    for archive in folder.glob("*.zip"):
        archive.unlink()
    assert detected(folder).variant == "claude_ai_manifest_2026"
    [manifest] = sides(run(folder))
    assert len(manifest.data["missing_files"]) == 6 and not conversations(run(folder))
