"""claude.ai conversations, one era of docs/formats/claude.md §2 at a time."""

from __future__ import annotations

import copy

import pytest
from moonshine_core.errors import NormalizeError
from moonshine_core.provider import fallback_id
from moonshine_core.trees import check_tree, path_to_root

import claude_fixtures as F
from helpers_claude import comparisons, conversations, one_conversation
from moonshine_claude.plugin import plugin


def _conv(data):
    [conv] = conversations(one_conversation(data)).values()
    return conv, {m.message_id: m for m in conv.messages}


def test_2024_text_only_is_ordered_by_time_human_first() -> None:
    conv, by_id = _conv(F.conversation_2024())
    assert [m.message_id for m in conv.messages] == ["m2024-h1", "m2024-a1", "m2024-h2", "m2024-a2"]
    assert conv.order_inferred and conv.active_branch_inferred
    assert path_to_root(conv.messages, conv.current_leaf_id) == [m.message_id for m in conv.messages]
    assert conv.format_variant == "claude_ai:2024_text" and conv.raw_message_count == 4
    assert conv.model is None


def test_2024_inline_tags_become_reasoning_and_artifact_calls() -> None:
    _, by_id = _conv(F.conversation_2024())
    first, second = by_id["m2024-a1"], by_id["m2024-a2"]
    assert first.text == "Here it is.\n\nEnjoy." and "<antArtifact" in first.raw_text
    assert first.reasoning == "A self-contained page is a good artifact." and first.reasoning_kind == "raw"
    [call] = first.tool_calls
    assert call.name == "artifacts" and call.arguments["identifier"] == "calc"
    assert call.arguments["content"] == "<html>1+1</html>" and call.arguments["command"] == "create"
    assert second.tool_calls[0].arguments["command"] == "rewrite" and second.tool_calls[0].arguments["version"] == 2


def test_attachment_text_is_part_of_the_human_turn_and_files_are_not_doubled() -> None:
    _, by_id = _conv(F.conversation_2024())
    human = by_id["m2024-h2"]
    assert human.text.endswith("button { color: red; }")
    [attachment] = human.attachments
    assert attachment.name == "style.css" and attachment.extracted_text == "button { color: red; }"


def test_model_is_only_inferred() -> None:
    conv, by_id = _conv(F.conversation_2024())
    assistant = by_id["m2024-a1"]
    assert assistant.model == "claude-3-5-sonnet-20240620" and assistant.model_inferred
    assert conv.model is None


def test_2025_blocks_are_the_source_of_truth() -> None:
    conv, by_id = _conv(F.conversation_2025())
    answer = by_id["m2025-a1"]
    assert answer.text == "Here is your haiku.\n\nSaved it as an artifact."
    assert "not supported" not in answer.text and "keep it short" not in answer.text
    assert answer.reasoning == "The user wants a haiku; keep it short." and answer.reasoning_kind == "raw"
    [call], [result] = answer.tool_calls, answer.tool_results
    assert result.call_id == call.call_id and result.is_error is False and result.content == "OK"
    assert answer.metadata["tool_results_paired_by_position"] == [call.call_id]
    assert by_id["m2025-h2"].text == "Thanks! Another one?"           # content [] -> flat text
    assert by_id["m2025-a2"].text == "Autumn moon rises."              # hollow block -> flat text
    assert [m.message_id for m in conv.messages][:2] == ["m2025-h1", "m2025-a1"]
    assert conv.format_variant == "claude_ai:2025_blocks"


def test_2026_tree_branches_and_regeneration() -> None:
    data = F.conversation_2026()
    conv, by_id = _conv(data)
    ids = [m["uuid"] for m in data["chat_messages"]]
    h1, a1, a2, h2, a3 = ids
    assert not conv.order_inferred and check_tree(conv.messages) == []
    assert by_id[h1].parent_id is None and by_id[a1].parent_id == h1 and by_id[a2].parent_id == h1
    assert conv.current_leaf_id == a3 and path_to_root(conv.messages, a3) == [h1, a2, h2, a3]
    [comparison] = comparisons(one_conversation(data))
    assert comparison.source == "regeneration" and comparison.comparison_id == f"regen:{data['uuid']}:{h1}"
    assert comparison.candidate_message_ids == [a1, a2] and comparison.chosen_message_ids == [a2]
    assert comparison.rejected_message_ids == [a1] and comparison.chosen_is_inferred


