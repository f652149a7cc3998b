"""Side files: feedback shapes, model comparisons A/B/C, shared conversations, user.json."""

from __future__ import annotations

import pytest

from moonshine_chatgpt import synthetic as syn
from moonshine_chatgpt.normalize import normalize
from moonshine_chatgpt.signals import hyphenate
from moonshine_core.errors import NormalizeError
from moonshine_core.provider import fallback_id
from moonshine_core.records import Comparison, Feedback, RawRecord, SideRecord


def _one(kind, data, context=None):
    records = normalize(RawRecord(kind=kind, data=data, context=context or {}))
    assert len(records) == 1
    return records[0]


def test_feedback_old_shape_hyphenates_conversation_id():
    record = _one("feedback", syn.feedback_records()[0])
    assert isinstance(record, Feedback)
    assert record.conversation_id == "5f0c2a1e-1111-4a6b-9c1d-2023aaaa0001"
    assert record.message_id == "a2" and record.feedback_id == "a2" and record.rating == "thumbs_up"
    assert record.metadata["rating_as_written"] == "thumbsUp"


def test_feedback_2024_shape_with_tags():
    record = _one("feedback", syn.feedback_records()[2])
    assert record.rating == "thumbs_down" and record.tags == ["not-helpful"]
    assert record.metadata["tag_choices"] == ["Not factually correct", "Other"]
    assert record.created_at == pytest.approx(1682935260.0)


def test_feedback_2025_shape_and_text():
    assert _one("feedback", syn.feedback_records()[3]).rating == "thumbs_up"
    assert _one("feedback", syn.feedback_records()[1]).text == "Right answer"


def test_feedback_unparseable_content_and_unknown_rating_are_kept():
    record = _one("feedback", {"id": "m", "conversation_id": "c", "rating": "meh", "content": "{bad", "new": 1})
    assert record.rating == "meh"
    assert {"rating:meh", "feedback_content:not_json", "feedback_field:new"} <= set(record.unknown_shapes)


@pytest.mark.parametrize("value,expected", [("thumbsUp", "thumbs_up"), ("thumbsDown", "thumbs_down"),
                                            ("thumbs_down", "thumbs_down"), ("THUMBS-UP", "thumbs_up"),
                                            (1, "thumbs_up"), (-1, "thumbs_down"), (None, "unknown"),
                                            # the toolkit's rule: a zero is neutral, unseen words lower-cased
                                            (0, "neutral"), ("Meh", "meh")])
def test_rating_spellings(value, expected):
    record = _one("feedback", {"id": "m", "conversation_id": "c", "rating": value})
    assert record.rating == expected
    assert ("rating:" + expected in record.unknown_shapes) is (expected not in ("thumbs_up", "thumbs_down"))
    assert record.metadata.get("rating_as_written") == (value if isinstance(value, str) and value != expected
                                                       else None)


def test_hyphenate():
    assert hyphenate("4b90b35760e44effa4359a798a3822f7") == "4b90b357-60e4-4eff-a435-9a798a3822f7"
    assert hyphenate("already-hyphenated") == "already-hyphenated"
    # Ids follow the toolkit's one rule: an integer id is its decimal text, a blank string is no id.
    assert hyphenate(None) is None and hyphenate("  ") is None and hyphenate(12) == "12"


def test_comparison_shape_a_inline_and_redacted():
    record = _one("comparison", syn.comparison_records()[0])
    assert isinstance(record, Comparison) and record.source == "model_comparisons"
    assert record.comparison_id == "model_comparisons:cmp-a"
    assert record.conversation_id == "5f0c2a1e-1111-4a6b-9c1d-2023aaaa0001"
    assert record.rating == "new" and record.chosen_message_ids == ["a2"] and record.rejected_message_ids == ["a1"]
    assert record.prompt[0]["role"] == "system" and record.prompt[-1]["content"].startswith("What is")
    assert record.chosen[0]["content"] == "100 C at sea level."
    assert "cf_headers" not in record.raw["metadata"]
    assert record.metadata["raw_redacted"] == ["metadata.cf_headers"]


