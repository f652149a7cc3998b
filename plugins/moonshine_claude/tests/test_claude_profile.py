"""What users.json and memories say about the owner reaches the core as personal side records:
users' fields as written, memories as ``profile_text`` (the core reads both to redact datasets)."""

from __future__ import annotations

from pathlib import Path

import claude_fixtures as F
from helpers_claude import run, sides
from moonshine_claude.side import memory_texts


def test_users_keep_their_fields_and_memories_expose_their_text(tmp_path: Path) -> None:
    F.write_json(tmp_path / "export" / "users.json", F.users())
    F.write_json(tmp_path / "export" / "memories.json", [{
        "conversations_memory": "**Personal context**\nThe user lives in Tobermory.",
        "project_memories": {"p2": "Second project.", "p1": "First project."}, "account_uuid": F.ACCOUNT}])
    by_kind = {s.kind: s for s in sides(run(tmp_path / "export"))}
    user, memory = by_kind["user"], by_kind["memory"]
    assert user.personal and user.data["value"]["full_name"] == "Test Person"
    assert memory.personal
    assert memory.data["profile_text"] == ["**Personal context**\nThe user lives in Tobermory.",
                                           "First project.", "Second project."]


def test_2026_memory_files_are_profile_text_too() -> None:
    assert memory_texts(F.memory_2026()) == ["Likes haiku.", "---\n---\n- likes haiku"]
    assert memory_texts({"conversations_memory": "  ", "memory_files": [{"path": "/x.md"}, "junk"]}) == []
