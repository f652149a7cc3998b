"""Normalisation of each variant of docs/formats/qwen.md §1, on synthetic conversations."""

from __future__ import annotations

import pytest

from moonshine_core.errors import NormalizeError
from moonshine_core.records import Conversation, RawRecord, SideRecord
from moonshine_core.trees import check_tree, path_to_root

import qwen_builders as qb
from qwen_builders import assistant, block, conversation, user, usage


# -- the tree ------------------------------------------------------------------------------------
def test_history_map_out_of_order_becomes_a_tree():
    nodes = [user("u1", children=["a1"], t=qb.T0), assistant("a1", "u1", ["u2"], t=qb.T0 + 5),
             user("u2", parent="a1", children=["a2"], t=qb.T0 + 10), assistant("a2", "u2", t=qb.T0 + 15)]
    conv = qb.conversation_of(conversation("c", nodes, current="a2"))
    assert [m.message_id for m in conv.messages] == ["u1", "a1", "u2", "a2"]
    assert [m.parent_id for m in conv.messages] == [None, "u1", "a1", "u2"]
    assert conv.current_leaf_id == "a2" and not conv.active_branch_inferred
    assert conv.raw_message_count == 4 == len(conv.messages)
    assert conv.format_variant == "export_all/history" and not conv.order_inferred
    assert check_tree(conv.messages) == []


def test_top_level_current_id_is_the_fallback_pointer():
    nodes = [user("u1", children=["a1", "a2"]), assistant("a1", "u1", t=qb.T0 + 9), assistant("a2", "u1", t=qb.T0 + 5)]
    data = conversation("c", nodes, current=None)
    data["currentId"] = "a2"
    conv = qb.conversation_of(data)
    assert conv.current_leaf_id == "a2" and not conv.active_branch_inferred


def test_missing_pointer_infers_latest_leaf():
    nodes = [user("u1", children=["a1", "a2"]), assistant("a1", "u1", t=qb.T0 + 9), assistant("a2", "u1", t=qb.T0 + 5)]
    data = conversation("c", nodes, current=None)
    data.pop("currentId")
    conv = qb.conversation_of(data)
    assert conv.current_leaf_id == "a1" and conv.active_branch_inferred


def test_parent_recovered_from_children_ids():
    u = user("u1", children=["a1"])
    a = assistant("a1", None)
    del a["parentId"], u["parentId"]
    conv = qb.conversation_of(conversation("c", [u, a], current="a1"))
    a1 = qb.by_id(conv)["a1"]
    assert a1.parent_id == "u1" and a1.metadata["parent_from_children_ids"]


def test_string_ids_are_kept_as_written():
    # ids are matched against parent pointers written the same way: nothing is stripped
    nodes = [user(" u1", children=["a1 "]), assistant("a1 ", " u1")]
    conv = qb.conversation_of(conversation(" c", nodes, current="a1 "))
    assert conv.conversation_id == " c"
    assert [(m.message_id, m.parent_id) for m in conv.messages] == [(" u1", None), ("a1 ", " u1")]
    assert conv.current_leaf_id == "a1 " and not conv.metadata.get("tree_repairs")


def test_odd_link_types_are_reported():
    u, a = user("u1"), assistant("a1", None)
    u["childrenIds"], a["parentId"] = "a1", ["u1"]
    conv = qb.conversation_of(conversation("c", [u, a], current="a1"))
    assert {"node_children_type:str", "node_parent_type:list"} <= set(conv.unknown_shapes)
    assert qb.by_id(conv)["a1"].parent_id is None


def test_edit_branches_and_active_path():
    nodes = [user("u1", children=["a1"]), assistant("a1", "u1", ["u2a", "u2b"]),
             user("u2a", parent="a1", children=["a3a"], t=qb.T0 + 20), assistant("a3a", "u2a", t=qb.T0 + 25),
             user("u2b", parent="a1", children=["a3b"], t=qb.T0 + 30), assistant("a3b", "u2b", t=qb.T0 + 35)]
    conv = qb.conversation_of(conversation("c", nodes, current="a3a"))
    assert path_to_root(conv.messages, conv.current_leaf_id) == ["u1", "a1", "u2a", "a3a"]
    assert len(conv.messages) == 6
    assert qb.comparisons(conversation("c", nodes, current="a3a")) == []  # edits are not regenerations


