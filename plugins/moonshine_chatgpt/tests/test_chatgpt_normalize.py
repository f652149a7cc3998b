"""Normalising conversations: content types, visibility, trees, model, in-tree comparisons."""

from __future__ import annotations

import copy

import pytest

from moonshine_chatgpt import synthetic as syn
from moonshine_chatgpt.conversation import build_conversation
from moonshine_chatgpt.normalize import normalize
from moonshine_chatgpt.text import clean_text
from moonshine_core.errors import NormalizeError
from moonshine_core.records import Comparison, Conversation, RawRecord
from moonshine_core.trees import check_tree, path_to_root


def _conv(data):
    records = normalize(RawRecord(kind="conversation", data=data, member="conversations.json", index=0))
    conversation = records[0]
    assert isinstance(conversation, Conversation)
    assert check_tree(conversation.messages) == []
    assert len(conversation.messages) == conversation.raw_message_count
    return conversation, [r for r in records[1:] if isinstance(r, Comparison)]


def _msgs(conversation):
    return {m.message_id: m for m in conversation.messages}


def test_2023_era():
    conversation, comparisons = _conv(syn.conversation_2023())
    m = _msgs(conversation)
    assert conversation.conversation_id == "5f0c2a1e-1111-4a6b-9c1d-2023aaaa0001"
    assert conversation.format_variant.startswith("2023")
    # The null-message root is not a message; the first message is a root.
    assert "aaa1c0de-0000-4000-8000-000000000001" not in m and m["node-sys"].parent_id is None
    assert m["node-sys"].metadata["message_object_id"] == "msg-sys-different"
    assert m["node-ci"].hidden_reason == "custom_instructions" and m["node-ci"].role == "system"
    assert "synthetic tester" in m["node-ci"].text
    assert m["a2"].text == "At sea level water boils at 100 C." and "【1†source】" in m["a2"].raw_text
    assert m["a3"].tool_calls[0].name == "browser" and m["a3"].hidden
    assert m["t1"].tool_results[0].call_id == "a3" and "【0†" in m["t1"].tool_results[0].content
    result = m["t3"].tool_results[0]
    assert result.is_error is True and result.status == "failed_with_in_kernel_exception"
    assert result.structured["code"] == "plot(x)" and result.call_id == "a5"
    assert m["a6"].model == "text-davinci-002-render-sha" and m["a6"].model_inferred
    assert m["a2"].model_inferred is False
    assert conversation.current_leaf_id == "a6" and not conversation.active_branch_inferred
    regen = [c for c in comparisons if c.source == "regeneration"]
    assert len(regen) == 1
    assert regen[0].comparison_id == f"regen:{conversation.conversation_id}:u1"
    assert regen[0].candidate_message_ids == ["a1", "a2"]
    assert regen[0].chosen_message_ids == ["a2"] and regen[0].rejected_message_ids == ["a1"]
    assert regen[0].chosen_is_inferred


