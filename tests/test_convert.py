import pytest
from hypothesis import given
from hypothesis import strategies as st

from moonshine_core.convert import record_from_dict, record_to_dict, structure, unstructure
from moonshine_core.errors import RecordError
from moonshine_core.records import (
    Attachment, Comparison, Conversation, Feedback, Message, SideRecord, ToolCall, ToolResult,
)

text = st.text(max_size=20)
opt_text = st.none() | text
times = st.none() | st.floats(min_value=0, max_value=4e9, allow_nan=False)
json_leaf = st.none() | st.booleans() | st.integers(-1000, 1000) | text
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3) |
                          st.dictionaries(text, inner, max_size=3), max_leaves=8)

tool_calls = st.builds(ToolCall, name=text, arguments=json_value, call_id=opt_text, raw=json_value)
tool_results = st.builds(ToolResult, content=text, call_id=opt_text, name=opt_text,
                         is_error=st.none() | st.booleans(), status=opt_text, structured=json_value)
attachments = st.builds(Attachment, kind=text, name=opt_text, pointer=opt_text, size_bytes=st.none() | st.integers(0))
messages = st.builds(
    Message, message_id=text, role=st.sampled_from(["user", "assistant", "system", "tool", "critic"]),
    parent_id=opt_text, text=text, reasoning=opt_text, reasoning_kind=st.none() | st.sampled_from(["raw", "summary"]),
    tool_calls=st.lists(tool_calls, max_size=2), tool_results=st.lists(tool_results, max_size=2),
    attachments=st.lists(attachments, max_size=2), hidden=st.booleans(), model=opt_text,
    created_at=times, metadata=st.dictionaries(text, json_value, max_size=2), raw=json_value)
conversations = st.builds(Conversation, conversation_id=text, messages=st.lists(messages, max_size=4),
                          title=opt_text, created_at=times, current_leaf_id=opt_text,
                          unknown_shapes=st.lists(text, max_size=2), raw=json_value)
feedbacks = st.builds(Feedback, feedback_id=text, rating=text, conversation_id=opt_text,
                      tags=st.lists(text, max_size=2), created_at=times, raw=json_value)
comparisons = st.builds(Comparison, comparison_id=text, source=text,
                        chosen_message_ids=st.lists(text, max_size=2),
                        prompt=st.none() | st.lists(st.fixed_dictionaries({"role": text, "content": text}), max_size=2))
sides = st.builds(SideRecord, kind=text, record_id=text, personal=st.booleans(), data=json_value)


@given(st.one_of(conversations, feedbacks, comparisons, sides))
def test_records_round_trip(record):
    assert record_from_dict(record_to_dict(record)) == record
    assert structure(unstructure(record), type(record)) == record


def test_bad_value_names_the_field_path():
    with pytest.raises(RecordError) as err:
        structure({"conversation_id": "c", "messages": [
            {"message_id": "a", "role": "user"},
            {"message_id": "b", "role": "user", "created_at": "yesterday"}]}, Conversation)
    assert "$.messages[1].created_at" in str(err.value)


def test_missing_required_field_is_named():
    with pytest.raises(RecordError) as err:
        structure({"messages": []}, Conversation)
    assert "conversation_id" in str(err.value)


def test_unknown_record_type_is_refused():
    with pytest.raises(RecordError):
        record_from_dict({"record_type": "poem"})