def test_messages_list_fallback_with_parent_links():
    items = [user("u1", children=["a1"]), assistant("a1", "u1"), user("u2", parent="a1"), assistant("a2", "u2")]
    data = conversation("c", [], current="a2", messages=items)
    conv = qb.conversation_of(data)
    assert [m.parent_id for m in conv.messages] == [None, "u1", "a1", "u2"]
    assert conv.format_variant == "export_all/messages_list" and not conv.order_inferred
    assert conv.current_leaf_id == "a2" and not conv.active_branch_inferred
    assert conv.raw_message_count == 4


def test_messages_list_fallback_without_links_is_ordered_by_time():
    items = [{"id": "a1", "role": "assistant", "content": "second", "timestamp": qb.T0 + 5},
             {"id": "u1", "role": "user", "content": "first", "timestamp": str(qb.T0)}]
    data = {"id": "c", "chat": {"history": {"messages": {}}, "messages": items}}
    conv = qb.conversation_of(data)
    assert [m.message_id for m in conv.messages] == ["u1", "a1"]
    assert qb.by_id(conv)["a1"].parent_id == "u1"
    assert conv.order_inferred and conv.active_branch_inferred and conv.current_leaf_id == "a1"


def test_list_items_without_ids_get_stable_index_ids():
    data = {"id": "c", "chat": {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}}
    first, second = qb.conversation_of(data), qb.conversation_of(data)
    assert [m.message_id for m in first.messages] == ["index:0", "index:1"]
    assert [m.message_id for m in second.messages] == ["index:0", "index:1"]


def test_no_messages_at_all():
    conv = qb.conversation_of({"id": "c", "title": "empty", "chat": {}})
    assert conv.messages == [] and conv.raw_message_count == 0 and conv.current_leaf_id is None


# -- content_list phases ---------------------------------------------------------------------------
def test_answer_blocks_are_joined_and_think_is_raw_reasoning():
    blocks = [block("think", "step one", usage=usage(10, 20, 20)), block("answer", "part A", usage=usage(10, 30, 20)),
              block("answer", "part B", usage=usage(10, 40, 20))]
    conv = qb.conversation_of(conversation("c", [user("u1", children=["a1"]), assistant("a1", "u1", blocks=blocks)],
                                           current="a1"))
    a1 = qb.by_id(conv)["a1"]
    assert a1.text == "part A\n\npart B"
    assert (a1.reasoning, a1.reasoning_kind) == ("step one", "raw")
    # cumulative per-block usage: the largest block, never the sum
    assert a1.usage["total_tokens"] == 50 and a1.usage["output_tokens"] == 40
    assert a1.metadata["phases"] == ["think", "answer", "answer"]
    assert a1.content_kind == "content_list"


def test_thinking_summary_is_summary_reasoning_without_repeats():
    extra = {"summary_title": {"content": ["Plan", "Plan"]},
             "summary_thought": {"content": ["Check A.", "Check A.", "Check B."]}}
    blocks = [block("thinking_summary", "", extra=extra), block("answer", "done")]
    a1 = qb.by_id(qb.conversation_of(conversation("c", [user("u1", children=["a1"]),
                                                        assistant("a1", "u1", blocks=blocks)])))["a1"]
    assert a1.reasoning_kind == "summary"
    assert a1.reasoning == "## Plan\n\nCheck A.\n\nCheck B."


def test_think_and_summary_keep_raw_as_reasoning_and_summary_in_metadata():
    blocks = [block("think", "full chain"), block("thinking_summary", "short summary"), block("answer", "x")]
    a1 = qb.by_id(qb.conversation_of(conversation("c", [user("u1", children=["a1"]),
                                                        assistant("a1", "u1", blocks=blocks)])))["a1"]
    assert (a1.reasoning, a1.reasoning_kind) == ("full chain", "raw")
    assert a1.metadata["reasoning_summary"] == "short summary"


def test_web_search_phase_is_a_paired_tool_call_and_result():
    info = [{"url": "https://example.org/a", "title": "A page", "snippet": "about a", "hostname": "example.org"}]
    blocks = [block("web_search", "", extra={"web_search_info": info, "query": "what is a"}, role="function"),
              block("answer", "It is a.")]
    a1 = qb.by_id(qb.conversation_of(conversation("c", [user("u1", children=["a1"]),
                                                        assistant("a1", "u1", blocks=blocks)])))["a1"]
    assert a1.text == "It is a."
    (call,), (result,) = a1.tool_calls, a1.tool_results
    assert call.name == "web_search" and call.arguments == "what is a"
    assert call.call_id == result.call_id == "a1:0"
    assert result.structured == info and "A page" in result.content and "https://example.org/a" in result.content
    assert result.is_error is None and result.status == "finished"