def test_2025_era_reasoning_tools_multimodal():
    conversation, comparisons = _conv(syn.conversation_2025())
    m = _msgs(conversation)
    assert m["uec"].role == "system" and m["uec"].hidden_reason == "custom_instructions"
    assert m["uec"].text == "Profile: tester.\n\nBe terse."
    user = m["u1"]
    assert user.text == "What is in this picture?" and not user.hidden
    kinds = sorted(a.kind for a in user.attachments)
    assert kinds == ["audio", "image"]
    image = next(a for a in user.attachments if a.kind == "image")
    assert image.pointer == "sediment://file_0001" and image.name == "cat.png"
    assert "part_type:hologram_pointer" in conversation.unknown_shapes
    assert m["th1"].reasoning.startswith("Looking at the image") and m["th1"].reasoning_kind == "summary"
    assert m["th1"].hidden_reason == "reasoning" and m["th1"].text == ""
    assert m["rr1"].hidden_reason == "reasoning_recap" and m["rr1"].text == ""
    assert m["ans1"].text == "A cat." and m["ans1"].metadata["reasoning_message_ids"] == ["th1"]
    assert m["ans2"].text == "It is a small cat."
    assert m["rb1"].hidden_reason == "system"
    assert m["pv1"].tool_calls[0].name == "bio" and m["pv1"].tool_calls[0].arguments == {"content": "likes cats"}
    assert m["bio1"].tool_results[0].call_id == "pv1"
    assert m["c1"].text == "Searching first." and not m["c1"].hidden
    assert m["c2"].tool_calls[0].arguments == '{"search_query": [{"q": "cats"}]}'
    assert m["w1"].tool_results[0].structured["url"] == "https://example.org/cats"
    assert m["fs1"].tool_results[0].name == "file_search" and m["fs1"].tool_results[0].call_id == "fs0"
    assert not m["img1"].hidden and m["img1"].attachments[0].pointer == "sediment://file_0009"
    assert m["cv0"].tool_calls[0].name == "canmore.create_textdoc"
    assert m["ag1"].tool_results[0].structured["computer_id"] == "c1"
    assert m["odd"].hidden_reason == "unknown_content_type"
    assert "content_type:quantum_widget" in conversation.unknown_shapes
    assert m["fin"].model == "gpt-5" and m["fin"].model_inferred
    assert m["ans1"].model == "o3" and not m["ans1"].model_inferred
    by_source = {c.source: c for c in comparisons}
    regen = by_source["regeneration"]
    assert regen.prompt_message_id == "u1" and regen.candidate_message_ids == ["ans1", "ans2"]
    assert regen.chosen_message_ids == ["ans1"]
    paragen = by_source["paragen"]
    assert paragen.prompt_message_id == "u2" and paragen.chosen_message_ids == ["pv2"]
    assert paragen.rejected_message_ids == ["pv1b"] and not paragen.chosen_is_inferred
    assert paragen.metadata["choice_on_active_branch"] is False
    # A prompt with a paragen choice gets no second, regeneration comparison.
    assert not any(c.source == "regeneration" and c.prompt_message_id == "u2" for c in comparisons)


def test_2026_slim_defaults():
    conversation, _ = _conv(syn.conversation_2026_slim(extra_turn=True))
    assert conversation.format_variant.startswith("2026-slim")
    m = _msgs(conversation)
    assert m["s-u1"].status == "finished_successfully"
    assert m["s-u1"].metadata["recipient"] == "all" and m["s-u1"].metadata["weight"] == 1.0
    assert set(m["s-u1"].metadata["defaults_applied"]) == {"metadata", "recipient", "weight", "status"}
    assert m["s-a1"].text == "Hi! Highlighted answer."
    assert m["s-a2"].model == "gpt-5-2" and m["s-a2"].model_inferred
    assert conversation.current_leaf_id == "s-a2"


def test_sorted_keys_era():
    data = syn.conversation_2025()
    conversation, _ = _conv(dict(sorted(data.items())))
    assert conversation.format_variant.startswith("2026-sorted")


def test_children_are_rebuilt_from_parents_not_trusted():
    data = syn.conversation_2023()
    for node in data["mapping"].values():
        node["children"] = ["bogus"]
    conversation, _ = _conv(data)
    assert path_to_root(conversation.messages, "a6")[-4:] == ["u3", "a5", "t3", "a6"]
    assert _msgs(conversation)["a2"].parent_id == "u1"


def test_message_less_middle_node_links_to_nearest_message_ancestor():
    data = syn.conversation_2023()
    data["mapping"]["u2"]["message"] = None
    conversation, _ = _conv(data)
    m = _msgs(conversation)
    assert "u2" not in m
    assert m["a3"].parent_id == "a2" and m["a3"].metadata["linked_past"] == ["u2"]


def test_current_node_missing_falls_back_to_latest_leaf():
    data = syn.conversation_2023()
    del data["current_node"]
    conversation, _ = _conv(data)
    assert conversation.active_branch_inferred and conversation.current_leaf_id == "a6"
    data["current_node"] = "nowhere"
    conversation, _ = _conv(data)
    assert conversation.active_branch_inferred and conversation.metadata["current_node_unusable"] == "nowhere"


def test_current_node_on_message_less_node_maps_to_its_message_ancestor():
    data = syn.conversation_2023()
    data["mapping"]["a6"]["message"] = None
    conversation, _ = _conv(data)
    assert conversation.current_leaf_id == "t3" and not conversation.active_branch_inferred


def test_dangling_parent_and_cycle_are_repaired():
    data = syn.conversation_2023()
    data["mapping"]["u2"]["parent"] = "not-in-mapping"
    data["mapping"]["u1"]["parent"] = "a1"  # u1 -> a1 -> u1
    conversation, _ = _conv(data)
    m = _msgs(conversation)
    assert m["u2"].parent_id is None and m["u2"].metadata["dangling_parent"] == "not-in-mapping"
    assert conversation.metadata["tree_repairs"]


