"""Normalising conversations: fragments, roles, plumbing nodes, branches, comparisons, web-API variants."""

from __future__ import annotations

import json

import pytest

from moonshine_core import trees
from moonshine_core.errors import NormalizeError
from moonshine_core.records import RawRecord
from moonshine_core.timeutil import to_epoch
from moonshine_deepseek.normalize import normalize


def _one(run, path):
    conversations, comparisons, _, failures = run(path)
    assert failures == []
    assert len(conversations) == 1
    return conversations[0], comparisons


def _by_id(conversation):
    return {m.message_id: m for m in conversation.messages}


# -- official export ------------------------------------------------------------------------------

def test_sample_reasoner_search_conversation(run, build):
    conversations, comparisons, _, _ = run(build.samples / "deepseek_export")
    tides = conversations[0]
    msgs = _by_id(tides)
    assert tides.conversation_id == "0b5e7c1a-0000-4000-8000-000000000001"
    assert tides.created_at == to_epoch("2025-07-11T04:09:40.014Z")  # +08:00 offset honoured
    assert "root" not in msgs and tides.raw_message_count == len(tides.messages) == 7
    assert msgs["1"].role == "user" and msgs["1"].parent_id is None
    assert msgs["1"].model == "deepseek-reasoner"  # model is per node, user nodes included
    answer = msgs["2"]
    assert answer.role == "assistant"
    assert answer.text == "Because the Moon's pull makes two bulges of water, and the Earth turns under both each day."
    assert "[citation:1]" in answer.raw_text and answer.metadata["citations"] == [1, 2]
    assert answer.reasoning == "Two bulges: one facing the Moon, one opposite." and answer.reasoning_kind == "raw"
    (call,), (result,) = answer.tool_calls, answer.tool_results
    assert call.name == "web_search" and result.call_id == call.call_id == "2:web_search:0"
    assert "[1] Tides explained" in result.content and result.structured[1]["cite_index"] == 2
    assert answer.raw["message"]["fragments"][0]["type"] == "SEARCH"


def test_latest_leaf_is_the_inferred_active_branch(run, build):
    conversations, comparisons, _, _ = run(build.samples / "deepseek_export")
    tides = conversations[0]
    assert tides.active_branch_inferred is True
    assert tides.current_leaf_id == "7"  # the neap-tide edit is the newest leaf
    assert trees.path_to_root(tides.messages, "7") == ["1", "3", "6", "7"]
    regen = [c for c in comparisons if c.conversation_id == tides.conversation_id]
    assert len(regen) == 1
    (comparison,) = regen
    assert comparison.comparison_id == f"regen:{tides.conversation_id}:1"
    assert comparison.source == "regeneration" and comparison.prompt_message_id == "1"
    assert comparison.candidate_message_ids == ["2", "3"]
    assert comparison.chosen_message_ids == ["3"] and comparison.rejected_message_ids == ["2"]
    assert comparison.chosen_is_inferred is True


def test_edited_later_prompt_is_not_a_regeneration(run, build):
    conversations, comparisons, _, _ = run(build.samples / "deepseek_export")
    assert not any(c.prompt_message_id == "3" for c in comparisons)  # 3 is an answer with two user children


def test_plumbing_nodes_edits_of_first_prompt_files_tools_tips(run, build):
    conversations, _, _, _ = run(build.samples / "deepseek_export")
    conv = conversations[1]
    msgs = _by_id(conv)
    assert conv.title == "" and conv.raw_message_count == len(conv.messages) == 5
    assert conv.metadata["plumbing_nodes"] == 2  # root and the message:null node "8"
    assert msgs["1"].parent_id is None and msgs["3"].parent_id is None  # two edits of the first prompt
    assert msgs["9"].parent_id == "3"  # linked past the message:null node
    read = msgs["2"]
    assert [c.name for c in read.tool_calls] == ["read_link"]
    assert read.tool_calls[0].arguments == {"url": "https://example.com/post"}
    assert read.tool_results[0].content == "A post about sourdough starters."
    upload = msgs["3"]
    assert upload.role == "user" and upload.text == "Summarise my notes instead."
    assert [(a.name, a.size_bytes) for a in upload.attachments] == [("notes.pdf", 20480)]
    assert upload.metadata["context_incomplete"] is True
    agent = msgs["9"]
    assert agent.model == "deepseek-v4-expert"
    assert [c.name for c in agent.tool_calls] == ["tool_search", "tool_open"]
    assert agent.tool_calls[0].arguments == {"queries": ["sourdough hydration"]}
    assert [r.call_id for r in agent.tool_results] == ["9:tool_open:2"]
    assert agent.text == "Your notes cover hydration ratios and feeding times."  # TEMPLATE_RESPONSE, cleaned
    assert agent.metadata["tips_dropped"] == 1 and "Files are not shared" not in agent.text
    assert conv.unknown_shapes == ["fragment:MYSTERY_WIDGET"]
    tip = msgs["10"]
    assert (tip.hidden, tip.hidden_reason, tip.role, tip.model) == (True, "ui_tip", "system", None)