def test_unknown_phase_is_reported_not_fatal():
    blocks = [block("hologram", "???"), block("mystery_tool", "out", role="function"), block("answer", "ok")]
    conv = qb.conversation_of(conversation("c", [user("u1", children=["a1"]), assistant("a1", "u1", blocks=blocks)]))
    a1 = qb.by_id(conv)["a1"]
    assert a1.text == "ok"
    assert [c.name for c in a1.tool_calls] == ["mystery_tool"]
    assert "phase:hologram" in conv.unknown_shapes and "phase:mystery_tool" in conv.unknown_shapes


def test_legacy_reasoning_content_and_content_fallback():
    a = assistant("a1", "u1", blocks=[], content="plain answer", reasoning_content="old chain")
    del a["content_list"]
    a1 = qb.by_id(qb.conversation_of(conversation("c", [user("u1", children=["a1"]), a])))["a1"]
    assert (a1.text, a1.reasoning, a1.reasoning_kind) == ("plain answer", "old chain", "raw")
    assert a1.content_kind == "content"


def test_inline_think_markup_is_moved_to_reasoning():
    a = assistant("a1", "u1", blocks=[], content="<think>hmm</think>\n\nThe answer.")
    a1 = qb.by_id(qb.conversation_of(conversation("c", [user("u1", children=["a1"]), a])))["a1"]
    assert (a1.text, a1.reasoning, a1.raw_text) == ("The answer.", "hmm", "<think>hmm</think>\n\nThe answer.")


def test_open_webui_details_reasoning_is_moved_out():
    content = '<details type="reasoning" done="true"><summary>Thought</summary>\n> a\n> b\n</details>\nVisible'
    a1 = qb.by_id(qb.conversation_of(conversation("c", [user("u1", children=["a1"]),
                                                        assistant("a1", "u1", blocks=[], content=content)])))["a1"]
    assert a1.text == "Visible" and a1.reasoning == "a\nb"


def test_typing_block_marks_the_message_incomplete():
    blocks = [block("answer", "half", status="typing")]
    a1 = qb.by_id(qb.conversation_of(conversation("c", [user("u1", children=["a1"]),
                                                        assistant("a1", "u1", blocks=blocks)])))["a1"]
    assert a1.status == "incomplete"


# -- times, models, attachments -------------------------------------------------------------------
def test_epoch_strings_and_end_time():
    data = conversation("c", [user("u1", children=["a1"], t=str(qb.T0)), assistant("a1", "u1", t=qb.T0 + 5)])
    data["created_at"], data["updated_at"] = str(qb.T0), f"{qb.T0 + 100}"
    conv = qb.conversation_of(data)
    assert conv.created_at == qb.T0 and conv.updated_at == qb.T0 + 100
    msgs = qb.by_id(conv)
    assert msgs["u1"].created_at == qb.T0 and msgs["a1"].updated_at == qb.T0 + 7.5


def test_model_is_inferred_from_the_prompt_when_missing():
    a = assistant("a1", "u1", model=None, idx=1)
    a.pop("modelName")
    u = user("u1", children=["a1"], models=["qwen-a", "qwen-b"])
    a1 = qb.by_id(qb.conversation_of(conversation("c", [u, a])))["a1"]
    assert a1.model == "qwen-b" and a1.model_inferred


def test_user_files_become_attachment_references():
    files = [{"id": "f1", "name": "notes.md", "file_type": "text/markdown", "type": "file", "file_class": "document",
              "size": 42, "url": "https://cdn.qwenlm.ai/u/f1_notes.md?key=SECRET",
              "file": {"created_at": 1767225590123, "meta": {"name": "notes.md", "size": 42}}},
             {"id": "f2", "name": "cat.png", "type": "image", "size": "7",
              "file": {"meta": {"content_type": "image/png"}}}]
    u1 = qb.by_id(qb.conversation_of(conversation("c", [user("u1", files=files)])))["u1"]
    doc, image = u1.attachments
    assert (doc.kind, doc.name, doc.mime_type, doc.size_bytes) == ("file", "notes.md", "text/markdown", 42)
    assert doc.pointer == "https://cdn.qwenlm.ai/u/f1_notes.md"  # the signed key is not kept in the pointer
    assert (image.kind, image.mime_type, image.size_bytes, image.pointer) == ("image", "image/png", 7, "qwen-file:f2")
    assert u1.metadata["file_uploaded_at"] == {"f1": pytest.approx(1767225590.123)}
    assert u1.metadata["context_incomplete"] is True