def test_comparison_shape_b_multi_message_turn():
    record = _one("comparison", syn.comparison_records()[1])
    assert record.metadata["shape"] == "B" and record.rating == "original"
    assert record.chosen_message_ids == ["a1"] and record.rejected_message_ids == ["nt-final"]
    roles = [(m["role"], m.get("recipient"), m.get("name")) for m in record.rejected]
    assert roles == [("assistant", "python", None), ("tool", None, "python"), ("assistant", None, None)]
    assert record.rejected[0]["content"] == "print(1)"
    assert "cf_headers" not in record.raw["content"]["metadata"]


def test_comparison_shape_c_resolved_and_unresolved():
    flat = syn.comparison_records()[2]
    unresolved = _one("comparison", flat, {"conversations_in_export": False})
    assert unresolved.chosen_message_ids == ["rb2"] and unresolved.metadata["resolved_in_tree"] is False
    context = {"resolved": {"rb1": {"conversation_id": "c", "message_id": "rb1", "answer_message_id": "ans1"},
                            "rb2": {"conversation_id": "c", "message_id": "rb2", "answer_message_id": "ans2"}}}
    resolved = _one("comparison", flat, context)
    assert resolved.chosen_message_ids == ["ans2"] and resolved.rejected_message_ids == ["ans1"]
    assert resolved.prompt_message_id == "u1" and resolved.conversation_id == "c"
    assert resolved.metadata["evaluation_name"] == "synthetic_eval"


@pytest.mark.parametrize("rating", ["skip", "same"])
def test_comparison_ties_have_no_winner(rating):
    record = _one("comparison", {**syn.comparison_records()[2], "rating": rating})
    assert record.chosen_message_ids == [] and record.rejected_message_ids == [] and not record.unknown_shapes


def test_comparison_partial_load_is_marked_discard():
    record = _one("comparison", {**syn.comparison_records()[2], "rating": "partial_load_comparison_original"})
    assert record.metadata["discard"] is True and record.chosen_message_ids == []


def test_comparison_unknown_shape_is_kept():
    record = _one("comparison", {"something": "else"})
    assert record.unknown_shapes == ["comparison_shape:unknown"]


def test_records_without_ids_get_the_toolkit_fallback_id():
    flat = {"conversation_id": "c", "rating": "new", "placement": "x"}
    assert _one("comparison", flat).comparison_id == "model_comparisons:" + fallback_id(flat)
    assert _one("comparison", {"something": "else"}).comparison_id == "model_comparisons:" + fallback_id(
        {"something": "else"})
    shared = {"conversation_id": "c", "title": "t"}
    assert _one("side", shared, {"side_kind": "shared_conversations"}).record_id == (
        "shared_conversation:" + fallback_id(shared))
    assert _one("side", {"email": "x"}, {"side_kind": "user"}).record_id == "user:" + fallback_id({"email": "x"})
    other = _one("side", {"a": 1}, {"side_kind": "side:chat_folders"})
    assert other.kind == "chat_folders" and other.record_id == "chat_folders:" + fallback_id({"a": 1})
    feedback = {"conversation_id": "c", "rating": "thumbs_up"}
    assert _one("feedback", feedback).feedback_id == fallback_id(feedback)
    assert fallback_id(feedback).startswith("sha256:") and len(fallback_id(feedback)) == len("sha256:") + 32


def test_shared_and_user_side_records():
    shared = _one("side", syn.shared_records()[0], {"side_kind": "shared_conversations"})
    assert isinstance(shared, SideRecord) and shared.kind == "shared_conversation" and not shared.personal
    assert shared.record_id == "shared_conversation:share-1"
    user = _one("side", syn.user_record(), {"side_kind": "user", "personal": True})
    assert user.kind == "user" and user.personal and user.record_id == "user:user-synthetic"


@pytest.mark.parametrize("kind", ["feedback", "comparison"])
@pytest.mark.parametrize("data", ["x", 3, None, ["a"]])
def test_non_object_side_records_are_normalize_errors(kind, data):
    with pytest.raises(NormalizeError):
        normalize(RawRecord(kind=kind, data=data))