def _conv_file(tmp_path, build, conv):
    return build.write_json(tmp_path / "conversations.json", [conv])


def test_role_comes_from_fragments_not_position(tmp_path, build, run):
    conv = build.chain("c", [("a", [build.frag("SEARCH", "", results=[])]), ("a", [build.frag("RESPONSE", "x")]),
                             ("u", [build.frag("REQUEST", "q")]), ("?", [])])
    conversation, _ = _one(run, _conv_file(tmp_path, build, conv))
    roles = [(m.role, m.metadata.get("role_inferred", False)) for m in conversation.messages]
    assert roles == [("assistant", False), ("assistant", False), ("user", False), ("assistant", True)]


def test_search_only_node_keeps_its_query(tmp_path, build, run):
    conv = build.chain("c", [("u", [build.frag("REQUEST", "news?")]), ("a", [build.frag("SEARCH", "AI news 2025")]),
                             ("a", [build.frag("RESPONSE", "Here.")])])
    conversation, _ = _one(run, _conv_file(tmp_path, build, conv))
    search = conversation.messages[1]
    assert search.text == "" and search.tool_calls[0].arguments == {"query": "AI news 2025"}
    assert search.tool_results == []  # no results key: the call alone
    assert conversation.current_leaf_id == "3"


def test_intermediate_null_chain_and_null_model(tmp_path, build, run):
    mapping = {
        "root": build.node("root", None, ["n1"], None),
        "n1": build.node("n1", "root", ["n2"], None),
        "n2": build.node("n2", "n1", ["n3"], None),
        "n3": build.node("n3", "n2", ["n4"], build.message("2025-03-03T09:00:02Z", [build.frag("REQUEST", "Hello")],
                                                            model=None)),
        "n4": build.node("n4", "n3", [], build.message("2025-03-03T09:00:03+00:00", [build.frag("RESPONSE", "Hi")])),
    }
    conv = {"id": "c", "title": "t", "inserted_at": "2025-03-03T09:00:00Z", "updated_at": "2025-03-03T09:05:00Z",
            "mapping": mapping}
    conversation, _ = _one(run, _conv_file(tmp_path, build, conv))
    msgs = _by_id(conversation)
    assert msgs["n3"].parent_id is None and msgs["n4"].parent_id == "n3"
    assert msgs["n3"].model is None and msgs["n4"].model == "deepseek-chat"
    assert conversation.raw_message_count == 2 and conversation.metadata["plumbing_nodes"] == 3


def test_parent_recovered_from_children_when_missing(tmp_path, build, run):
    conv = build.chain("c", [("u", [build.frag("REQUEST", "q")]), ("a", [build.frag("RESPONSE", "a")])])
    del conv["mapping"]["2"]["parent"]
    conversation, _ = _one(run, _conv_file(tmp_path, build, conv))
    assert _by_id(conversation)["2"].parent_id == "1"


def test_dangling_parent_and_cycles_are_repaired(tmp_path, build, run):
    conv = build.chain("c", [("u", [build.frag("REQUEST", "q")]), ("a", [build.frag("RESPONSE", "a")]),
                             ("u", [build.frag("REQUEST", "q2")])])
    conv["mapping"]["2"]["parent"] = "ghost"
    conv["mapping"]["1"]["parent"] = "3"  # 1 -> 3 -> 2 -> ghost, and 3's parent is 2
    conversation, _ = _one(run, _conv_file(tmp_path, build, conv))
    assert trees.check_tree(conversation.messages) == []
    assert conversation.metadata["tree_repairs"]


def test_unknown_keys_and_types_are_reported_not_fatal(tmp_path, build, run):
    conv = build.chain("c", [("u", [build.frag("REQUEST", "q")]), ("a", [build.frag("RESPONSE", 42), "junk",
                                                                       {"content": "no type"}])])
    conv["extra_field"] = True
    conv["mapping"]["1"]["message"]["feedback"] = {"rating": 1}
    conv["mapping"]["2"]["weird"] = 1
    conversation, _ = _one(run, _conv_file(tmp_path, build, conv))
    assert set(conversation.unknown_shapes) == {"conversation_key:extra_field", "message_key:feedback",
                                                "node_key:weird", "fragment_content:RESPONSE:int",
                                                "fragment:<str>", "fragment:<no type>"}
    assert conversation.messages[1].text == ""