# -- preference signal ------------------------------------------------------------------------------
def test_regeneration_comparison_with_active_sibling():
    nodes = [user("u1", children=["a1", "a2", "a3"]), assistant("a1", "u1", t=qb.T0 + 5),
             assistant("a2", "u1", t=qb.T0 + 6), assistant("a3", "u1", t=qb.T0 + 7)]
    (comp,) = qb.comparisons(conversation("c", nodes, current="a2"))
    assert comp.comparison_id == "regen:c:u1" and comp.source == "regeneration"
    assert comp.candidate_message_ids == ["a1", "a2", "a3"]
    assert comp.chosen_message_ids == ["a2"] and comp.rejected_message_ids == ["a1", "a3"]
    assert comp.chosen_is_inferred and comp.prompt_message_id == "u1"


def test_regeneration_off_the_active_branch_has_no_choice():
    nodes = [user("u0", children=["a0"]), assistant("a0", "u0", ["u1", "u9"]),
             user("u1", parent="a0", children=["a1", "a2"]), assistant("a1", "u1"), assistant("a2", "u1"),
             user("u9", parent="a0", children=["a9"], t=qb.T0 + 50), assistant("a9", "u9", t=qb.T0 + 55)]
    (comp,) = qb.comparisons(conversation("c", nodes, current="a9"))
    assert comp.chosen_message_ids == [] and comp.rejected_message_ids == []


def _side_by_side(continued: str | None, **annotations):
    u2_children = []
    nodes = [user("u1", children=["a1", "a2"], models=["qwen-a", "qwen-b"]),
             assistant("a1", "u1", t=qb.T0 + 5, model="qwen-a", idx=0, annotation=annotations.get("a1")),
             assistant("a2", "u1", t=qb.T0 + 6, model="qwen-b", idx=1, annotation=annotations.get("a2"))]
    current = "a2"
    if continued:
        u2_children = ["x1"]
        nodes[1 if continued == "a1" else 2]["childrenIds"] = ["u2"]
        nodes += [user("u2", parent=continued, children=u2_children, t=qb.T0 + 20),
                  assistant("x1", "u2", t=qb.T0 + 25, model="qwen-a")]
        current = "x1"
    data = conversation("c", nodes, current=current, currentResponseIds=["a1", "a2"])
    return data


def test_side_by_side_with_a_continued_answer():
    (comp,) = qb.comparisons(_side_by_side("a1"))
    assert comp.source == "side_by_side" and comp.comparison_id == "sbs:c:u1"
    assert comp.candidate_message_ids == ["a1", "a2"]
    assert comp.chosen_message_ids == ["a1"] and comp.rejected_message_ids == ["a2"]
    assert comp.chosen_is_inferred and comp.metadata["chosen_by"] == "continued"
    assert comp.metadata["models"] == {"a1": "qwen-a", "a2": "qwen-b"}


def test_side_by_side_without_continuation_has_no_choice():
    (comp,) = qb.comparisons(_side_by_side(None))
    assert comp.candidate_message_ids == ["a1", "a2"]
    assert comp.chosen_message_ids == [] and comp.rejected_message_ids == [] and not comp.chosen_is_inferred


def test_side_by_side_explicit_annotation_is_not_inferred():
    records = qb.normalize_one(_side_by_side(None, a2={"rating": 1}))
    (comp,) = [r for r in records if getattr(r, "source", None) == "side_by_side"]
    assert comp.chosen_message_ids == ["a2"] and not comp.chosen_is_inferred
    assert comp.metadata["chosen_by"] == "annotation"


def test_side_by_side_column_regenerations():
    nodes = [user("u1", children=["a1", "a2", "a3"], models=["qwen-a", "qwen-b"]),
             assistant("a1", "u1", model="qwen-a", idx=0, t=qb.T0 + 5),
             assistant("a2", "u1", model="qwen-b", idx=1, t=qb.T0 + 6),
             assistant("a3", "u1", model="qwen-b", idx=1, t=qb.T0 + 9)]
    comps = {c.comparison_id: c for c in qb.comparisons(conversation("c", nodes, current="a3"))}
    # only column m1 was regenerated: one regeneration fork at u1, so no column suffix (the toolkit's id rule)
    assert set(comps) == {"sbs:c:u1", "regen:c:u1"}
    assert comps["sbs:c:u1"].candidate_message_ids == ["a1", "a3"]  # the shown answer of each column
    regen = comps["regen:c:u1"]
    assert regen.candidate_message_ids == ["a2", "a3"]  # a1 is another column, not an alternative
    assert regen.chosen_message_ids == ["a3"] and regen.rejected_message_ids == ["a2"]
    assert regen.metadata == {"models": {"a2": "qwen-b", "a3": "qwen-b"}}


