"""Acceptance over ../shared/real-exports/deepseek: every export imports, excerpts are refused clearly.

The raw JSON is read here with the standard library (these files are small) to count messages and walk
the active pointer independently of the plugin.
"""

from __future__ import annotations

import json

import pytest

from moonshine_core import trees
from moonshine_core.errors import ParseError
from moonshine_core.testing import real_export_files
from moonshine_core.timeutil import to_epoch

pytestmark = pytest.mark.real_exports

FILES = real_export_files("deepseek", start=__file__)


def _excerpt(path):
    return "EXCERPT" in path.name


def _raw_conversations(path):
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, list):
        return data
    if "data" in data:
        return [data]
    return [v for v in data.values() if isinstance(v, dict) and "mapping" in v]


def _expected_from_raw(conv):
    """(message count, pointer-walk path or None, latest leaf or None) straight from the raw JSON."""
    if "mapping" in conv:
        nodes = {k: n for k, n in conv["mapping"].items() if n.get("message") is not None}
        leaves = [k for k, n in nodes.items()
                  if not any(c in nodes or conv["mapping"].get(c, {}).get("children") for c in n["children"])]
        latest = max(leaves, key=lambda k: to_epoch(nodes[k]["message"]["inserted_at"]))
        return len(nodes), None, latest
    biz = conv["data"]["biz_data"]
    parent = {str(m["message_id"]): m["parent_id"] for m in biz["chat_messages"]}
    node, path = biz["chat_session"]["current_message_id"], []
    while node is not None:
        path.append(str(node))
        node = parent[str(node)]
    return len(biz["chat_messages"]), path[::-1], None


@pytest.mark.skipif(not FILES, reason="no real DeepSeek exports here")
@pytest.mark.parametrize("path", FILES, ids=[p.name[:60] for p in FILES])
def test_real_file_imports_or_is_refused_clearly(path, run):
    if _excerpt(path):
        with pytest.raises(ParseError) as info:
            run(path)
        message = str(info.value)
        assert path.name in message and "not a DeepSeek export" in message
        assert "conversations.json" in message and "mapping" in message  # names what is missing
        return
    conversations, comparisons, _, failures = run(path)
    assert failures == []
    raws = _raw_conversations(path)
    assert len(conversations) == len(raws) > 0
    for conversation, raw in zip(conversations, raws):
        count, pointer_path, latest = _expected_from_raw(raw)
        assert conversation.raw_message_count == len(conversation.messages) == count
        assert trees.check_tree(conversation.messages) == []
        if pointer_path is not None:
            assert conversation.active_branch_inferred is False
            assert trees.path_to_root(conversation.messages, conversation.current_leaf_id) == pointer_path
        else:
            assert conversation.active_branch_inferred is True
            assert conversation.current_leaf_id == latest
        for message in conversation.messages:
            assert message.role in ("user", "assistant")
            assert "[citation:" not in message.text and "[reference:" not in message.text
    for comparison in comparisons:
        assert comparison.source == "regeneration" and len(comparison.candidate_message_ids) >= 2


@pytest.mark.skipif(not FILES, reason="no real DeepSeek exports here")
def test_the_api_sample_gives_its_three_regenerations(run):
    (path,) = [p for p in FILES if p.name.startswith("ceyaima__")] or [None]
    if path is None:
        pytest.skip("ceyaima sample absent")
    (conversation,), comparisons, _, _ = run(path)
    assert conversation.format_variant == "web-api-flat"
    assert len([m for m in conversation.messages if m.parent_id is None]) == 3
    assert sorted(c.prompt_message_id for c in comparisons) == ["1", "3", "9"]