def test_regeneration_under_plumbing_and_chosen_by_latest_leaf(tmp_path, build, run):
    mapping = {
        "root": build.node("root", None, ["1"], None),
        "1": build.node("1", "root", ["x", "3"], build.message("2025-01-01T00:00:01Z", [build.frag("REQUEST", "q")])),
        "x": build.node("x", "1", ["2"], None),
        "2": build.node("2", "x", [], build.message("2025-01-01T00:00:09Z", [build.frag("RESPONSE", "late")])),
        "3": build.node("3", "1", [], build.message("2025-01-01T00:00:05Z", [build.frag("RESPONSE", "early")])),
    }
    conv = {"id": "c", "title": "t", "inserted_at": "x", "updated_at": None, "mapping": mapping}
    conversation, (comparison,) = _one(run, _conv_file(tmp_path, build, conv))
    assert conversation.created_at is None and conversation.updated_at is None
    assert conversation.current_leaf_id == "2"
    assert comparison.candidate_message_ids == ["2", "3"] and comparison.chosen_message_ids == ["2"]


def test_ids_are_stable_and_unique(tmp_path, build, run):
    path = build.samples / "deepseek_export"
    first, second = run(path), run(path)
    ids = lambda result: [(c.conversation_id, [m.message_id for m in c.messages]) for c in result[0]]
    assert ids(first) == ids(second)
    for conversation in first[0]:
        assert len({m.message_id for m in conversation.messages}) == len(conversation.messages)


@pytest.mark.parametrize("data,reason", [
    ([], "not an object"), ({"title": "x", "mapping": {}}, "no id"),
    ({"id": "c", "mapping": []}, "mapping is a list"), ({"id": "c"}, "mapping is missing"),
])
def test_bad_conversations_raise_normalize_error(data, reason):
    with pytest.raises(NormalizeError, match=reason):
        normalize(RawRecord(kind="conversation", data=data, context={"shape": "export"}))


# -- regenerations (the toolkit's one rule: moonshine_core.provider.regeneration_comparisons) ------

def _tree(build, nodes):
    """An official-export conversation from (id, parent, seconds, fragments) rows under a synthetic root."""
    children = {}
    for node_id, parent, _, _ in nodes:
        children.setdefault(parent or "root", []).append(node_id)
    mapping = {"root": build.node("root", None, children.get("root", []), None)}
    for node_id, parent, second, fragments in nodes:
        message = None if fragments is None else build.message(f"2025-01-01T00:00:{second:02d}Z", fragments)
        mapping[node_id] = build.node(node_id, parent or "root", children.get(node_id, []), message)
    return {"id": "c", "title": "t", "inserted_at": "2025-01-01T00:00:00Z", "updated_at": None,
            "mapping": mapping}


def _regenerations(tmp_path, build, run, nodes):
    conversation, comparisons = _one(run, _conv_file(tmp_path, build, _tree(build, nodes)))
    return conversation, comparisons


def test_retry_after_a_search_step_compares_the_final_answers(tmp_path, build, run):
    """A retry whose first try searched in a node of its own: the answer, not the search node, is the candidate."""
    _, (comparison,) = _regenerations(tmp_path, build, run, [
        ("1", None, 1, [build.frag("REQUEST", "q")]),
        ("s", "1", 2, [build.frag("SEARCH", "", results=[])]),
        ("2", "s", 3, [build.frag("RESPONSE", "first try")]),
        ("3", "1", 4, [build.frag("RESPONSE", "retry")]),
    ])
    assert comparison.prompt_message_id == "1"
    assert comparison.candidate_message_ids == ["2", "3"]
    assert comparison.chosen_message_ids == ["3"] and comparison.rejected_message_ids == ["2"]
    assert comparison.created_at == to_epoch("2025-01-01T00:00:04Z")


def test_retry_that_produced_nothing_visible_is_not_a_regeneration(tmp_path, build, run):
    _, comparisons = _regenerations(tmp_path, build, run, [
        ("1", None, 1, [build.frag("REQUEST", "q")]),
        ("2", "1", 2, [build.frag("RESPONSE", "")]),  # an empty (interrupted) answer
        ("3", "1", 3, [build.frag("RESPONSE", "the answer")]),
    ])
    assert comparisons == []