def test_regenerations_in_two_columns_are_two_comparisons():
    nodes = [user("u1", children=["a1", "a2", "b1", "b2"], models=["qwen-a", "qwen-b"]),
             assistant("a1", "u1", model="qwen-a", idx=0, t=qb.T0 + 5),
             assistant("a2", "u1", model="qwen-a", idx=0, t=qb.T0 + 7),
             assistant("b1", "u1", model="qwen-b", idx=1, t=qb.T0 + 6),
             assistant("b2", "u1", model="qwen-b", idx=1, t=qb.T0 + 8)]
    comps = {c.comparison_id: c for c in qb.comparisons(conversation("c", nodes, current="b1"))}
    assert set(comps) == {"sbs:c:u1", "regen:c:u1:m0", "regen:c:u1:m1"}
    assert comps["regen:c:u1:m0"].candidate_message_ids == ["a1", "a2"]
    assert comps["regen:c:u1:m0"].chosen_message_ids == []  # neither m0 answer is on the active branch
    assert comps["regen:c:u1:m1"].candidate_message_ids == ["b1", "b2"]
    assert comps["regen:c:u1:m1"].chosen_message_ids == ["b1"] and comps["regen:c:u1:m1"].rejected_message_ids == ["b2"]
    assert comps["sbs:c:u1"].candidate_message_ids == ["a2", "b1"]  # m0: the latest; m1: the active one


def test_multi_model_columns_without_model_idx_are_told_apart_by_model():
    nodes = [user("u1", children=["a1", "b1", "b2"], models=["qwen-a", "qwen-b"]),
             assistant("a1", "u1", model="qwen-a", idx=None, t=qb.T0 + 5),
             assistant("b1", "u1", model="qwen-b", idx=None, t=qb.T0 + 6),
             assistant("b2", "u1", model="qwen-b", idx=None, t=qb.T0 + 7)]
    comps = {c.comparison_id: c for c in qb.comparisons(conversation("c", nodes, current="b2"))}
    assert set(comps) == {"sbs:c:u1", "regen:c:u1"}
    assert comps["regen:c:u1"].candidate_message_ids == ["b1", "b2"]
    assert comps["sbs:c:u1"].metadata["columns"] == ["model=qwen-a", "model=qwen-b"]


def test_a_retry_whose_first_try_showed_nothing_is_no_regeneration():
    # the toolkit's rule: an alternative counts only when its branch ends in a visible answer
    nodes = [user("u1", children=["a1", "a2"]), assistant("a1", "u1", answer="", error={"code": "timeout"}),
             assistant("a2", "u1", t=qb.T0 + 9)]
    assert qb.comparisons(conversation("c", nodes, current="a2")) == []
    nodes[1] = assistant("a1", "u1", answer="partial", is_stop=True)
    (comp,) = qb.comparisons(conversation("c", nodes, current="a2"))
    assert comp.candidate_message_ids == ["a1", "a2"] and comp.chosen_message_ids == ["a2"]


def test_retry_later_in_the_conversation_and_created_at():
    nodes = [user("u1", children=["a1"]), assistant("a1", "u1", ["u2"]),
             user("u2", parent="a1", children=["a2", "a3"], t=qb.T0 + 20),
             assistant("a2", "u2", t=qb.T0 + 30), assistant("a3", "u2", t=qb.T0 + 25)]
    (comp,) = qb.comparisons(conversation("c", nodes, current="a3"))
    assert comp.comparison_id == "regen:c:u2" and comp.prompt_message_id == "u2"
    assert comp.candidate_message_ids == ["a2", "a3"] and comp.chosen_message_ids == ["a3"]
    assert comp.created_at == qb.T0 + 30  # the latest candidate


