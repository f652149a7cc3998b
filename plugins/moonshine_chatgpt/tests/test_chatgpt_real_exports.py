"""Acceptance on the real public exports in ../shared/real-exports/chatgpt (skipped when absent).

Every file must import with no error; for each conversation the stored message
count equals the number of mapping nodes with a message, and the stored active
branch equals the walk from ``current_node`` (computed here independently of
the plugin, on the raw JSON). DeepSeek's real exports must not be claimed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moonshine_chatgpt.plugin import plugin
from moonshine_core.errors import NormalizeError
from moonshine_core.records import Comparison, Conversation, Feedback, SideRecord
from moonshine_core.sources import ExportSource
from moonshine_core.testing import plugin_manager_for, real_export_files
from moonshine_core.trees import check_tree, path_to_root

pytestmark = pytest.mark.real_exports

FILES = real_export_files("chatgpt", start=__file__)
DEEPSEEK_FILES = real_export_files("deepseek", start=__file__)


def _import(path: Path):
    pm = plugin_manager_for("chatgpt", plugin)
    with ExportSource(path) as source:
        detections, errors = pm.detect(source)
        assert not errors
        assert detections and detections[0].provider == "chatgpt", path.name
        records, failures = [], []
        for raw in pm.parse("chatgpt", source):
            try:
                records.extend(pm.normalize("chatgpt", raw))
            except NormalizeError as exc:
                failures.append(str(exc))
    return records, failures


def _raw_conversations(path: Path) -> dict[str, dict]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data = data.get("conversations", [])
    return {(c.get("conversation_id") or c.get("id")): c for c in data if isinstance(c, dict) and "mapping" in c}


def _walk_from_current_node(conversation: dict) -> list[str]:
    mapping = conversation["mapping"]
    node, path, seen = conversation.get("current_node"), [], set()
    while node is not None and node in mapping and node not in seen:
        seen.add(node)
        if mapping[node].get("message") is not None:
            path.append(node)
        node = mapping[node].get("parent")
    return list(reversed(path))


@pytest.mark.skipif(not FILES, reason="no real ChatGPT exports available")
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_real_export_imports(path):
    records, failures = _import(path)
    assert failures == []
    assert records
    raw = _raw_conversations(path) if path.name.endswith("conversations.json") else {}
    conversations = [r for r in records if isinstance(r, Conversation)]
    assert len(conversations) == len(raw)
    for conversation in conversations:
        source = raw[conversation.conversation_id]
        expected = sum(1 for n in source["mapping"].values() if n.get("message") is not None)
        assert len(conversation.messages) == expected == conversation.raw_message_count
        assert check_tree(conversation.messages) == []
        if source.get("current_node") in source["mapping"]:
            assert not conversation.active_branch_inferred
            assert path_to_root(conversation.messages, conversation.current_leaf_id) == \
                _walk_from_current_node(source)
    if "message_feedback" in path.name:
        assert records and all(isinstance(r, Feedback) for r in records)
        assert all(r.rating in ("thumbs_up", "thumbs_down") for r in records)
        assert all(r.conversation_id and "-" in r.conversation_id for r in records)
    if "model_comparisons" in path.name:
        assert all(isinstance(r, Comparison) and r.source == "model_comparisons" for r in records)
        assert all(r.chosen_message_ids or r.rating in ("same", "skip") for r in records)
        assert not any("cf_headers" in json.dumps(r.raw) for r in records)
    if "shared_conversations" in path.name:
        assert all(isinstance(r, SideRecord) for r in records)


@pytest.mark.skipif(not DEEPSEEK_FILES, reason="no real DeepSeek exports available")
@pytest.mark.parametrize("path", DEEPSEEK_FILES, ids=[p.name for p in DEEPSEEK_FILES])
def test_deepseek_exports_are_not_claimed(path):
    pm = plugin_manager_for("chatgpt", plugin)
    with ExportSource(path) as source:
        detections, errors = pm.detect(source)
    assert not errors
    assert not [d for d in detections if d.provider == "chatgpt"]