def test_2026_blocks_tools_thinking_and_unknowns() -> None:
    data = F.conversation_2026()
    conv, by_id = _conv(data)
    h1, _, a2, _, _ = [m["uuid"] for m in data["chat_messages"]]
    answer = by_id[a2]
    assert [c.call_id for c in answer.tool_calls] == ["toolu_01", "toolu_02"]
    assert [(r.call_id, r.is_error, r.status) for r in answer.tool_results] == [
        ("toolu_01", True, "tool_error"), ("toolu_02", False, None)]
    assert answer.reasoning == "Deciding to run du" and answer.reasoning_kind == "summary"
    assert answer.text == "Your home folder uses 4.0G."
    assert conv.unknown_shapes == ["content_type:sparkle_widget", "content_type:token_budget"]
    assert conv.metadata["unknown_shape_counts"]["content_type:token_budget"] == 1
    human = by_id[h1]
    assert human.text == "How big is my home folder?" and "Monday" not in human.text
    assert human.metadata["injected_prompts"] == [{"injection_source": "date_note", "prompt": "Today is Monday."}]
    assert human.attachments[0].pointer == "f0000000-0000-4000-8000-000000000009"


def test_last_element_that_has_children_descends_to_a_leaf() -> None:
    data = F.conversation_2026()
    data["chat_messages"].insert(0, data["chat_messages"].pop())  # the leaf is no longer last
    data["chat_messages"].append(data["chat_messages"].pop(1))    # h1 (which has children) is last
    conv, _ = _conv(data)
    assert conv.current_leaf_id == data["chat_messages"][0]["uuid"]


def test_injected_only_human_turn_is_hidden() -> None:
    data = F.conversation_2026()
    data["chat_messages"][0]["content"] = data["chat_messages"][0]["content"][:1]
    _, by_id = _conv(data)
    first = by_id[data["chat_messages"][0]["uuid"]]
    assert first.hidden and first.hidden_reason == "platform_injected" and first.text == ""


def test_dangling_parent_and_cycle_are_repaired() -> None:
    data = F.conversation_2026()
    msgs = data["chat_messages"]
    msgs[3]["parent_message_uuid"] = "missing"
    msgs[0]["parent_message_uuid"] = msgs[4]["uuid"]
    conv, _ = _conv(data)
    assert check_tree(conv.messages) == []
    assert conv.current_leaf_id in {m.message_id for m in conv.messages}


def test_parallel_results_without_ids_pair_by_position_and_name() -> None:
    data = F.conversation_2025()
    blocks = data["chat_messages"][0]["content"]
    use = blocks[2]
    blocks[2:4] = [dict(use, name="web_search"), dict(use, name="artifacts"),
                   {"type": "tool_result", "name": "artifacts", "content": "done"},
                   {"type": "tool_result", "name": "web_search", "content": [{"type": "knowledge", "title": "T",
                                                                              "url": "https://x", "text": "body"}]}]
    _, by_id = _conv(data)
    answer = by_id["m2025-a1"]
    calls = {c.name: c.call_id for c in answer.tool_calls}
    assert {r.name: r.call_id for r in answer.tool_results} == calls
    assert answer.tool_results[1].content == "T https://x\nbody" and answer.tool_results[1].structured


def test_duplicate_uuids_and_missing_fields_are_tolerated() -> None:
    data = F.conversation_2025()
    data["chat_messages"].append(copy.deepcopy(data["chat_messages"][0]))
    del data["chat_messages"][1]["uuid"]
    data["chat_messages"].append("not a message")
    conv, _ = _conv(data)
    assert len(conv.messages) == conv.raw_message_count == 5
    assert len({m.message_id for m in conv.messages}) == len(conv.messages)
    assert "message:not_object" in conv.unknown_shapes


@pytest.mark.parametrize("bad", ["text", [], {"chat_messages": []}, {"uuid": "x", "chat_messages": "no"}])
def test_unusable_conversation_is_a_normalize_error(bad) -> None:
    with pytest.raises(NormalizeError):
        one_conversation(bad)


def test_ids_are_stable_across_runs() -> None:
    def ids():
        conv, _ = _conv(F.conversation_2025() | {"chat_messages": [
            {k: v for k, v in m.items() if k != "uuid"} for m in F.conversation_2025()["chat_messages"]]})
        return [(m.message_id, m.parent_id) for m in conv.messages]
    assert ids() == ids()


def test_message_without_uuid_gets_the_toolkit_fallback_id() -> None:
    data = F.conversation_2025()
    item = data["chat_messages"][1]
    del item["uuid"]
    _, by_id = _conv(data)
    assert fallback_id(item) in by_id and fallback_id(item).startswith("sha256:")