def test_feedback_record_when_present_metadata_otherwise():
    nodes = [user("u1", children=["a1", "a2", "a3"]),
             assistant("a1", "u1", feedbackId="fb-1", annotation={"rating": -1, "comment": "wrong", "tags": ["x"]}),
             assistant("a2", "u1", feedbackId="fb-2"),
             assistant("a3", "u1")]
    data = conversation("c", nodes, current="a1")
    fbs = {f.feedback_id: f for f in qb.feedback(data)}
    assert set(fbs) == {"fb-1", "fb-2"}
    assert (fbs["fb-1"].rating, fbs["fb-1"].text, fbs["fb-1"].tags) == ("thumbs_down", "wrong", ["x"])
    assert fbs["fb-1"].conversation_id == "c" and fbs["fb-1"].message_id == "a1"
    assert fbs["fb-2"].rating == "unknown"
    a3 = qb.by_id(qb.conversation_of(data))["a3"]
    assert a3.metadata["feedbackId"] is None and a3.metadata["annotation"] is None


@pytest.mark.parametrize("rating, expected", [
    (1, "thumbs_up"), (-1, "thumbs_down"), (0, "neutral"), ("1", "thumbs_up"), ("Thumbs-Down", "thumbs_down"),
    ("liked", "thumbs_up"), (True, "thumbs_up"), ("0", "neutral"), ("Meh", "meh"), (None, "unknown"),
])
def test_annotation_rating_spellings(rating, expected):
    nodes = [user("u1", children=["a1"]), assistant("a1", "u1", feedbackId="fb", annotation={"rating": rating})]
    (fb,) = qb.feedback(conversation("c", nodes))
    assert fb.rating == expected


def test_annotation_without_feedback_id_gets_a_derived_id():
    nodes = [user("u1", children=["a1"]), assistant("a1", "u1", annotation={"rating": 1})]
    (fb,) = qb.feedback(conversation("c", nodes))
    assert fb.feedback_id == "annotation:c:a1" and fb.rating == "thumbs_up"


# -- conversation fields -------------------------------------------------------------------------
@pytest.mark.parametrize("tags, expected", [
    ("#demo #batch", ["demo", "batch"]),
    (["a/b", "c"], ["a/b", "c"]),
    ([{"name": "x"}, {"id": "y"}, 3], ["x", "y"]),
    ("", []),
])
def test_tags_as_string_or_list(tags, expected):
    data = qb.simple_conversation()
    data["meta"] = {"tags": tags}
    assert qb.conversation_of(data).metadata["tags"] == expected


def test_string_flags_and_account_side_record():
    data = qb.simple_conversation()
    data["archived"], data["pinned"] = "False", "true"
    conv = qb.conversation_of(data)
    assert conv.metadata["archived"] is False and conv.metadata["pinned"] is True
    raw = RawRecord(kind="side", data={"user_id": "u-9"}, variant="account")
    (side,) = qb.manager().normalize("qwen", raw)
    assert isinstance(side, SideRecord) and side.personal and side.kind == "user" and side.record_id == "user:u-9"


def test_conversation_without_id_gets_a_stable_derived_id():
    data = qb.simple_conversation()
    del data["id"]
    first, second = qb.conversation_of(data), qb.conversation_of(data)
    assert first.conversation_id == second.conversation_id and first.conversation_id.startswith("sha256:")
    assert first.metadata["conversation_id_inferred"] is True


def test_broken_nodes_are_kept_as_hidden_placeholders():
    data = qb.simple_conversation()
    data["chat"]["history"]["messages"]["junk"] = "not a message"
    data["chat"]["history"]["messages"]["nothing"] = None
    conv = qb.conversation_of(data)
    assert conv.raw_message_count == len(conv.messages) == 4
    junk = qb.by_id(conv)["junk"]
    assert junk.hidden and junk.hidden_reason == "not_a_message_object" and junk.raw == "not a message"
    assert "message:str" in conv.unknown_shapes and "message:NoneType" in conv.unknown_shapes


def test_duplicate_ids_in_list_stay_unique():
    items = [{"id": "m", "role": "user", "content": "a"}, {"id": "m", "role": "assistant", "content": "b"}]
    conv = qb.conversation_of({"id": "c", "chat": {"messages": items}})
    ids = [m.message_id for m in conv.messages]
    assert len(set(ids)) == 2 and check_tree(conv.messages) == []


def test_non_object_conversation_is_a_normalize_error():
    raw = RawRecord(kind="conversation", data=["not", "a", "conversation"], index=3, variant="export_all")
    with pytest.raises(NormalizeError, match="#3"):
        qb.manager().normalize("qwen", raw)


def test_records_are_conversation_first():
    nodes = [user("u1", children=["a1", "a2"]), assistant("a1", "u1"), assistant("a2", "u1", feedbackId="f")]
    records = qb.normalize_one(conversation("c", nodes, current="a2"))
    assert isinstance(records[0], Conversation) and len(records) == 3
