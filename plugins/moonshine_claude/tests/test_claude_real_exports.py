"""Acceptance over the real exports in shared/real-exports/claude and .../claude_code.

Counts are recomputed here straight from the raw files, independently of the plugin.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from moonshine_core.records import Conversation, SideRecord
from moonshine_core.testing import normalize_all, plugin_manager_for, real_export_files
from moonshine_core.trees import check_tree, path_to_root

from moonshine_claude.plugin import plugin

CLAUDE = real_export_files("claude", start=__file__)
CLAUDE_CODE = real_export_files("claude_code", start=__file__)


def _pm():
    return plugin_manager_for("claude", plugin)


def _check_common(path: Path) -> list:
    pm = _pm()
    from moonshine_core.sources import ExportSource
    with ExportSource(path) as source:
        found, errors = pm.detect(source)
    assert not errors and found and found[0].provider == "claude", (path.name, found, errors)
    records, failures = normalize_all(pm, "claude", path)
    assert failures == [], failures
    for record in records:
        if isinstance(record, Conversation):
            assert check_tree(record.messages) == []
            assert record.current_leaf_id in {m.message_id for m in record.messages} or not record.messages
    return records


@pytest.mark.skipif(not CLAUDE, reason="no real claude.ai exports available")
@pytest.mark.parametrize("path", CLAUDE, ids=[p.name for p in CLAUDE])
def test_claude_ai_real_export(path: Path) -> None:
    records = _check_common(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    items = data.get("conversations", data.get("projects")) if isinstance(data, dict) else data
    raw_convs = [c for c in items if isinstance(c, dict) and "chat_messages" in c]
    convs = {r.conversation_id: r for r in records if isinstance(r, Conversation)}
    if not raw_convs:
        side = [r for r in records if isinstance(r, SideRecord)]
        assert len(side) == len(items) and side
        if "users" in path.name:
            assert all(s.personal for s in side)
        return
    assert len(convs) == len({c["uuid"] for c in raw_convs})
    for raw in raw_convs:
        conv = convs[raw["uuid"]]
        assert len(conv.messages) == len(raw["chat_messages"]) == conv.raw_message_count
        # no parent links in these eras: one time-ordered branch through every message
        assert conv.order_inferred
        assert path_to_root(conv.messages, conv.current_leaf_id) == [m.message_id for m in conv.messages]
        raw_uses = sum(1 for m in raw["chat_messages"] for b in m.get("content") or [] if b.get("type") == "tool_use")
        raw_results = sum(1 for m in raw["chat_messages"] for b in m.get("content") or []
                          if b.get("type") == "tool_result")
        calls = [c for m in conv.messages for c in m.tool_calls
                 if not (isinstance(c.arguments, dict) and c.arguments.get("source") == "inline_antArtifact")]
        results = [r for m in conv.messages for r in m.tool_results]
        assert (len(calls), len(results)) == (raw_uses, raw_results)
        call_ids = {c.call_id for c in calls}
        assert len(call_ids) == len(calls) and all(r.call_id in call_ids for r in results)
        for message, raw_message in zip(sorted(conv.messages, key=lambda m: m.metadata["source_position"]),
                                        raw["chat_messages"]):
            if raw_message.get("sender") == "assistant" and raw_message.get("content"):
                thinking = [b for b in raw_message["content"] if b.get("type") == "thinking"]
                assert bool(message.reasoning) == any(b.get("thinking") for b in thinking)
                if message.reasoning:
                    assert message.reasoning not in message.text


def _independent_count(lines: list[dict]) -> int:
    keys = set()
    for record in lines:
        if record.get("type") == "assistant" and record.get("message", {}).get("id"):
            keys.add(record["message"]["id"])
        elif record.get("type") in ("user", "system"):
            keys.add(record["uuid"])
    return len(keys)


@pytest.mark.skipif(not CLAUDE_CODE, reason="no real Claude Code sessions available")
@pytest.mark.parametrize("path", CLAUDE_CODE, ids=[p.name for p in CLAUDE_CODE])
def test_claude_code_real_session(path: Path) -> None:
    records = _check_common(path)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    [conv] = [r for r in records if isinstance(r, Conversation)]
    assert conv.conversation_id == next(r["sessionId"] for r in lines if r.get("sessionId"))
    assert len(conv.messages) == conv.raw_message_count == _independent_count(lines)
    uses = {b["id"] for r in lines if r.get("type") == "assistant" for b in r["message"]["content"]
            if b.get("type") == "tool_use"}
    errors = {b["tool_use_id"] for r in lines if r.get("type") == "user" and isinstance(r["message"]["content"], list)
              for b in r["message"]["content"] if b.get("type") == "tool_result" and b.get("is_error")}
    calls = {c.call_id for m in conv.messages for c in m.tool_calls}
    results = {r.call_id: r for m in conv.messages for r in m.tool_results}
    assert calls == uses and set(results) == uses                       # every call paired with its result
    assert {cid for cid, r in results.items() if r.is_error} == errors
    assert all(r.structured is not None for r in results.values())     # toolUseResult kept
    active = set(path_to_root(conv.messages, conv.current_leaf_id))
    assert all(m.message_id in active for m in conv.messages if not m.metadata.get("is_sidechain"))
    assistants = [m for m in conv.messages if m.role == "assistant"]
    assert assistants and all(m.model and not m.model_inferred and m.usage for m in assistants)
    assert not conv.metadata.get("malformed_lines")