def test_normalize_errors_name_the_record() -> None:
    with pytest.raises(NormalizeError, match=r"^conversations\.json#0: conversation has no uuid"):
        one_conversation({"chat_messages": []})


def test_unexpected_exceptions_become_normalize_errors_unless_tests_ask(monkeypatch) -> None:
    import moonshine_claude.normalize as module

    def broken(raw):
        raise KeyError("boom")
    monkeypatch.setattr(module, "normalize_conversation", broken)
    with pytest.raises(KeyError):
        one_conversation(F.conversation_2026())          # conftest sets plugin.raise_unexpected
    monkeypatch.setattr(plugin, "raise_unexpected", False)
    with pytest.raises(NormalizeError, match=r"conversations\.json#0: malformed conversation record \(KeyError"):
        one_conversation(F.conversation_2026())


# -- regenerations: the toolkit's rule (moonshine_core.trees.regeneration_forks) ----------------


def _item(uuid, parent, t, content, sender="assistant"):
    return {"uuid": uuid, "parent_message_uuid": parent, "sender": sender, "created_at": t, "updated_at": t,
            "text": "", "content": content, "attachments": [], "files": []}


def test_retry_with_nothing_to_show_is_not_an_alternative() -> None:
    data = F.conversation_2026()
    h1, a1, a2, _, _ = [m["uuid"] for m in data["chat_messages"]]
    data["chat_messages"].insert(2, _item("019a0000-0000-7000-8000-0000000000a0", h1,
                                          "2026-06-01T10:01:00.000000Z", []))   # a stopped, empty retry
    [comparison] = comparisons(one_conversation(data))
    assert comparison.candidate_message_ids == [a1, a2]
    assert comparison.chosen_message_ids == [a2] and comparison.rejected_message_ids == [a1]


def test_fork_off_the_active_branch_infers_no_choice() -> None:
    """The user left both retries for a new prompt: nobody continued from either, so neither is chosen."""
    data = F.conversation_2026()
    h1, a1, a2, _, _ = [m["uuid"] for m in data["chat_messages"]]
    text = [{"type": "text", "text": "Another topic."}]
    data["chat_messages"] += [
        _item("019a0000-0000-7000-8000-0000000000h9", F.ROOT, "2026-06-02T10:00:00.000000Z", text, "human"),
        _item("019a0000-0000-7000-8000-0000000000a9", "019a0000-0000-7000-8000-0000000000h9",
              "2026-06-02T10:00:05.000000Z", [{"type": "text", "text": "Sure."}])]
    conv, _ = _conv(data)
    assert conv.current_leaf_id == "019a0000-0000-7000-8000-0000000000a9"
    [comparison] = comparisons(one_conversation(data))
    assert comparison.prompt_message_id == h1 and comparison.candidate_message_ids == [a1, a2]
    assert comparison.chosen_message_ids == [] and comparison.rejected_message_ids == []
    assert comparison.created_at == conv.messages[2].created_at    # the latest answer's time (a2)


def test_retries_of_a_time_ordered_export_give_no_comparison() -> None:
    data = F.conversation_2025()
    retry = copy.deepcopy(data["chat_messages"][1])
    retry["uuid"] = "m2025-retry"
    data["chat_messages"].append(retry)               # no parent links: it cannot be placed as a sibling
    conv, by_id = _conv(data)
    assert "m2025-retry" in by_id and conv.order_inferred
    assert comparisons(one_conversation(data)) == []


def test_empty_trailing_messages_are_hidden() -> None:
    """claude.ai writes empty human/assistant pairs (one empty text block): nothing to show, so hidden."""
    data = F.conversation_2026()
    last = data["chat_messages"][-1]["uuid"]
    empty = [{"type": "text", "text": ""}]
    data["chat_messages"] += [
        _item("019a0000-0000-7000-8000-0000000000e1", last, "2026-06-03T10:00:00.000000Z", empty, "human"),
        _item("019a0000-0000-7000-8000-0000000000e2", "019a0000-0000-7000-8000-0000000000e1",
              "2026-06-03T10:00:01.000000Z", empty)]
    _, by_id = _conv(data)
    for uuid in ("019a0000-0000-7000-8000-0000000000e1", "019a0000-0000-7000-8000-0000000000e2"):
        assert by_id[uuid].hidden and by_id[uuid].hidden_reason == "empty"
    # Messages with something in them stay as they were.
    assert not by_id[last].hidden
