"""Parsing: layouts, shard merge and dedupe, ordering, id resolution, streaming, errors."""

from __future__ import annotations

import gc
import inspect
import json

import pytest

from moonshine_chatgpt import synthetic as syn
from moonshine_chatgpt.normalize import normalize
from moonshine_chatgpt.parse import iter_raw_records
from moonshine_core.errors import ParseError
from moonshine_core.records import Conversation
from moonshine_core.sources import ExportSource


def _raws(path):
    with ExportSource(path) as source:
        return list(iter_raw_records(source))


@pytest.mark.parametrize("layout", ["single", "wrapped"])
@pytest.mark.parametrize("as_zip", [True, False])
def test_layouts_yield_conversations_then_side_records(tmp_path, layout, as_zip):
    target = syn.write_export(tmp_path / ("e.zip" if as_zip else "e"), syn.export_files(layout), as_zip=as_zip)
    raws = _raws(target)
    kinds = [r.kind for r in raws]
    assert kinds[:2] == ["conversation", "conversation"]
    assert "conversation" not in kinds[2:]
    assert kinds.index("feedback") < kinds.index("comparison") < kinds.index("side")
    assert all(r.variant for r in raws)


def test_sharded_export_merges_and_dedupes_keeping_newer(tmp_path):
    target = syn.write_export(tmp_path / "e", syn.export_files("sharded"))
    conversations = [r for r in _raws(target) if r.kind == "conversation"]
    ids = [r.data["id"] for r in conversations]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 2
    kept = next(r for r in conversations if r.data["id"].endswith("0002"))
    assert kept.data["title"] == "New copy" and kept.member == "conversations-001.json"


def test_duplicate_in_one_file_keeps_newer_then_more_nodes(tmp_path):
    old = syn.conversation_2026_slim("dup", update_time=5.0, title="old")
    new = syn.conversation_2026_slim("dup", update_time=6.0, title="new")
    same_time_bigger = syn.conversation_2026_slim("dup2", update_time=6.0, title="big", extra_turn=True)
    same_time_smaller = syn.conversation_2026_slim("dup2", update_time=6.0, title="small")
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps([new, old, same_time_bigger, same_time_smaller]))
    titles = sorted(r.data["title"] for r in _raws(path))
    assert titles == ["big", "new"]


def test_side_ids_resolved_against_trees(tmp_path):
    target = syn.write_export(tmp_path / "e.zip", syn.export_files("single"), as_zip=True)
    raws = _raws(target)
    flat = next(r for r in raws if r.kind == "comparison" and "original_message_id" in r.data)
    info = flat.context["resolved"]["rb1"]
    assert info["conversation_id"] == "67a00000-2025-8000-9000-00000000beef"
    assert info["answer_message_id"] == "ans1" and info["prompt_message_id"] == "u1"
    feedback = [r for r in raws if r.kind == "feedback"]
    # The old-shape repeat of the rating of a2 is merged into the richer record.
    assert len(feedback) == len(syn.feedback_records()) - 1


def test_side_files_alone_parse(tmp_path):
    for name, data in (("message_feedback.json", syn.feedback_records()),
                       ("model_comparisons.json", syn.comparison_records()),
                       ("shared_conversations.json", syn.shared_records()),
                       ("user.json", syn.user_record())):
        path = tmp_path / name
        path.write_text(json.dumps(data))
        raws = _raws(path)
        assert raws and all(r.kind != "conversation" for r in raws)
        for raw in raws:
            assert normalize(raw)


def test_message_object_id_maps_feedback_to_node(tmp_path):
    conversation = syn.conversation_2023()
    files = {"conversations.json": [conversation],
             "message_feedback.json": [{"id": "msg-sys-different", "conversation_id": conversation["id"],
                                        "rating": "thumbs_up", "content": "{}"}]}
    target = syn.write_export(tmp_path / "e", files)
    feedback = [rec for raw in _raws(target) if raw.kind == "feedback" for rec in normalize(raw)]
    assert feedback[0].message_id == "node-sys"
    assert feedback[0].metadata["message_object_id"] == "msg-sys-different"


def test_not_a_chatgpt_export_is_a_parse_error(tmp_path):
    path = tmp_path / "notes.json"
    path.write_text(json.dumps({"hello": "world"}))
    with pytest.raises(ParseError, match="not a ChatGPT export"):
        _raws(path)


def test_truncated_conversations_file_is_a_parse_error_naming_it(tmp_path):
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps([syn.conversation_2025(), syn.conversation_2023()])[:-200])
    with pytest.raises(ParseError, match="conversations.json"):
        _raws(path)


def _live_conversation_dicts() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is dict and "mapping" in o and "current_node" in o)


def test_parser_is_lazy_and_holds_one_conversation_at_a_time(tmp_path):
    count = 3000
    path = syn.write_many_conversations(tmp_path / "conversations.json", count)
    one = len(json.dumps(syn.conversation_2026_slim()))
    # ijson decodes its 64 KiB read buffer at once, so a buffer's worth of items may be alive
    # together; what matters is that this bound does not grow with the export.
    bound = 2 * (64 * 1024 // one) + 2
    assert bound < count / 10
    baseline = _live_conversation_dicts()
    with ExportSource(path) as source:
        stream = iter_raw_records(source)
        assert inspect.isgenerator(stream)
        # Nothing is read before the consumer asks.
        assert _live_conversation_dicts() == baseline
        first = next(stream)
        assert first.kind == "conversation" and first.index == 0
        del first
        samples = []
        seen = 1
        for raw in stream:
            seen += 1
            if seen % 500 == 0:
                del raw
                samples.append(_live_conversation_dicts() - baseline)
    assert seen == count
    assert max(samples) <= bound, samples


def test_many_conversations_normalize(tmp_path):
    path = syn.write_many_conversations(tmp_path / "conversations.json", 200)
    total = 0
    for raw in _raws(path):
        for record in normalize(raw):
            if isinstance(record, Conversation):
                assert len(record.messages) == record.raw_message_count
                total += 1
    assert total == 200