def test_cycle_of_message_less_nodes_does_not_hang():
    data = syn.conversation_2023()
    data["mapping"]["x1"] = {"id": "x1", "message": None, "parent": "x2", "children": []}
    data["mapping"]["x2"] = {"id": "x2", "message": None, "parent": "x1", "children": []}
    data["mapping"]["u1"]["parent"] = "x1"
    conversation, _ = _conv(data)
    assert _msgs(conversation)["u1"].parent_id is None


def test_parent_pointers_follow_the_toolkit_id_rule():
    data = syn.conversation_2023()
    data["mapping"]["7"] = data["mapping"].pop("u2")
    data["mapping"]["a3"]["parent"] = 7  # an integer id is its decimal text
    data["mapping"]["a1"]["parent"] = 1.5  # not an id: a root, and reported
    conversation, _ = _conv(data)
    m = _msgs(conversation)
    assert m["a3"].parent_id == "7" and m["a1"].parent_id is None
    assert "node_parent_type:float" in conversation.unknown_shapes


def test_non_dict_message_is_kept_as_malformed():
    data = syn.conversation_2023()
    data["mapping"]["a1"]["message"] = "oops"
    conversation, _ = _conv(data)
    assert _msgs(conversation)["a1"].hidden_reason == "malformed_message"
    assert "message_type:str" in conversation.unknown_shapes


def test_unknown_fields_are_reported():
    data = syn.conversation_2023()
    data["brand_new_key"] = 1
    data["mapping"]["a1"]["message"]["sparkle"] = True
    data["mapping"]["a1"]["extra"] = 1
    conversation, _ = _conv(data)
    assert {"conversation_field:brand_new_key", "message_field:sparkle", "node_field:extra"} <= set(
        conversation.unknown_shapes)


def test_hidden_channel_and_visually_hidden():
    data = syn.conversation_2023()
    data["mapping"]["a1"]["message"]["channel"] = "analysis"
    data["mapping"]["a4"]["message"]["metadata"]["is_visually_hidden_from_conversation"] = True
    m = _msgs(_conv(data)[0])
    assert m["a1"].hidden_reason == "channel:analysis" and m["a4"].hidden_reason == "visually_hidden"


def test_empty_placeholder_assistant_is_hidden_and_not_a_regeneration():
    data = syn.conversation_2023()
    data["mapping"]["a1"]["message"]["content"]["parts"] = [""]
    conversation, comparisons = _conv(data)
    assert _msgs(conversation)["a1"].hidden_reason == "empty"
    assert not [c for c in comparisons if c.source == "regeneration"]


def test_regeneration_with_no_answer_on_active_branch():
    data = syn.conversation_2023()
    data["current_node"] = "a1"
    data["mapping"]["a1"]["children"] = []
    _, comparisons = _conv(data)
    regen = comparisons[0]
    assert regen.chosen_message_ids == ["a1"] and regen.rejected_message_ids == ["a2"]


def test_ids_are_stable_across_runs():
    first, _ = build_conversation(copy.deepcopy(syn.conversation_2025()))
    second, _ = build_conversation(copy.deepcopy(syn.conversation_2025()))
    assert [(m.message_id, m.parent_id) for m in first.messages] == [(m.message_id, m.parent_id)
                                                                     for m in second.messages]


@pytest.mark.parametrize("data,reason", [
    ("x", "not an object"),
    ({"mapping": {}}, "neither conversation_id nor id"),
    ({"id": "c"}, "mapping is missing"),
    ({"id": "c", "mapping": []}, "mapping is list"),
])
def test_unusable_conversations_raise_normalize_error(data, reason):
    with pytest.raises(NormalizeError, match=reason):
        normalize(RawRecord(kind="conversation", data=data))


def test_unknown_raw_kind():
    with pytest.raises(NormalizeError, match="unknown raw record kind"):
        normalize(RawRecord(kind="mystery", data={}))