def test_ui_tip_node_is_looked_through(tmp_path, build, run):
    """A hidden TIP node between the prompt and an answer is plumbing of that alternative."""
    conversation, (comparison,) = _regenerations(tmp_path, build, run, [
        ("1", None, 1, [build.frag("REQUEST", "q")]),
        ("t", "1", 2, [build.frag("TIP", "Files are not shared")]),
        ("2", "t", 3, [build.frag("RESPONSE", "first")]),
        ("3", "1", 4, [build.frag("RESPONSE", "second")]),
        ("4", "2", 5, [build.frag("REQUEST", "go on")]),
    ])
    assert _by_id(conversation)["t"].hidden is True
    assert conversation.current_leaf_id == "4"
    assert comparison.candidate_message_ids == ["2", "3"]
    assert comparison.chosen_message_ids == ["2"] and comparison.rejected_message_ids == ["3"]


def test_edits_are_branches_and_a_single_answer_is_no_fork(tmp_path, build, run):
    _, comparisons = _regenerations(tmp_path, build, run, [
        ("1", None, 1, [build.frag("REQUEST", "q")]),
        ("2", "1", 2, [build.frag("RESPONSE", "a")]),
        ("3", "2", 3, [build.frag("REQUEST", "follow-up")]),
        ("4", "2", 4, [build.frag("REQUEST", "edited follow-up")]),
        ("5", "4", 5, [build.frag("RESPONSE", "b")]),
    ])
    assert comparisons == []


# -- web API ------------------------------------------------------------------------------------

def test_web_api_flat_pointer_roots_thinking_and_search(run, build):
    conversation, (comparison,) = _one(run, build.samples / "deepseek_web_api_flat.json")
    msgs = _by_id(conversation)
    assert conversation.format_variant == "web-api-flat"
    assert conversation.current_leaf_id == "6" and conversation.active_branch_inferred is False
    assert [m.message_id for m in conversation.messages if m.parent_id is None] == ["1", "4"]
    assert conversation.created_at == pytest.approx(1747846700.847058)
    assert msgs["1"].role == "user" and msgs["2"].role == "assistant"
    assert msgs["2"].reasoning == "Room temperature proofing is typical." and msgs["2"].reasoning_kind == "raw"
    assert msgs["2"].text == "Usually 1-2 hours at room temperature." and msgs["2"].raw_text.endswith("[citation:1].")
    assert msgs["2"].tool_calls[0].name == "web_search"
    assert msgs["2"].tool_results[0].status == "FINISHED" and "Bread basics" in msgs["2"].tool_results[0].content
    assert msgs["2"].usage == {"accumulated_token_usage": 42} and msgs["2"].status == "FINISHED"
    assert msgs["2"].model is None  # the API reports "" for the model
    assert comparison.candidate_message_ids == ["2", "3"]
    # The user left this tree for a new first prompt: no choice to infer, so nothing is rejected either.
    assert comparison.chosen_message_ids == [] and comparison.rejected_message_ids == []
    assert conversation.raw_message_count == 6


def test_web_api_fragments_sibling_thinking_differs(run, build):
    conversation, (comparison,) = _one(run, build.samples / "deepseek_web_api_fragments.json")
    msgs = _by_id(conversation)
    assert conversation.format_variant == "web-api-fragments" and conversation.current_leaf_id == "4"
    assert msgs["3"].reasoning == "Check divisors up to 9." and msgs["3"].metadata["thinking_elapsed_secs"] == 2.5
    assert msgs["4"].reasoning is None
    assert comparison.chosen_message_ids == ["4"] and comparison.rejected_message_ids == ["3"]


def test_web_api_bad_pointer_falls_back_to_inferred(tmp_path, build, run):
    data = json.loads((build.samples / "deepseek_web_api_fragments.json").read_text())
    data["data"]["biz_data"]["chat_session"]["current_message_id"] = 999
    data["data"]["biz_data"]["chat_messages"][1]["feedback"] = {"label": "up"}
    data["data"]["biz_data"]["chat_messages"].append("junk")
    conversation, _ = _one(run, build.write_json(tmp_path / "a.json", data))
    assert conversation.active_branch_inferred is True and conversation.current_leaf_id == "4"
    assert "message_feedback" in conversation.unknown_shapes and "chat_message:str" in conversation.unknown_shapes
    assert conversation.raw_message_count == len(conversation.messages) == 4


@pytest.mark.parametrize("data,reason", [
    ("x", "not an object"), ({"data": {}}, "neither"), ({"chat_session": None, "chat_messages": []}, "chat_session"),
    ({"chat_session": {"title": "x"}, "chat_messages": []}, "no id"),
    ({"chat_session": {"id": "s"}, "chat_messages": {}}, "not a list"),
])
def test_bad_api_chats_raise_normalize_error(data, reason):
    with pytest.raises(NormalizeError, match=reason):
        normalize(RawRecord(kind="conversation", data=data, context={"shape": "api"}))


def test_unknown_raw_kind():
    with pytest.raises(NormalizeError):
        normalize(RawRecord(kind="feedback", data={}))
