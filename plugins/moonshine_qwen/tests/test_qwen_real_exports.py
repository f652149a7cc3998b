"""Acceptance over the real public exports in shared/real-exports/qwen (skipped when absent).

Every whole export imports: counts equal the raw data, the active branch is the
pointer walk, trees are sound. The excerpt files (a `head -n 100` of a real
export) are refused with a ParseError that names what is missing.
"""

from __future__ import annotations

import json

import pytest

from moonshine_core.errors import ParseError
from moonshine_core.records import Conversation
from moonshine_core.sources import ExportSource
from moonshine_core.testing import normalize_all, real_export_files
from moonshine_core.trees import check_tree, path_to_root

import qwen_builders as qb

FILES = real_export_files("qwen", start=__file__)
pytestmark = pytest.mark.real_exports


def _is_excerpt(path) -> bool:
    return "EXCERPT" in path.name


def _ids(files):
    return [f.name[:70] for f in files]


def _raw_conversations(doc):
    if isinstance(doc, dict) and isinstance(doc.get("data"), list):
        return doc["data"]
    return doc if isinstance(doc, list) else [doc.get("data")]


def _walk_pointer(conv: dict) -> list[str]:
    """The active branch the export itself describes: from currentId up the parentId links."""
    nodes = conv["chat"]["history"]["messages"]
    node = conv["chat"]["history"].get("currentId") or conv.get("currentId")
    path = []
    while node is not None and node in nodes:
        path.append(node)
        node = nodes[node].get("parentId")
    return list(reversed(path))


def test_folder_present():
    if not FILES:
        pytest.skip("shared/real-exports/qwen is absent")
    assert any(not _is_excerpt(f) for f in FILES) and any(_is_excerpt(f) for f in FILES)


@pytest.mark.parametrize("path", [f for f in FILES if not _is_excerpt(f)], ids=_ids([f for f in FILES if not _is_excerpt(f)]))
def test_whole_export_imports(path):
    with ExportSource(path) as source:
        found, errors = qb.manager().detect(source)
    assert not errors and found and found[0].provider == "qwen" and found[0].confidence >= 0.9
    records, failures = normalize_all(qb.manager(), "qwen", path)
    assert failures == []
    convs = [r for r in records if isinstance(r, Conversation)]
    raw_convs = _raw_conversations(json.loads(path.read_text(encoding="utf-8")))
    assert [c.conversation_id for c in convs] == [c["id"] for c in raw_convs]
    for conv, raw in zip(convs, raw_convs):
        history = (raw.get("chat") or {}).get("history") or {}
        raw_nodes = history.get("messages") or {}
        expected = len(raw_nodes) if raw_nodes else len((raw.get("chat") or {}).get("messages") or [])
        assert conv.raw_message_count == expected == len(conv.messages)
        assert check_tree(conv.messages) == []
        assert conv.current_leaf_id in {m.message_id for m in conv.messages}
        if history.get("currentId") or raw.get("currentId"):
            assert path_to_root(conv.messages, conv.current_leaf_id) == _walk_pointer(raw)
            assert not conv.active_branch_inferred
        for message in conv.messages:
            if message.role == "assistant":
                assert message.text, (conv.conversation_id, message.message_id)
            assert message.role in ("user", "assistant")
        assert conv.unknown_shapes == []


@pytest.mark.parametrize("path", [f for f in FILES if _is_excerpt(f)], ids=_ids([f for f in FILES if _is_excerpt(f)]))
def test_excerpt_is_refused_naming_what_is_missing(path):
    with ExportSource(path) as source:
        found, _ = qb.manager().detect(source)
        assert found and found[0].variant == "console_capture"
    with pytest.raises(ParseError) as info:
        normalize_all(qb.manager(), "qwen", path)
    message = str(info.value)
    assert path.name in message
    assert "truncated JSON" in message and "before the data array closes" in message
    assert "0 complete conversation(s)" in message and "non-JSON text" in message


def test_real_phases_are_read():
    """The AfterChat single-chat example has all four phases in one message."""
    single = [f for f in FILES if f.name.endswith("examples__single.json")]
    if not single:
        pytest.skip("single.json example absent")
    records, _ = normalize_all(qb.manager(), "qwen", single[0])
    (conv,) = [r for r in records if isinstance(r, Conversation)]
    answer = [m for m in conv.messages if m.role == "assistant"][0]
    assert answer.reasoning_kind == "raw" and answer.reasoning
    assert answer.metadata.get("reasoning_summary")
    assert len(answer.tool_calls) == 1 and answer.tool_calls[0].name == "web_search"
    assert answer.tool_calls[0].call_id == answer.tool_results[0].call_id
    assert answer.text and "web_search" not in answer.text