@pytest.mark.parametrize("raw,clean", [
    ("A \ue200cite\ue202turn0search0\ue201.", "A."),
    ("B \ue200entity\ue202[\"city\",\"Paris\"]\ue201 is big", "B Paris is big"),
    ("C 【3†source】 D", "C D"),
    ("E 【4:0†file.pdf】", "E"),
    ("F 【turn0search1】", "F"),
    ("\ue203kept\ue204\ue206", "kept"),
    ("【plain brackets】", "【plain brackets】"),
    ("", ""),
])
def test_citation_cleaning(raw, clean):
    assert clean_text(raw) == clean


def _tool_chain_conversation(n_results: int) -> dict:
    """user -> browser call -> ``n_results`` error results, each the child of the previous one -> answer."""
    tb = syn.TreeBuilder()
    tb.add("u1", tb.root_id, "user", syn.text("Look up the release notes."))
    tb.add("call", "u1", "assistant", {"content_type": "code", "language": "unknown", "text": "search('notes')"},
           recipient="browser")
    parent = "call"
    for i in range(1, n_results + 1):
        parent = tb.add(f"r{i}", parent, "tool", {"content_type": "system_error", "name": "tool_error",
                                                  "text": f"Error {i}"}, name="browser")
    tb.add("a1", parent, "assistant", syn.text("The browser failed; here is what I know."))
    return {"id": "chain-8", "conversation_id": "chain-8", "title": "chain", "create_time": syn.T0,
            "update_time": syn.T0 + 100, "mapping": tb.mapping, "current_node": "a1"}


def test_every_result_of_a_long_chain_pairs_with_its_call():
    """No step limit: results 7 and 8 of a chain of 8 under one call name that call too."""
    conversation, _ = _conv(_tool_chain_conversation(8))
    m = _msgs(conversation)
    assert [m[f"r{i}"].tool_results[0].call_id for i in range(1, 9)] == ["call"] * 8
    assert all(m[f"r{i}"].tool_results[0].is_error for i in range(1, 9))


def test_a_result_never_pairs_past_the_user_turn():
    data = _tool_chain_conversation(2)
    tb_mapping = data["mapping"]
    # A second turn whose tool output has no call of its own above it (in that turn).
    tb_mapping["u2"] = {"id": "u2", "parent": "a1", "children": [], "message": {
        "id": "u2", "author": {"role": "user"}, "content": syn.text("Try again"), "recipient": "all",
        "create_time": syn.T0 + 50, "status": "finished_successfully", "metadata": {}}}
    tb_mapping["r9"] = {"id": "r9", "parent": "u2", "children": [], "message": {
        "id": "r9", "author": {"role": "tool", "name": "browser"}, "recipient": "all",
        "content": {"content_type": "system_error", "name": "tool_error", "text": "Error 9"},
        "create_time": syn.T0 + 51, "status": "finished_successfully", "metadata": {}}}
    tb_mapping["a1"]["children"] = ["u2"]
    tb_mapping["u2"]["children"] = ["r9"]
    data["current_node"] = "r9"
    m = _msgs(_conv(data)[0])
    assert m["r9"].tool_results[0].call_id is None


def test_code_interpreter_output_with_a_plot_stays_visible():
    tb = syn.TreeBuilder()
    tb.add("u1", tb.root_id, "user", syn.text("Plot it."))
    tb.add("py", "u1", "assistant", {"content_type": "code", "language": "unknown", "text": "plt.plot([1, 2])"},
           recipient="python")
    plot = {"status": "success", "messages": [{"message_type": "image", "image_url": "file-service://file-plot"}]}
    tb.add("out", "py", "tool", {"content_type": "execution_output", "text": "<<ImageDisplayed>>"}, name="python",
           metadata={"aggregate_result": plot})
    tb.add("noplot", "out", "tool", {"content_type": "execution_output", "text": "3"}, name="python",
           metadata={"aggregate_result": {"status": "success", "messages": []}})
    tb.add("a1", "noplot", "assistant", syn.text("Here is the plot."))
    data = {"id": "plot", "conversation_id": "plot", "title": "plot", "create_time": syn.T0,
            "update_time": syn.T0 + 10, "mapping": tb.mapping, "current_node": "a1"}
    m = _msgs(_conv(data)[0])
    out = m["out"]
    assert not out.hidden and out.hidden_reason is None and out.role == "tool"
    assert [a.kind for a in out.attachments] == ["image"] and out.tool_results[0].call_id == "py"
    assert m["noplot"].hidden and m["noplot"].hidden_reason == "tool_result"
